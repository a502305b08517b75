#!/usr/bin/env python3
"""The results of scripts/mutants.sh, as Markdown.

  mutants_summary.py [MUTANTS_OUT] [--survivors]

Reads MUTANTS_OUT/outcomes.json (cargo-mutants) and MUTANTS_OUT/unexecuted.txt
(the mutants whose code the suite never executes, recorded as missed without
being built) and prints the counts per file and the score, caught (a test
failed or the mutant hung) over viable (every mutant but the unviable ones;
the unexecuted ones count as viable and missed). With --survivors, also every
survivor, grouped by file and function.
"""

import collections
import json
import os
import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else "mutants.out"
    survivors = "--survivors" in sys.argv
    with open(os.path.join(out, "outcomes.json")) as f:
        outcomes = json.load(f)["outcomes"]
    unexecuted = []
    path = os.path.join(out, "unexecuted.txt")
    if os.path.exists(path):
        with open(path) as f:
            unexecuted = [l.strip() for l in f if l.strip()]

    kinds = {
        "CaughtMutant": "caught",
        "Timeout": "timeout",
        "MissedMutant": "missed",
        "Unviable": "unviable",
    }
    per_file = collections.defaultdict(collections.Counter)
    missed = collections.defaultdict(list)
    for o in outcomes:
        m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
        if m is None:
            continue
        kind = kinds.get(o["summary"], o["summary"])
        per_file[m["file"]][kind] += 1
        if kind == "missed":
            fn = (m.get("function") or {}).get("function_name", "(outside a function)")
            missed[m["file"]].append((fn, m["name"], "executed"))
    for name in unexecuted:
        file = name.split(":", 1)[0]
        per_file[file]["unexecuted"] += 1
        missed[file].append(("", name, "not executed"))

    cols = ["caught", "timeout", "missed", "unexecuted", "unviable"]
    total = collections.Counter()
    print("| file | caught | caught by the timeout | missed (executed) | missed (never executed) | unviable | score |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for file in sorted(per_file):
        c = per_file[file]
        total.update(c)
        print(f"| `{file}` | " + " | ".join(str(c[k]) for k in cols) + f" | {score(c)} |")
    print("| **all** | " + " | ".join(f"**{total[k]}**" for k in cols) + f" | **{score(total)}** |")
    print()
    viable = sum(total[k] for k in cols if k != "unviable")
    print(f"{sum(total.values())} mutants; {viable} viable; caught {total['caught'] + total['timeout']} ({score(total)})")

    if survivors:
        print()
        for file in sorted(missed):
            print(f"### `{file}`")
            print()
            for fn, name, how in sorted(missed[file], key=lambda x: x[1]):
                print(f"- `{name.split(': ', 1)[1] if ': ' in name else name}` ({name.split(': ', 1)[0]}; {how})")
            print()


def score(c):
    viable = c["caught"] + c["timeout"] + c["missed"] + c["unexecuted"]
    if viable == 0:
        return "-"
    return f"{100 * (c['caught'] + c['timeout']) / viable:.0f} %"


if __name__ == "__main__":
    main()
