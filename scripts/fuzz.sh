#!/usr/bin/env bash
# Runs one cargo-fuzz (libFuzzer) target for a number of seconds:
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_FLAG...]
#   scripts/fuzz.sh --list
#
# Targets (fuzz/fuzz_targets/): proxy_protocol, config_toml, haproxy_cfg, core_session, handshake.
# Installs cargo-fuzz if it is missing (it needs the nightly toolchain, which it uses for
# the sanitizer's coverage instrumentation), writes the seed corpus from the project's test
# vectors (fuzz/src/bin/fuzz_seeds.rs) under target/fuzz-seeds/TARGET, and keeps the
# corpus it grows under target/fuzz-corpus/TARGET (so a later run starts where this one
# stopped). A crash is saved under fuzz/artifacts/TARGET/ and the script exits non-zero.
#
# The last line libFuzzer prints ("Done N runs in S second(s)") and its "#N DONE cov: E
# ft: F" line are the executions and the coverage (edges, features) reported in
# docs/reliability.md. Extra arguments go to libFuzzer, e.g. -runs=10000000 or -jobs=1.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(proxy_protocol config_toml haproxy_cfg core_session handshake)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_FLAG...]   (targets: ${targets[*]})" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
case " ${targets[*]} " in
  *" $target "*) ;;
  *) echo "fuzz.sh: unknown target '$target' (targets: ${targets[*]})" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

seeds=target/fuzz-seeds
corpus=target/fuzz-corpus/$target
mkdir -p "$corpus"
cargo run --quiet --release -p connseq-fuzz --bin fuzz_seeds -- "$seeds" >/dev/null

# The fuzz crate is a member of the workspace: its artifacts go to the workspace's target/.
# -max_len: the largest PROXY header is 4096 bytes; configuration files and event sequences are short.
max_len=4200
case $target in
  config_toml) max_len=2048 ;;
  haproxy_cfg) max_len=2048 ;;
  core_session) max_len=1024 ;;
  handshake) max_len=2048 ;;
esac
echo "== fuzzing $target for ${seconds}s"
exec cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer "${FUZZ_SANITIZER:-none}" "$target" "$corpus" "$seeds/$target" -- \
  -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 -timeout=10 "$@"
