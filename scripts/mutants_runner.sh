#!/usr/bin/env bash
# Cargo's target runner for the coverage pre-pass of scripts/mutants.sh's
# second pass: each test binary's profile, and those of the processes it
# starts (the proxy binary that the command-line tests run inherits the
# variable), go to a directory named after the binary, so that
# scripts/mutants_select.py can tell which test binaries execute a mutant.
set -euo pipefail
export LLVM_PROFILE_FILE="$CONNSEQ_COVERAGE_DIR/$(basename "$1")/%p-%m.profraw"
exec "$@"
