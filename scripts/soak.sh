#!/usr/bin/env bash
# The soak: a million mixed sessions (short, bulk, half-closed, reset by either side, slow
# readers, TLS, PROXY) through the release `connseq` binary, with its descriptors, resident
# memory and CPU sampled twice a second; every session's outcome checked against what its
# client and server saw and against its logged termination code; descriptors and memory back
# to their idle baseline, with no growth trend.
#
#   scripts/soak.sh [SESSIONS] [CONCURRENCY] [PROXY_THREADS]     (default 1000000 32 2)
#
# Results in target/soak/: summary.txt, samples.csv, fds.svg, rss.svg. The exit status is
# 0 only if every check passed. CI runs a short one (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

sessions=${1:-1000000}
concurrency=${2:-32}
threads=${3:-2}
out=${SOAK_OUT:-target/soak}

cargo build --release --quiet --bin connseq -p connseq
cargo build --release --quiet -p connseq-soak
# Each session of the mix opens a few descriptors on the driver's side too.
ulimit -n 65536 2>/dev/null || true
exec target/release/connseq-soak --proxy target/release/connseq --sessions "$sessions" \
  --concurrency "$concurrency" --threads "$threads" --out "$out"
