#!/usr/bin/env bash
# Mutation testing of the runtime and its adapters: every mutant cargo-mutants
# makes of impl/src/runtime, impl/src/sys, impl/src/pool.rs and the TLS
# adapter's I/O (tls/src/conn.rs, tls/src/sock.rs) is built and run against a
# suite; a mutant the suite does not fail is a survivor. docs/conformance.md
# lists the survivors and why they survive.
#
#   scripts/mutants.sh [--jobs 2]         # the conformance suite (replay, kernel
#                                         # axioms, the replay under faults)
#   scripts/mutants.sh --shard 0/5 --sharding round-robin   # every fifth mutant
#                                         # (without --sharding: the first fifth)
#   scripts/mutants.sh --list             # the mutants, without running them
#   SUITE=own scripts/mutants.sh --survivors-of DIR ... [-- TEST ARGS]
#                                         # second pass: what the conformance
#                                         # pass did not catch (the missed and
#                                         # never-executed mutants of each DIR),
#                                         # against the runtime's and the TLS
#                                         # crate's own tests, or the part of
#                                         # them TEST ARGS select (cargo
#                                         # nextest's, e.g. `-- --lib`)
#   scripts/mutants.sh --after DIR        # continue a run cut short: skip every
#                                         # mutant DIR (a moved mutants.out) has
#                                         # a result for; repeatable
#
# A continued run: `mv mutants.out mutants.out.part1`, then
# `scripts/mutants.sh --after mutants.out.part1` (with --shard k/n to test a
# part of what is left), and the summary of the parts together:
# `python3 scripts/mutants_summary.py mutants.out.part1 mutants.out
# --all=target/mutants-coverage/conformance/mutants.json`. When the mutated
# files changed between the parts, first carry each earlier part over to the
# working tree's lines: `python3 scripts/mutants_rebase.py COMMIT
# mutants.out.part1 mutants.out.part1.head` (COMMIT: where the part ran), and
# pass the .head directories to --after and to the summary. The second pass
# takes the survivors of the parts given with --survivors-of.
#
# Each pass first runs its suite once with coverage instrumentation: the
# mutants whose code the suite never executes are recorded as missed without
# being built (mutants.out/unexecuted.txt), since no test of the suite can
# observe them. The others are built and tested with nextest, which stops at
# the first failing test; a replay campaign stops at its first divergence.
#
# First pass (SUITE=conformance, the default): conformance/tests/replay.rs,
# kernel_axioms.rs and replay_faults.rs (built with the `faults` feature).
# Its results are kept in mutants.out.conformance/.
#
# Second pass (SUITE=own): the first pass's survivors only (--survivors-of:
# each DIR's missed.txt and unexecuted.txt, less what a later DIR caught;
# mutants.out.conformance when none is given), against the tests of impl/
# and tls/: unit, real-socket and interop tests (HAProxy, curl and OpenSSL
# must be installed, as .ci/run installs them), and the fault-injection tests
# (built with the `fault-injection` feature, and with `test-hooks` since
# own-7, as the workspace's tests are built). Its coverage pre-pass runs
# that whole suite, each test binary's profiles apart (cargo's target runner
# scripts/mutants_runner.sh): a survivor no binary executes is missed by both
# suites (mutants.out/unexecuted.txt) and is not built; each other one is
# built and tested with only the test binaries that execute its code
# (scripts/mutants_select.py: the mutants that need the same binaries make
# a group, one cargo-mutants run per group with `--cargo-arg=--test=NAME`,
# so that a mutant builds and runs a few test binaries, not the 30 of the
# whole suite). The groups run one mutant at a time
# in a copy of the tree at a fixed path, target/mutants-own-tree (mutated in
# place, built once for all groups; the tests start the proxy binary from
# its target directory, which a second job would overwrite): --jobs is left
# out. Its results are kept in mutants.out.own/. --after works here too (a
# second pass run in parts).
#
# Extra arguments go to `cargo mutants`. Results: mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt, outcomes.json); the summary:
# `python3 scripts/mutants_summary.py mutants.out`.
set -euo pipefail
cd "$(dirname "$0")/.."

