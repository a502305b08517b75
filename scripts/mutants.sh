#!/usr/bin/env bash
# Mutation testing of the runtime and its adapters against the conformance
# suite: every mutant cargo-mutants makes of impl/src/runtime, impl/src/sys and
# impl/src/pool.rs is built and run against the replay campaign and the kernel
# axioms (conformance/tests/replay.rs, kernel_axioms.rs). A mutant the suite
# does not fail is a survivor; docs/conformance.md lists them and why.
#
#   scripts/mutants.sh                      # all mutants (about 625; hours on 2 cores)
#   scripts/mutants.sh --shard 0/5          # a fifth of them, every fifth mutant
#   scripts/mutants.sh --list               # what would be run
#
# Extra arguments go to `cargo mutants`. Results: mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt, outcomes.json).
set -euo pipefail
cd "$(dirname "$0")/.."

version=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -qF "$version"; then
  cargo install cargo-mutants --locked --version "$version"
fi

exec cargo mutants \
  --file 'impl/src/runtime/*.rs' --file 'impl/src/sys/*.rs' --file impl/src/pool.rs \
  --exclude impl/src/sys/test_support.rs \
  --sharding round-robin \
  --test-package connseq-conformance \
  --baseline skip --timeout 120 --build-timeout 600 \
  "$@" \
  -- --test replay --test kernel_axioms
