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
# First that the check can fail, in one run: ingest without dynamodb:PutItem (an action moto
# denies), the worker without its Query on by_recorded and without SendMessage on the DLQ
# (resources, judged by the check from the request log) must all be denied, and named.
log "self-test: ingest without dynamodb:PutItem, the worker without Query on by_recorded or a DLQ send, must be denied"
if out="$(IAMCHECK_DROP=IngestFunction:dynamodb:PutItem \
  IAMCHECK_NARROW=ExportFunction:dynamodb:Query@table/iamcheck-events/index/by_recorded,ExportFunction:sqs:SendMessage@iamcheck-dlq-* \
  "$VENV_DIR/bin/python" scripts/iam_check.py template.yaml 2>&1)"; then
  printf '%s\n' "$out" >&2
  die "self-test: the check passed with grants withheld: moto is not enforcing IAM, or resources are not judged"
fi
for want in 'IngestFunction: AccessDenied: dynamodb:PutItem' \
  'ExportFunction: AccessDenied: dynamodb:Query on table/iamcheck-events/index/by_recorded' \
  'ExportFunction: AccessDenied: sqs:SendMessage on iamcheck-dlq-'; do
  grep -qF "$want" <<<"$out" || {
    printf '%s\n' "$out" >&2
    die "self-test: the check failed, but did not report: $want"
  }
done
log "self-test: ok (each denied and named)"
exec "$VENV_DIR/bin/python" scripts/iam_check.py template.yaml
