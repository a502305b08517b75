#!/usr/bin/env python3
"""Which mutants the suite cannot catch because it never executes their code.

Reads the mutants (`cargo mutants --list --json`) and the suite's coverage
(`llvm-cov export` JSON of the instrumented test binaries), and writes the
names of the mutants whose first position lies in a region the suite never
executed: no test of the suite can observe such a mutant, so it is missed
without being built (mutation testing then builds only the others).

  mutants_coverage.py MUTANTS_JSON COVERAGE_JSON OUT_TXT
  mutants_coverage.py --self-test     # the rule below on a made-up export

Regions are read from the export's segments: a segment (line, col, count,
has_count, is_region_entry, is_gap) sets the count from its position to the
next segment's. Only a count of 0 makes a mutant "not executed". A position
after a segment with no count (between two regions: an operator between two
conditions, say) or before the first one takes the count of the functions
whose regions enclose it: 0 if each such function was never entered, unknown
otherwise (the mutant is run), and unknown if no function encloses it (a
constant's expression). A file that no test binary contains had no code
generated in the suite at all, so its mutants are not executed.
"""

import bisect
import json
import sys


UNKNOWN = float("inf")


def segments_by_file(coverage):
    """path -> lists (one per binary) of (segments, functions): sorted (line,
    col, count) segments, count UNKNOWN where a segment has none (a region
    ends there); and each function's ((line, col) first, (line, col) last,
    times entered) over its regions in that file."""
    files = {}
    for data in coverage["data"]:
        funcs = {}
        for fn in data.get("functions", []):
            spans = {}
            for r in fn["regions"]:
                name = fn["filenames"][r[5]]
                lo, hi = spans.get(name, ((r[0], r[1]), (r[2], r[3])))
                spans[name] = (min(lo, (r[0], r[1])), max(hi, (r[2], r[3])))
            for name, (lo, hi) in spans.items():
                funcs.setdefault(name, []).append((lo, hi, fn["count"]))
        for f in data["files"]:
            segs = [(s[0], s[1], s[2] if s[3] else UNKNOWN) for s in f["segments"] if not s[5]]
            if not segs:
                continue
            # The same file may come from several binaries: a position is
            # executed if any binary executed it.
            files.setdefault(f["filename"], []).append((sorted(segs), funcs.get(f["filename"], [])))
    return files


def count_at(seg_lists, line, col):
    """The most times any binary executed the position (UNKNOWN if unsure)."""
    best = 0
    for segs, funcs in seg_lists:
        i = bisect.bisect_right(segs, (line, col, UNKNOWN)) - 1
        count = segs[i][2] if i >= 0 else UNKNOWN
        if count == UNKNOWN:
            entered = [c for lo, hi, c in funcs if lo <= (line, col) <= hi]
            if entered and not any(entered):
                count = 0
        best = max(best, count)
    return best


def executed(files, mutant):
    """Whether the coverage (segments_by_file's) may have executed the
    mutant's first position: not if its file is in no binary, or its count
    there is 0."""
    seg_lists = next((v for k, v in files.items() if k.endswith("/" + mutant["file"])), None)
    start = mutant["span"]["start"]
    return seg_lists is not None and count_at(seg_lists, start["line"], start["column"]) != 0


def self_test():
    """The rule on a made-up export: one file, a function entered twice
    (lines 1-3) and one never entered (lines 5-7), each with a gap between
    two regions, and a constant on line 9 outside every function."""
    seg = lambda line, col, count, has_count=True: [line, col, count, has_count, True, False]
    coverage = {
        "data": [
            {
                "files": [
                    {
                        "filename": "/src/a.rs",
                        "segments": [
                            seg(1, 1, 2), seg(2, 10, 0, False), seg(2, 20, 2), seg(3, 2, 0, False),
                            seg(5, 1, 0), seg(6, 10, 0, False), seg(6, 20, 0), seg(7, 2, 0, False),
                        ],
                    }
                ],
                "functions": [
                    {"count": 2, "filenames": ["/src/a.rs"], "regions": [[1, 1, 2, 10, 2, 0, 0, 0], [2, 20, 3, 2, 2, 0, 0, 0]]},
                    {"count": 0, "filenames": ["/src/a.rs"], "regions": [[5, 1, 6, 10, 0, 0, 0, 0], [6, 20, 7, 2, 0, 0, 0, 0]]},
                ],
            }
        ]
    }
    files = segments_by_file(coverage)
    at = lambda path, line, col: {"file": path, "span": {"start": {"line": line, "column": col}}}
    cases = [
        (at("src/a.rs", 1, 5), True, "a region entered twice"),
        (at("src/a.rs", 2, 15), True, "a gap in an entered function: unknown, so run"),
        (at("src/a.rs", 5, 5), False, "a region never entered"),
        (at("src/a.rs", 6, 15), False, "a gap in a function never entered"),
        (at("src/a.rs", 9, 5), True, "a constant, in no function: unknown, so run"),
        (at("src/b.rs", 1, 1), False, "a file in no binary"),
    ]
    bad = [why for m, want, why in cases if executed(files, m) != want]
    for why in bad:
        print(f"mutants_coverage.py: wrong for {why}", file=sys.stderr)
    print(f"mutants_coverage.py: {len(cases) - len(bad)} of {len(cases)} cases right")
    sys.exit(1 if bad else 0)


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    mutants_json, coverage_json, out_txt = sys.argv[1:4]
    with open(mutants_json) as f:
        mutants = json.load(f)
    with open(coverage_json) as f:
        files = segments_by_file(json.load(f))
    unexecuted = [m["name"] for m in mutants if not executed(files, m)]
    with open(out_txt, "w") as f:
        for name in unexecuted:
            f.write(name + "\n")
    print(f"{len(unexecuted)} of {len(mutants)} mutants are in code the suite never executes")


if __name__ == "__main__":
    main()
