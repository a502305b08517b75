#!/usr/bin/env bash
# Profiles the proxy under one case of the side-by-side bench: perf records
# the connseq (or haproxy) process while the case runs, then inferno draws
# the flame graph. Needs Debian's linux-perf (apt-get install linux-perf)
# and inferno (cargo install inferno; installed here if missing).
#
#   scripts/profile.sh CASE [connseq|haproxy] [OUT_DIR]
#   scripts/profile.sh copy-1                 # docs/performance/flame-copy-1-connseq.svg
#
# This machine has no hardware counters (a VM): perf samples the cpu-clock
# software event, which is enough to see where the time goes.
# PROFILE_NO_BUILD=1 uses the release binaries as they are (no cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."
case_id=${1:?usage: scripts/profile.sh CASE [connseq|haproxy] [OUT_DIR]}
who=${2:-connseq}
out=${3:-docs/performance}
seconds=8

command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 2; }
if ! command -v inferno-flamegraph >/dev/null; then
  cargo install --quiet inferno
fi
[ -n "${PROFILE_NO_BUILD:-}" ] || cargo build --release -q -p connseq --bin connseq
[ -n "${PROFILE_NO_BUILD:-}" ] || cargo build --release -q -p connseq-benches --bin side-by-side

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One round, one thread; the targets run in the order direct, connseq,
# HAProxy, each for $seconds (+0.5 s of warm-up).
./target/release/side-by-side --only "$case_id" --threads 1 --rounds 1 --seconds "$seconds" \
  --idle-conns 0 --out "$work/run" >/dev/null 2>"$work/bench.log" &
bench=$!
case $who in
  connseq) start=$((seconds + 2)); pattern="proxy --config $work/run" ;;
  haproxy) start=$((2 * seconds + 3)); pattern="haproxy -f $work/run" ;;
  *) echo "profile.sh: connseq or haproxy, not $who" >&2; exit 2 ;;
esac
sleep "$start"
pid=$(pgrep -f "$pattern" | head -n 1)
perf record -q -F 2000 -g -p "$pid" -o "$work/perf.data" -- sleep $((seconds - 3)) 2>/dev/null
wait "$bench"
mkdir -p "$out"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/stacks.folded"
inferno-flamegraph --title "$who, $case_id, 1 thread" < "$work/stacks.folded" > "$out/flame-$case_id-$who.svg"
# The share of user space and the heaviest user-space functions.
perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -n 5
perf report -i "$work/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep '\[\.\]' | head -n 12
echo "profile.sh: $out/flame-$case_id-$who.svg"
