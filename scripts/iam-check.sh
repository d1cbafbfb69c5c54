#!/usr/bin/env bash
# The IAM check: each Lambda function's real flows run with exactly its role's translated permissions against a
# moto_server that enforces IAM (scripts/iam_check.py says how; README "IAM check" what moto cannot judge).
# Needs no local stack: it starts its own moto, in process. Run by `make test` (scripts/test.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV_DIR="$ROOT/.venv"

log() { printf 'iam-check: %s\n' "$*" >&2; }
die() {
  printf 'iam-check: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

[[ -x "$VENV_DIR/bin/moto_server" ]] || bash scripts/stack.sh install
[[ -x "$VENV_DIR/bin/cfn-lint" ]] || bash scripts/lambda.sh install validate
if ! "$VENV_DIR/bin/python" -c 'import sys, samtranslator; sys.exit(samtranslator.__version__ != sys.argv[1])' \
  "$SAM_TRANSLATOR_VERSION" 2>/dev/null; then
  pip_install "$VENV_DIR" "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
fi

cargo test --quiet -p audit-log-tests --test iamcheck --no-run
# First that the check can fail: ingest without dynamodb:PutItem must be denied, and named.
log "self-test: ingest's role without dynamodb:PutItem must be denied"
if out="$(IAMCHECK_DROP=IngestFunction:dynamodb:PutItem "$VENV_DIR/bin/python" scripts/iam_check.py template.yaml 2>&1)"; then
  printf '%s\n' "$out" >&2
  die "self-test: the check passed with dynamodb:PutItem withheld from ingest: moto is not enforcing IAM"
fi
grep -q 'AccessDenied: dynamodb:PutItem' <<<"$out" || {
  printf '%s\n' "$out" >&2
  die "self-test: the check failed, but did not name dynamodb:PutItem as denied"
}
log "self-test: ok (denied and named)"
exec "$VENV_DIR/bin/python" scripts/iam_check.py template.yaml
