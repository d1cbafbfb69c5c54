#!/usr/bin/env bash
# `make test`: the template's lints, formatting, lints and the test suite. Needs the local stack's environment,
# so run it through `scripts/stack.sh with-stack scripts/test.sh` (which `make test` does).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

[[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" && -n "${AWS_ENDPOINT_URL:-}" ]] || {
  echo "test: error: no local stack environment; run 'make test' (or scripts/stack.sh with-stack scripts/test.sh)" >&2
  exit 2
}

step() { printf '\n==> %s\n' "$*" >&2; }
log() { printf 'test: %s\n' "$*" >&2; }
die() {
  printf 'test: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

step "template.yaml: cfn-lint and sam validate --lint (scripts/lambda.sh validate)"
bash scripts/lambda.sh validate

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo machete: no unused dependencies (installed into .tools/cargo on first use)"
cargo_install cargo-machete 0.9.2
cargo machete

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The sealing-memory test loads 20,000 events: 21 s on a fresh DynamoDB Local,
# about 150 s once the rest of the suite has run against it (DynamoDB Local's
# own state; dropping the tables does not help). So it runs first, and the
# workspace run after it skips that one test by name (same package selection,
# so nothing is built twice).
SEAL_MEMORY_TEST=sealing_a_large_period_stays_in_bounded_memory_matches_the_reference_and_lets_others_through
step "cargo test --workspace --test seal_memory (first, on a fresh DynamoDB Local)"
cargo test --workspace --test seal_memory

step "cargo test --workspace (every test but the one above)"
cargo test --workspace -- --skip "$SEAL_MEMORY_TEST"

step "IAM: each function's flows with exactly its translated role, in an IAM-enforcing moto (scripts/iam-check.sh)"
bash scripts/iam-check.sh

step "openapi.yaml against auditctl serve: schemathesis (scripts/api-fuzz.sh)"
bash scripts/api-fuzz.sh
