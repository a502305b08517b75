#!/usr/bin/env python3
"""The results of scripts/mutants.sh, as Markdown.

  mutants_summary.py [MUTANTS_OUT...] [--own MUTANTS_OUT...] [--all=MUTANTS_JSON] [--survivors]

Reads each MUTANTS_OUT/outcomes.json (cargo-mutants) and
MUTANTS_OUT/unexecuted.txt (the mutants whose code the suite never executes,
recorded as missed without being built) and prints the counts per file and
the score, caught (a test failed or the mutant hung) over viable (every
mutant but the unviable ones; the unexecuted ones count as viable and
missed). Several directories are the parts of one run that was continued
(scripts/mutants.sh --after): a mutant tested in a later one counts as that.
With --all (the `--list --json` of every mutant, which scripts/mutants.sh
keeps in target/mutants-coverage/SUITE/mutants.json), the mutants no part
tested (a shard left out) are counted as "not run", apart from the score,
and a part's results for mutants the list does not have (a file excluded
since) are left out.
With --own, the directories after it are parts of the second pass (SUITE=own,
the runtime's and the TLS crate's own tests, over the first pass's
survivors): the table then says which pass caught each mutant, and a
survivor the second pass never executes is missed by both.
With --survivors, also every survivor, grouped by file and function.
"""

import collections
import json
import os
import re
import sys


def main():
    args = sys.argv[1:]
    split = args.index("--own") if "--own" in args else len(args)
    first = [a for a in args[:split] if not a.startswith("--")]
    second = [a for a in args[split + 1 :] if not a.startswith("--")]
    dirs = first + second or ["mutants.out"]
    own = set(second)
    survivors = "--survivors" in sys.argv
    every = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--all=")), None)
    by_name = {}
    unexecuted = []
    for out in dirs:
        with open(os.path.join(out, "outcomes.json")) as f:
            for o in json.load(f)["outcomes"]:
                m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
                if m is not None:
                    if out in own and o["summary"] in ("CaughtMutant", "Timeout"):
                        o = dict(o, summary="Own" + o["summary"])
                    before = by_name.get(m["name"], {}).get("summary")
                    if out in own and o["summary"] == "MissedMutant" and before in ("MissedMutant", "CaughtMutant", "Timeout"):
                        # Executed and missed by both: keep the first pass's. Caught by
                        # the first pass, and tested by a second-pass group all the same
                        # (its name filter matched it too): the conformance suite's catch
                        # stands.
                        continue
                    by_name[m["name"]] = o
        path = os.path.join(out, "unexecuted.txt")
        if os.path.exists(path):
            with open(path) as f:
                unexecuted += [l.strip() for l in f if l.strip() and l.strip() not in unexecuted]
    # A mutant a part tested after all (cargo-mutants' name filters miss
    # some, e.g. its "delete field" mutants) counts as tested, once.
    unexecuted = [n for n in unexecuted if n not in by_name]
    not_run = collections.Counter()
    if every:
        with open(every) as f:
            listed = json.load(f)
        names = {m["name"] for m in listed}
        # A part run before a file left the mutated set (scripts/mutants.sh's
        # excludes) has results for mutants the set no longer has.
        gone = [n for n in by_name if n not in names] + [n for n in unexecuted if n not in names]
        if gone:
            print(f"({len(gone)} results for mutants no longer in the set left out)\n")
        by_name = {n: o for n, o in by_name.items() if n in names}
        unexecuted = [n for n in unexecuted if n in names]
        for m in listed:
            if m["name"] not in by_name and m["name"] not in unexecuted:
                not_run[m["file"]] += 1
    outcomes = list(by_name.values())

    kinds = {
        "CaughtMutant": "caught",
        "Timeout": "timeout",
        "OwnCaughtMutant": "own",
        "OwnTimeout": "own timeout",
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

    for file, n in not_run.items():
        per_file[file]["not run"] += n
    cols = ["caught", "timeout"] + (["own", "own timeout"] if own else []) + ["missed", "unexecuted", "unviable"]
    cols += ["not run"] if every else []
    total = collections.Counter()
    if own:
        head = ("| file | caught by the conformance suite | by its timeout | caught by the runtime's own tests"
                " | by their timeout | missed (executed) | missed (never executed) | unviable |")
    else:
        head = "| file | caught | caught by the timeout | missed (executed) | missed (never executed) | unviable |"
    print(head + (" not run |" if every else "") + " score |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for file in sorted(per_file):
        c = per_file[file]
        total.update(c)
        print(f"| `{file}` | " + " | ".join(str(c[k]) for k in cols) + f" | {score(c)} |")
    print("| **all** | " + " | ".join(f"**{total[k]}**" for k in cols) + f" | **{score(total)}** |")
    print()
    viable = sum(total[k] for k in cols if k not in ("unviable", "not run"))
    tested = sum(total.values()) - total["not run"]
    caught = sum(total[k] for k in ("caught", "timeout", "own", "own timeout"))
    line = f"{tested} mutants; {viable} viable; caught {caught} ({score(total)})"
    if own:
        line += f", {total['own'] + total['own timeout']} of them by the second pass"
    if every:
        line += f"; {total['not run']} not run"
    equivalent = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mutants_equivalent.txt")
    if os.path.exists(equivalent):
        with open(equivalent) as f:
            # A line stands for N mutants when its reason starts with `xN: `.
            n = sum(int(m.group(1) or 1) for m in (re.search(r"  # (?:x(\d+): )?", l) for l in f if l.startswith("^")) if m)
        line += f"; {n} equivalent mutants left out of the set (scripts/mutants_equivalent.txt)"
    print(line)

    if survivors:
        print()
        for file in sorted(missed):
            print(f"### `{file}`")
            print()
            for fn, name, how in sorted(missed[file], key=lambda x: x[1]):
                print(f"- `{name.split(': ', 1)[1] if ': ' in name else name}` ({name.split(': ', 1)[0]}; {how})")
            print()


def score(c):
    caught = c["caught"] + c["timeout"] + c["own"] + c["own timeout"]
    viable = caught + c["missed"] + c["unexecuted"]
    if viable == 0:
        return "-"
    return f"{100 * caught / viable:.0f} %"


if __name__ == "__main__":
    main()
