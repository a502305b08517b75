#!/usr/bin/env python3
"""Keep a part of a mutation run in the repository, so that a run of many hours
can be continued from a fresh clone.

  mutants_keep.py DIR DEST [--note TEXT]

DIR is a mutants.out (whole, or cut short: cargo-mutants writes its lists
and outcomes.json as it goes). DEST gets what scripts/mutants_summary.py,
scripts/mutants_rebase.py and `scripts/mutants.sh --after` read: the lists
(caught.txt, missed.txt, timeout.txt, unviable.txt, unexecuted.txt) and
outcomes.json cut to each mutant's name, file, function, span and outcome
(no logs, no timings), and KEPT.md: the commit the part ran at (HEAD when
this runs, unless the note says otherwise), the counts, and the note.
A mutant whose outcome is not in outcomes.json yet (the run was stopped while
it was tested) is in none of the lists either: it is tested again. Nor is a
mutant whose build, not its test, ran out of time (`--build-timeout`): that
says the machine was slow, not that the mutant hung, so cargo-mutants'
"caught by the timeout" would be a false catch; it is tested again too.
"""

import collections
import json
import os
import subprocess
import sys

LISTS = ("caught.txt", "missed.txt", "timeout.txt", "unviable.txt", "unexecuted.txt")


def main():
    args = [a for a in sys.argv[1:]]
    note = ""
    if "--note" in args:
        i = args.index("--note")
        note = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    src, dst = args
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "outcomes.json")) as f:
        outcomes = json.load(f)
    kept = []
    counts = collections.Counter()
    for o in outcomes["outcomes"]:
        m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
        if m is None:
            continue
        phases = o.get("phase_results") or []
        if o["summary"] == "Timeout" and phases and phases[-1].get("phase") == "Build":
            counts["build timed out (tested again)"] += 1
            continue
        fn = (m.get("function") or {}).get("function_name")
        kept.append(
            {
                "scenario": {
                    "Mutant": {
                        "name": m["name"],
                        "file": m["file"],
                        "function": {"function_name": fn} if fn else None,
                        "span": m["span"],
                    }
                },
                "summary": o["summary"],
            }
        )
        counts[o["summary"]] += 1
    done = {o["scenario"]["Mutant"]["name"] for o in kept}
    with open(os.path.join(dst, "outcomes.json"), "w") as f:
        json.dump({"outcomes": kept}, f, indent=0, sort_keys=True)
        f.write("\n")
    for name in LISTS:
        path = os.path.join(src, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            names = [l.strip() for l in f if l.strip()]
        if name != "unexecuted.txt":
            # Only what has an outcome: a list line written as the run stopped is dropped.
            names = [n for n in names if n in done]
        with open(os.path.join(dst, name), "w") as f:
            f.writelines(n + "\n" for n in names)
        counts[name] = len(names)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(dst, "KEPT.md"), "w") as f:
        f.write(f"A part of a run of scripts/mutants.sh, kept by scripts/mutants_keep.py at `{commit}`.\n\n")
        if note:
            f.write(note.rstrip() + "\n\n")
        f.write(f"{len(kept)} mutants with an outcome: " + ", ".join(
            f"{k} {v}" for k, v in sorted(counts.items()) if not k.endswith(".txt") and not k.startswith("build")) + ".\n")
        if counts["build timed out (tested again)"]:
            f.write(f"{counts['build timed out (tested again)']} whose build ran out of time, left out (tested again by a later part).\n")
        if counts["unexecuted.txt"]:
            f.write(f"{counts['unexecuted.txt']} never executed by the suite (unexecuted.txt).\n")
    print(f"{src} -> {dst}: {len(kept)} outcomes, {counts['unexecuted.txt']} never executed")


if __name__ == "__main__":
    main()