version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -qF "$version"; then
  cargo install cargo-mutants --locked --version "$version"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# Each mutant relinks the test binaries: mold, where it can be had, links
# them faster than the system linker (the same code).
if ! command -v mold >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mold >/dev/null 2>&1 || true
fi
if command -v mold >/dev/null 2>&1; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-fuse-ld=mold"
fi

files=(
  --file 'impl/src/runtime/**/*.rs' --file 'impl/src/sys/*.rs' --file impl/src/pool.rs
  --file tls/src/conn.rs --file tls/src/sock.rs
  --exclude impl/src/sys/test_support.rs --exclude impl/src/sys/fault.rs
  # The conformance harness's send window and held connects: test-hook code
  # (connseq's `test-hooks` feature), dead in the release binary. Mutating
  # it measures the harness, not the runtime.
  --exclude impl/src/runtime/window.rs --exclude impl/src/runtime/worker/shims.rs
)
# Mutants are built without debug information: the same code, linked faster.
# A replay campaign stops at its first divergence: one is enough to catch.
# CONNSEQ_MUTANTS: the replay leaves out what the model alone decides (that
# its traces take every action kind of its reachable space: a search of the
# whole space per feature campaign, three quarters of the suite's CPU), which
# no mutant of the runtime can change; a plain `cargo test` checks it.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 CONNSEQ_REPLAY_FAIL_FAST=1 CONNSEQ_MUTANTS=1
# The whole suite takes about 35 s alone here (55 s of CPU), twice that beside
# a second mutant; a test that hangs fails at 120 s (.config/nextest.toml's
# `mutants` profile, both passes), and 600 s bounds any run.
common=(--workspace "${files[@]}" --test-tool nextest --baseline skip --timeout 600 --build-timeout 900)
# Equivalent mutants (scripts/mutants_equivalent.txt: each with why) are left
# out of the set; each of its regexes must match exactly one mutant.
equivalent=()
while IFS= read -r rx; do
  equivalent+=(--exclude-re "$rx")
done < <(sed -n 's/^\(\^[^#]*[^ ]\)  #.*/\1/p' scripts/mutants_equivalent.txt)
check_equivalent() {
  cargo mutants "${common[@]}" --list --json | python3 -c '
import json, re, sys
names = [m["name"] for m in json.load(sys.stdin)]
bad = 0
for line in open("scripts/mutants_equivalent.txt"):
    m = re.match(r"(\^.*?[^ ])  # (?:x(\d+): )?", line)
    if not m:
        continue
    want = int(m.group(2) or 1)
    n = sum(1 for name in names if re.search(m.group(1), name))
    if n != want:
        print(f"scripts/mutants_equivalent.txt: {m.group(1)} matches {n} mutants, not {want}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)'
}
check_equivalent
common+=(${equivalent[@]+"${equivalent[@]}"})

after=()
survivors_of=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --after) after+=("$2"); shift 2 ;;
    --survivors-of) survivors_of+=("$2"); shift 2 ;;
    --list) exec cargo mutants "${common[@]}" ${args[@]+"${args[@]}"} "$@" ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- ${args[@]+"${args[@]}"}

