#!/usr/bin/env python3
"""Which mutants the suite cannot catch because it never executes their code.

Reads the mutants (`cargo mutants --list --json`) and the suite's coverage
(`llvm-cov export` JSON of the instrumented test binaries), and writes the
names of the mutants whose first position lies in a region the suite never
executed: no test of the suite can observe such a mutant, so it is missed
without being built (mutation testing then builds only the others).

  mutants_coverage.py MUTANTS_JSON COVERAGE_JSON OUT_TXT

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


def main():
    mutants_json, coverage_json, out_txt = sys.argv[1:4]
    with open(mutants_json) as f:
        mutants = json.load(f)
    with open(coverage_json) as f:
        files = segments_by_file(json.load(f))
    unexecuted = []
    for m in mutants:
        path = m["file"]
        seg_lists = next((v for k, v in files.items() if k.endswith("/" + path)), None)
        start = m["span"]["start"]
        if seg_lists is None or count_at(seg_lists, start["line"], start["column"]) == 0:
            unexecuted.append(m["name"])
    with open(out_txt, "w") as f:
        for name in unexecuted:
            f.write(name + "\n")
    print(f"{len(unexecuted)} of {len(mutants)} mutants are in code the suite never executes")


if __name__ == "__main__":
    main()
