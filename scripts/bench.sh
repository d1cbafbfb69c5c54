#!/usr/bin/env bash
# `make bench` (issue 7): builds the suite and the three functions in release,
# starts an in-memory local stack (scripts/stack.sh with-stack), runs every
# figure against a baseline measured in the same run, writes bench/RESULTS.md
# and prints it. QUICK=1 shrinks the data sets (see bench/README.md).
# Arguments name figures to run (cpu ingest query export cold scale backpressure proofs; default all).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started=$SECONDS
echo "bench: cargo build --release (the first release build of the AWS SDK takes several minutes on 2 cores)" >&2
cargo build --release -p audit-log-bench -p audit-log-tests -p ingest -p query -p export --bins
echo "bench: built in $((SECONDS - started)) s" >&2

bash scripts/stack.sh with-stack "$ROOT/target/release/audit-log-bench" "$@"
echo "bench: done in $((SECONDS - started)) s (bench/RESULTS.md)" >&2
