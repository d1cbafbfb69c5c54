#!/usr/bin/env bash
# `make run`: the audit-log API on http://127.0.0.1:${PORT:-3000} against a local stack.
#
# Starts the persistent local stack (DynamoDB data in .local/dynamodb, cursor secret in
# .local/cursor-secret), builds auditctl, runs `auditctl init`, ensures the demo org
# `demo` and (once, kept in .local/demo-keys.env) an admin and an ingest key, then runs
# `auditctl serve` in the foreground. Ctrl-C stops the server and the stack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-3000}"
STACK="$ROOT/scripts/stack.sh"
ENV_FILE="$ROOT/.local/stack.env"
KEYS_FILE="$ROOT/.local/demo-keys.env"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/auditctl"
[[ "$BIN" == /* ]] || BIN="$ROOT/$BIN"
SERVER_PID=""
STACK_STARTED=0

log() { printf 'run: %s\n' "$*" >&2; }
die() {
  printf 'run: error: %s\n' "$*" >&2
  exit 1
}

# shellcheck disable=SC2317 # only called from the EXIT trap
cleanup() {
  local rc=$? i
  trap '' INT TERM HUP
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((STACK_STARTED)); then
    bash "$STACK" down --env-file "$ENV_FILE" || true
  fi
  exit "$rc"
}

bash "$STACK" install

# Demo keys only make sense for the data they were created in.
if [[ -f "$KEYS_FILE" && -z "$(ls -A .local/dynamodb 2>/dev/null)" ]]; then
  log "no DynamoDB data in .local/dynamodb: discarding the old .local/demo-keys.env"
  rm -f "$KEYS_FILE"
fi

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# (`up` stops what it started itself if it fails; it refuses to start over a running stack.)
bash "$STACK" up --persistent --env-file "$ENV_FILE"
STACK_STARTED=1
# shellcheck source=/dev/null
source "$ENV_FILE"

log "cargo build -p auditctl"
cargo build -p auditctl
[[ -x "$BIN" ]] || die "cargo build -p auditctl did not produce $BIN"

# A local stand-in for the template's CheckpointBucket: seals publish their
# checkpoints there (auditctl verify --org demo --published s3://$AUDIT_CHECKPOINT_BUCKET).
export AUDIT_CHECKPOINT_BUCKET="${AUDIT_CHECKPOINT_BUCKET:-audit-checkpoints-local}"
"$BIN" init
"$BIN" orgs set --org demo --uses-teams false --retention-days 365

if [[ ! -f "$KEYS_FILE" ]]; then
  admin_key="$("$BIN" keys create --org demo --role admin --name demo-admin)"
  ingest_key="$("$BIN" keys create --org demo --role ingest --name demo-ingest)"
  for key in "$admin_key" "$ingest_key"; do
    [[ -n "$key" && "$key" != *[[:space:]]* ]] ||
      die "auditctl keys create printed '$key', expected the key alone on stdout"
  done
  (
    umask 077
    printf 'export AUDIT_ADMIN_KEY=%q\nexport AUDIT_INGEST_KEY=%q\n' "$admin_key" "$ingest_key" >"$KEYS_FILE.tmp"
    mv -f "$KEYS_FILE.tmp" "$KEYS_FILE"
  )
  log "created demo keys in .local/demo-keys.env"
fi

printf '\n'
cat "$KEYS_FILE"
printf 'export AUDIT_BASE_URL=http://127.0.0.1:%s\n\n' "$PORT"
log "serving http://127.0.0.1:$PORT (org 'demo'); Ctrl-C stops the server and the local stack"

# In the background so that signals reach this script at once; INT/QUIT are restored
# (bash ignores them in background jobs) so Ctrl-C also reaches the server directly.
# Local development only: destinations may be http://127.0.0.1 receivers, and
# the export scheduler ticks every 10 s instead of every minute.
export AUDIT_ALLOW_PRIVATE_DESTINATIONS="${AUDIT_ALLOW_PRIVATE_DESTINATIONS:-true}"
export AUDIT_SCHEDULE_INTERVAL_SECONDS="${AUDIT_SCHEDULE_INTERVAL_SECONDS:-10}"
(
  trap - INT QUIT
  exec "$BIN" serve --listen "127.0.0.1:$PORT"
) 0<&0 &
SERVER_PID=$!
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
exit "$rc"