suite=${SUITE:-conformance}
case "$suite" in
  conformance)
    # The replay, the kernel axioms, and the replay under injected faults
    # (spurious EAGAIN, short reads and writes: the runtime's retries held
    # to the model step by step), which needs the test-only fault layer.
    build=(-p connseq-conformance --features faults --test replay --test kernel_axioms --test replay_faults)
    export NEXTEST_PROFILE=mutants
    test=(--test-package connseq-conformance --features connseq-conformance/faults)
    extra=(-- --test replay --test kernel_axioms --test replay_faults)
    ;;
  own)
    [ ${#survivors_of[@]} -gt 0 ] || survivors_of=(mutants.out.conformance)
    for d in "${survivors_of[@]}"; do
      if [ ! -d "$d" ]; then
        echo "scripts/mutants.sh: $d is missing: run the conformance pass first" >&2
        exit 2
      fi
    done
    # The survivors: each DIR's missed and never-executed mutants, less what
    # a later DIR caught.
    mapfile -t survivors < <(python3 - "${survivors_of[@]}" <<'PY'
import os, sys
survivors = {}
for d in sys.argv[1:]:
    for kind in ("missed", "unexecuted", "caught", "timeout"):
        path = os.path.join(d, kind + ".txt")
        if os.path.exists(path):
            for name in open(path).read().split("\n"):
                if name:
                    survivors[name] = kind in ("missed", "unexecuted")
print("\n".join(sorted(n for n, s in survivors.items() if s)))
PY
)
    if [ ${#survivors[@]} -eq 0 ]; then
      echo "scripts/mutants.sh: no survivors in ${survivors_of[*]}" >&2
      exit 0
    fi
    echo "scripts/mutants.sh: ${#survivors[@]} survivors of ${survivors_of[*]}" >&2
    # With the fault layer built in, so that the fault-injection tests
    # (impl/tests/faults.rs, faults_tls.rs: EINTR, EAGAIN, short reads and
    # writes, ENOBUFS, splice's EINVAL, no pipe) run with the others: the
    # error paths loopback never takes are theirs to catch.
    # And with the test hooks, as `cargo test --workspace` builds these tests
    # (the conformance crate turns `test-hooks` on for the whole workspace):
    # the stepped mode's own test runs too.
    build=(-p connseq -p connseq-tls --features connseq/fault-injection,connseq/test-hooks)
    # A test that hangs (a loop a mutant left without a wake-up never joins)
    # fails at 120 s, as in the conformance pass: the slowest binary of this
    # suite takes about 45 s under the coverage pre-pass's instrumentation.
    export NEXTEST_PROFILE=mutants
    test=(--test-package connseq --test-package connseq-tls --features connseq/fault-injection,connseq/test-hooks)
    extra=()
    ;;
  *)
    echo "scripts/mutants.sh: SUITE is conformance or own, not $suite" >&2
    exit 2
    ;;
esac

# The suite's coverage, in a target directory of its own.
rustup component add llvm-tools-preview >/dev/null 2>&1 || true
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
llvm="$sysroot/lib/rustlib/$host/bin"
cov=target/mutants-coverage/$suite
mkdir -p "$cov"
rm -rf "$cov"/*.profraw "$cov/by-binary"
(
  export RUSTFLAGS="-C instrument-coverage" CARGO_TARGET_DIR="$PWD/target/mutants-coverage/target"
  if [ "$suite" = own ]; then
    # Each test binary's profiles in a directory of its own (with those of
    # the processes it starts), for the second pass's choice of binaries.
    runner="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
    export "$runner=$PWD/scripts/mutants_runner.sh" CONNSEQ_COVERAGE_DIR="$PWD/$cov/by-binary"
  fi
  LLVM_PROFILE_FILE="$PWD/$cov/suite-%p-%m.profraw" cargo test "${build[@]}" -q
  # Every executable the tests ran: test binaries, and the proxy binary the
  # command-line tests start.
  cargo test "${build[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        t = m["target"]
        print(json.dumps({"executable": m["executable"], "name": t["name"], "kind": t["kind"],
                          "test": m["profile"]["test"]}))' > "$cov/artifacts.jsonl"
)
mapfile -t objects < <(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    print(json.loads(l)["executable"])' "$cov/artifacts.jsonl")
"$llvm/llvm-profdata" merge -sparse $(find "$cov" -name '*.profraw') -o "$cov/suite.profdata"
"$llvm/llvm-cov" export -format=text -instr-profile "$cov/suite.profdata" \
  $(printf -- '-object %s ' "${objects[@]}") > "$cov/coverage.json"
cargo mutants "${common[@]}" --list --json > "$cov/mutants.json"
python3 scripts/mutants_coverage.py "$cov/mutants.json" "$cov/coverage.json" "$cov/unexecuted.txt"

# A Rust regex matching exactly the name on each input line.
exact() {
  while IFS= read -r name; do
    printf '%s\n' "^$(printf '%s' "$name" | sed 's/[][\\.+*?(){}|^$#&~-]/\\&/g')\$"
  done
}
# The mutants this run leaves out: the ones its suite never executes (of the
# survivors, in the second pass), and those an earlier part has a result for.
if [ "$suite" = own ]; then
  printf '%s\n' "${survivors[@]}" | grep -Fxf "$cov/unexecuted.txt" > "$cov/unexecuted.run.txt" || true
  echo "scripts/mutants.sh: $(wc -l < "$cov/unexecuted.run.txt") of the survivors are in code this suite never executes" >&2
else
  cp "$cov/unexecuted.txt" "$cov/unexecuted.run.txt"
fi
# Results of earlier parts (--after).
done_before() {
  for d in ${after[@]+"${after[@]}"}; do
    cat "$d"/caught.txt "$d"/missed.txt "$d"/timeout.txt "$d"/unviable.txt "$d"/unexecuted.txt 2>/dev/null
  done
}

status=0
if [ "$suite" = conformance ]; then
  skip=()
  while IFS= read -r rx; do
    skip+=(--exclude-re "$rx")
  done < <({ cat "$cov/unexecuted.run.txt"; done_before; } | exact)
  cargo mutants "${common[@]}" ${skip[@]+"${skip[@]}"} "${test[@]}" "$@" ${extra[@]+"${extra[@]}"} || status=$?
else
  # The second pass (see the head of this script): the survivors to run are
  # those this suite executes, less what an earlier part has a result for.
  { printf '%s\n' "${survivors[@]}" | grep -vFxf "$cov/unexecuted.run.txt" |
    grep -vFxf <(done_before; echo) || true; } > "$cov/to-run.txt"
  python3 scripts/mutants_select.py groups "$cov" "$llvm" "$cov/mutants.json" "$cov/to-run.txt" "$cov/groups"
  # The groups run one after another in one copy of the tree at a fixed
  # path (target/mutants-own-tree, mutated in place), so that what a group
  # built stays built for the next; one mutant at a time, since the tests
  # start the proxy binary from that tree's target directory, which a second
  # job would overwrite. A --jobs given is left out.
  tree=target/mutants-own-tree
  mkdir -p "$tree"
  find "$tree" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$tree"
  # Built once unmutated, so that no mutant's build pays for the
  # dependencies (a cold build can pass the build timeout).
  (cd "$tree" && cargo test "${build[@]}" --no-run -q)
  own_args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --jobs|-j) shift 2 ;;
      --jobs=*|-j*) shift ;;
      *) own_args+=("$1"); shift ;;
    esac
  done
  # A group's run mutates only its own files (--file), so that cargo-mutants
  # 27.1.0's "delete field" mutants, which ignore --re, come only from those;
  # what it tests beyond the group's names is left out of the merge.
  group_common=()
  set -- "${common[@]}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --file|--exclude) shift 2 ;;
      *) group_common+=("$1"); shift ;;
    esac
  done
  rm -rf mutants.out target/mutants-own-groups
  parts=()
  for g in $(ls "$cov/groups" | sed -n 's/\.names$//p' | sort -n); do
    names="$cov/groups/$g.names"
    mapfile -t cargo_args < <(sed 's/^/--cargo-arg=/' "$cov/groups/$g.args")
    mapfile -t group_only < <(exact < "$names" | sed 's/^/--re=/')
    mapfile -t group_files < <(sed 's/:.*//' "$names" | sort -u | sed 's/^/--file=/')
    echo "scripts/mutants.sh: group $g: $(wc -l < "$names") mutants, $(tr '\n' ' ' < "$cov/groups/$g.args")" >&2
    mkdir -p "target/mutants-own-groups/$g"
    cargo mutants "${group_common[@]}" "${group_files[@]}" -d "$tree" --in-place \
      -o "$PWD/target/mutants-own-groups/$g" "${group_only[@]}" "${test[@]}" "${cargo_args[@]}" \
      ${own_args[@]+"${own_args[@]}"} || status=$?
    parts+=("target/mutants-own-groups/$g/mutants.out=$names")
    python3 scripts/mutants_select.py merge mutants.out "${parts[@]}"
  done
  mkdir -p mutants.out
fi
cp "$cov/unexecuted.run.txt" mutants.out/unexecuted.txt
rm -rf "mutants.out.$suite"
cp -r mutants.out "mutants.out.$suite"
exit "$status"
