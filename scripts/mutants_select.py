#!/usr/bin/env python3
"""Which test binaries can catch each mutant of the second pass, and the runs
that test each mutant against those binaries only.

  mutants_select.py groups COV_DIR LLVM_BIN MUTANTS_JSON NAMES_TXT OUT_DIR
  mutants_select.py merge OUT PART...
  mutants_select.py --self-test     # merge's filter and the binaries' cargo arguments

`groups`: COV_DIR holds the second pass's coverage pre-pass, one directory of
profiles per test binary (COV_DIR/by-binary/BASENAME/, written by
scripts/mutants_runner.sh: a binary's profiles with those of the processes
it started, the proxy binary among them) and COV_DIR/artifacts.jsonl (each
executable cargo built for the suite: path, target name and kind, and
whether it is a test harness). For each binary, its coverage is exported
with the proxy binary's and a mutant of NAMES_TXT is executed by it if its
first position was (scripts/mutants_coverage.py's rule). A binary that never
executes a mutant's code cannot fail because of it, so each mutant needs only
the binaries that execute it: the mutants that need the same binaries make
a group (a few dozen groups: most mutants need one to four binaries, the
event loop's nearly all), the groups that need fewest first. OUT_DIR/N.args
gets a group's cargo arguments
(`--lib`, `--bins`, `--test=NAME`, one a line: they select what is built
and run), OUT_DIR/N.names its mutants. A mutant no binary executes is left
out (the whole suite's pre-pass already records it as never executed).

`merge`: the mutants.out directories PART... (one per group) into OUT: the
lists concatenated, outcomes.json's outcomes joined. A PART given as
DIR=NAMES_TXT keeps only the mutants NAMES_TXT lists: cargo-mutants 27.1.0
makes its "delete field" mutants of a struct expression with `..base`
whatever `--re` says, so a group's run tests those of its files too, with
binaries chosen for other mutants; their results are left to their own group.
"""

import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutants_coverage import executed, segments_by_file  # noqa: E402

LISTS = ("caught.txt", "missed.txt", "timeout.txt", "unviable.txt")


def selector(artifact):
    """The cargo argument that builds and runs this test binary, or None."""
    kind = artifact["kind"]
    if not artifact["test"]:
        return None
    if "lib" in kind or "rlib" in kind:
        return "--lib"
    if "bin" in kind:
        return "--bins"
    if "test" in kind:
        return "--test=" + artifact["name"]
    return None


def groups(cov_dir, llvm, mutants_json, names_txt, out_dir):
    artifacts = [json.loads(line) for line in open(os.path.join(cov_dir, "artifacts.jsonl")) if line.strip()]
    by_base = {os.path.basename(a["executable"]): a for a in artifacts}
    # The processes a test starts: the proxy binary, whose profiles land in
    # the directory of the test binary that started it.
    started = [a["executable"] for a in artifacts if not a["test"] and "bin" in a["kind"]]
    wanted = set(n for n in open(names_txt).read().split("\n") if n)
    mutants = [m for m in json.load(open(mutants_json)) if m["name"] in wanted]
    needs = {m["name"]: set() for m in mutants}
    for d in sorted(glob.glob(os.path.join(cov_dir, "by-binary", "*"))):
        base = os.path.basename(d)
        a = by_base.get(base)
        sel = a and selector(a)
        raws = glob.glob(os.path.join(d, "*.profraw"))
        if not sel or not raws:
            continue
        profdata = d + ".profdata"
        subprocess.run([os.path.join(llvm, "llvm-profdata"), "merge", "-sparse", *raws, "-o", profdata], check=True)
        objects = [a["executable"], *started]
        cmd = [os.path.join(llvm, "llvm-cov"), "export", "-format=text", "-instr-profile", profdata]
        for o in objects:
            cmd += ["-object", o]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        files = segments_by_file(json.loads(out))
        n = 0
        for m in mutants:
            if executed(files, m):
                needs[m["name"]].add(sel)
                n += 1
        print(f"{sel}: executes {n} of the {len(mutants)} mutants", file=sys.stderr)
    by_args = {}
    for m in mutants:
        if needs[m["name"]]:
            by_args.setdefault(tuple(sorted(needs[m["name"]])), []).append(m["name"])
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "*")):
        os.remove(old)
    # The groups that need the fewest binaries first: their mutants cost least.
    for i, (args, names) in enumerate(sorted(by_args.items(), key=lambda kv: (len(kv[0]), -len(kv[1])))):
        with open(os.path.join(out_dir, f"{i}.args"), "w") as f:
            f.write("\n".join(args) + "\n")
        with open(os.path.join(out_dir, f"{i}.names"), "w") as f:
            f.write("\n".join(names) + "\n")
        print(f"group {i}: {len(names)} mutants, {len(args)} test binaries: {' '.join(args)}", file=sys.stderr)
    left = sum(1 for v in needs.values() if not v)
    print(f"{len(mutants) - left} mutants in {len(by_args)} groups; {left} executed by no test binary", file=sys.stderr)


