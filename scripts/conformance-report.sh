#!/usr/bin/env bash
# The conformance report: HAProxy 2.6, nginx's stream proxy, socat and connseq, all from
# Debian's packages, held to the model in black-box mode (conformance/targets/debian.toml),
# then every standalone reproduction under conformance/repro/ run against the same proxies.
#
#   scripts/conformance-report.sh [TARGETS_FILE]     (default conformance/targets/debian.toml)
#
# Writes docs/conformance-report.md, docs/conformance-report.json and the departures'
# example traces under docs/conformance-report-traces/, then the same for a bigger world
# (two chunks each way, wires and buffers of two, 300 seeded walks) as
# docs/conformance-report-two-chunks.*; the reproductions' output is appended to the
# Markdown report. Honours CARGO_TARGET_DIR. Needs root (or sudo) for
# apt-get when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=${1:-conformance/targets/debian.toml}
target_dir=${CARGO_TARGET_DIR:-target}
out=docs

packages=(haproxy nginx-light libnginx-mod-stream socat python3)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The release binary as users run it (no test hooks), and the harness.
cargo build --release --quiet -p connseq --bin connseq
cargo build --release --quiet -p connseq-conformance --bin connseq-conformance

start=$(date +%s)
"$target_dir/release/connseq-conformance" report --targets "$targets" --out "$out" \
  --connseq "$target_dir/release/connseq" --jobs "${REPORT_JOBS:-2}"
# A bigger world: two chunks each way through wires and buffers of two, seeded walks.
"$target_dir/release/connseq-conformance" report --targets "$targets" --out "$out" \
  --connseq "$target_dir/release/connseq" --jobs "${REPORT_JOBS:-2}" \
  --depth 0 --walks "${REPORT_WALKS:-300}" --seed 1 --sizes client=2,server=2,wire=2,buf=2,pipe=1 \
  --name conformance-report-two-chunks

{
  echo
  echo "## A bigger world"
  echo
  echo "The same targets over seeded random walks of a world with two chunks each way through"
  echo "wires and buffers of two: [conformance-report-two-chunks.md](conformance-report-two-chunks.md)"
  echo "(and .json)."
  echo
  echo "## Standalone reproductions"
  echo
  echo "Each departure class above is shown again without the model: a short Python script with"
  echo "plain sockets starts the proxy, a server and a client, and exits 0 when the departure"
  echo "shows. Their output on this machine (\`scripts/conformance-report.sh\`):"
  for script in conformance/repro/*.py; do
    [[ $(basename "$script") == proxies.py ]] && continue  # the helper the scripts share
    echo
    echo "### \`$script\`"
    echo
    doc=$(python3 -c 'import ast,sys; print(ast.get_docstring(ast.parse(open(sys.argv[1]).read())).split("\n\n")[0])' "$script")
    echo "$doc"
    echo
    echo '```text'
    set +e
    CONNSEQ="$target_dir/release/connseq" timeout 60 python3 "$script" 2>&1
    status=$?
    set -e
    echo "exit status $status"
    echo '```'
  done
  echo
  echo "Report and reproductions: $(( $(date +%s) - start )) s, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr)."
} >> "$out/conformance-report.md"
echo "written: $out/conformance-report.md"
