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
next segment's. Only a count of 0 makes a mutant "not executed": a position
after a segment with no count (outside every region) or before the first
one is unknown and the mutant is run. A file that no test binary contains
had no code generated in the suite at all, so its mutants are not executed.
"""

import bisect
import json
import sys


UNKNOWN = float("inf")


def segments_by_file(coverage):
    """path -> lists (one per binary) of sorted (line, col, count) segments;
    count is UNKNOWN where a segment has none (a region ends there)."""
    files = {}
    for data in coverage["data"]:
        for f in data["files"]:
            segs = [(s[0], s[1], s[2] if s[3] else UNKNOWN) for s in f["segments"] if not s[5]]
            if not segs:
                continue
            # The same file may come from several binaries: a position is
            # executed if any binary executed it.
            files.setdefault(f["filename"], []).append(sorted(segs))
    return files


def count_at(seg_lists, line, col):
    """The most times any binary executed the position (UNKNOWN if unsure)."""
    best = 0
    for segs in seg_lists:
        i = bisect.bisect_right(segs, (line, col, UNKNOWN)) - 1
        best = max(best, segs[i][2] if i >= 0 else UNKNOWN)
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
