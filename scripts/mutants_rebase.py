#!/usr/bin/env python3
"""Carry a mutation run's results over to a later commit.

  mutants_rebase.py COMMIT DIR OUT

DIR is a mutants.out (or a part of a continued run) made at COMMIT. The
code has moved since: a mutant's name holds its file, line and column, so a
continuation at the working tree (scripts/mutants.sh --after) would retest
every mutant below an edit, and the summary would count them twice. This
writes OUT, a copy of DIR's results (outcomes.json, the *.txt lists) with
each name and span moved to the working tree's lines, by the diff of each
file between COMMIT and the working tree. A mutant on a line the diff
changed or removed is dropped (the code it mutated is not there any more),
and so is one whose name no longer matches any mutant of the working tree:
both are then tested again, as they should be. It prints what it kept and
what it dropped.
"""

import difflib
import json
import os
import re
import subprocess
import sys

NAME = re.compile(r"^([^:]+):(\d+):(\d+): (.*)$")


def line_map(commit, path):
    """Old line number -> new line number, for the lines the diff keeps."""
    try:
        old = subprocess.run(
            ["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except subprocess.CalledProcessError:
        return {}
    with open(path) as f:
        new = f.read().splitlines()
    out = {}
    for a, b, n in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
        for i in range(n):
            out[a + i + 1] = b + i + 1
    return out


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    commit, src, dst = sys.argv[1:]
    maps = {}
    current = set()
    listed = subprocess.run(
        ["bash", "scripts/mutants.sh", "--list", "--json"], capture_output=True, text=True, check=True
    ).stdout
    for m in json.loads(listed):
        current.add(m["name"])

    def rebase(name):
        m = NAME.match(name)
        if not m:
            return name
        path, line, col, what = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if path not in maps:
            maps[path] = line_map(commit, path)
        new = maps[path].get(line)
        if new is None:
            return None
        moved = f"{path}:{new}:{col}: {what}"
        return moved if moved in current else None

    os.makedirs(dst, exist_ok=True)
    kept = dropped = 0
    for txt in ("caught.txt", "missed.txt", "timeout.txt", "unviable.txt", "unexecuted.txt"):
        path = os.path.join(src, txt)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            names = [l.strip() for l in f if l.strip()]
        out = []
        for name in names:
            moved = rebase(name)
            if moved is None:
                dropped += 1
                print(f"dropped ({txt}): {name}")
            else:
                kept += 1
                out.append(moved)
        with open(os.path.join(dst, txt), "w") as f:
            f.writelines(n + "\n" for n in out)

    with open(os.path.join(src, "outcomes.json")) as f:
        outcomes = json.load(f)
    keep = []
    for o in outcomes["outcomes"]:
        m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
        if m is None:
            keep.append(o)
            continue
        moved = rebase(m["name"])
        if moved is None:
            continue
        delta = int(NAME.match(moved).group(2)) - int(NAME.match(m["name"]).group(2))
        m["name"] = moved
        for end in ("start", "end"):
            m["span"][end]["line"] += delta
        keep.append(o)
    outcomes["outcomes"] = keep
    with open(os.path.join(dst, "outcomes.json"), "w") as f:
        json.dump(outcomes, f)
    print(f"{src} -> {dst}: {kept} names kept, {dropped} dropped (to be tested again)")


if __name__ == "__main__":
    main()