def merge(out, parts):
    os.makedirs(out, exist_ok=True)
    kept = []
    for p in parts:
        d, _, names = p.partition("=")
        kept.append((d, set(open(names).read().split("\n")) if names else None))
    outcomes = []
    for name in LISTS:
        with open(os.path.join(out, name), "w") as w:
            for d, only in kept:
                path = os.path.join(d, name)
                if os.path.exists(path):
                    for line in open(path).read().split("\n"):
                        if line and (only is None or line in only):
                            w.write(line + "\n")
    for d, only in kept:
        path = os.path.join(d, "outcomes.json")
        if os.path.exists(path):
            for o in json.load(open(path))["outcomes"]:
                m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
                if m is not None and (only is None or m["name"] in only):
                    outcomes.append(o)
    with open(os.path.join(out, "outcomes.json"), "w") as w:
        json.dump({"outcomes": outcomes}, w)


def self_test():
    """merge's filter on two made-up groups that both tested mutant "x" (the
    one cargo-mutants tests whatever --re says): each group's result is kept
    only where the group asked for it; and the cargo argument of each kind of
    test binary."""
    import tempfile

    def outcome(name, summary):
        return {"scenario": {"Mutant": {"name": name}}, "summary": summary}

    with tempfile.TemporaryDirectory() as tmp:
        groups_ = {"0": (["a", "x"], ["a"], {"a": "CaughtMutant", "x": "MissedMutant"}),
                   "1": (["x"], ["x"], {"x": "CaughtMutant"})}
        parts = []
        for g, (tested, asked, summaries) in groups_.items():
            d = os.path.join(tmp, g)
            os.makedirs(d)
            for kind, summary in (("caught.txt", "CaughtMutant"), ("missed.txt", "MissedMutant")):
                with open(os.path.join(d, kind), "w") as f:
                    f.write("".join(n + "\n" for n in tested if summaries[n] == summary))
            with open(os.path.join(d, "outcomes.json"), "w") as f:
                json.dump({"outcomes": [outcome(n, summaries[n]) for n in tested]}, f)
            with open(os.path.join(tmp, g + ".names"), "w") as f:
                f.write("\n".join(asked) + "\n")
            parts.append(d + "=" + os.path.join(tmp, g + ".names"))
        merge(os.path.join(tmp, "out"), parts)
        read = lambda kind: open(os.path.join(tmp, "out", kind)).read().split()
        outcomes = json.load(open(os.path.join(tmp, "out", "outcomes.json")))["outcomes"]
        checks = [
            (read("caught.txt") == ["a", "x"], "caught: a from group 0, x from group 1"),
            (read("missed.txt") == [], "group 0's result for x, which it did not ask for, left out"),
            (sorted((o["scenario"]["Mutant"]["name"], o["summary"]) for o in outcomes)
             == [("a", "CaughtMutant"), ("x", "CaughtMutant")], "outcomes filtered the same way"),
        ]
    art = lambda kind, test, name="t": {"kind": kind, "test": test, "name": name}
    checks += [
        (selector(art(["lib"], True)) == "--lib", "a library's unit tests"),
        (selector(art(["bin"], True)) == "--bins", "a binary's unit tests"),
        (selector(art(["test"], True, "ops_tls")) == "--test=ops_tls", "an integration test"),
        (selector(art(["bin"], False)) is None, "the proxy binary itself is no test"),
    ]
    bad = [why for ok, why in checks if not ok]
    for why in bad:
        print(f"mutants_select.py: wrong: {why}", file=sys.stderr)
    print(f"mutants_select.py: {len(checks) - len(bad)} of {len(checks)} checks right")
    sys.exit(1 if bad else 0)


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    if sys.argv[1:2] == ["groups"] and len(sys.argv) == 7:
        groups(*sys.argv[2:7])
    elif sys.argv[1:2] == ["merge"] and len(sys.argv) >= 4:
        merge(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
