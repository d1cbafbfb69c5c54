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

step "cargo test --workspace"
cargo test --workspace

step "IAM: each function's flows with exactly its translated role, in an IAM-enforcing moto (scripts/iam-check.sh)"
bash scripts/iam-check.sh

step "openapi.yaml against auditctl serve: schemathesis (scripts/api-fuzz.sh)"
bash scripts/api-fuzz.sh
