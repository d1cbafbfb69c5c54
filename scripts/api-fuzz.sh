#!/usr/bin/env bash
# API fuzzing: schemathesis (PyPI, installed into .venv when missing) checks a running
# `auditctl serve` against openapi.yaml: no 5xx, every status, content type, header and body as
# the spec says, invalid input rejected and valid input accepted (`--checks all`).
#
# Usage: scripts/stack.sh with-stack bash scripts/api-fuzz.sh   (`make test` runs it)
#        scripts/api-fuzz.sh install                            (only install schemathesis)
#
# Needs the local stack's environment. Builds target/debug/auditctl, runs `auditctl init`, makes
# the org `fuzz` with an admin and an ingest key, starts `auditctl serve` on a free loopback port
# (stopped on exit), seeds one event and one S3 destination (so that `{id}` operations reach
# real resources), then runs schemathesis with a fixed seed and a bounded number of cases.
#
# Tunables (environment): API_FUZZ_MAX_EXAMPLES (cases per operation and phase, default 25),
# API_FUZZ_SEED (default 1128), API_FUZZ_TIMEOUT (wall-clock cap in seconds, default 600),
# API_FUZZ_REPORT_DIR (default target/api-fuzz: JUnit report, schemathesis output, server log).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV_DIR="$ROOT/.venv"
LOCAL_DIR="$ROOT/.local"
SCHEMATHESIS_VERSION="4.32.5"
MAX_EXAMPLES="${API_FUZZ_MAX_EXAMPLES:-25}"
SEED="${API_FUZZ_SEED:-1128}"
TIMEOUT="${API_FUZZ_TIMEOUT:-600}"
REPORT_DIR="${API_FUZZ_REPORT_DIR:-$ROOT/target/api-fuzz}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/auditctl"
[[ "$BIN" == /* ]] || BIN="$ROOT/$BIN"
HOST=127.0.0.1
SERVER_PID=""
WORK=""

log() { printf 'api-fuzz: %s\n' "$*" >&2; }
die() {
  printf 'api-fuzz: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# ------------------------------------------------------------------- install

installed() {
  local infos=("$VENV_DIR"/lib/python3*/site-packages/schemathesis-"$SCHEMATHESIS_VERSION".dist-info)
  [[ -x "$VENV_DIR/bin/python" && -x "$VENV_DIR/bin/schemathesis" && -d "${infos[0]}" ]]
}

install() {
  installed && return 0
  mkdir -p "$LOCAL_DIR"
  # The same lock as scripts/stack.sh and scripts/lambda.sh: one pip at a time in .venv.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCAL_DIR/install.lock"
    flock 9
  fi
  if ! installed; then
    pip_install "$VENV_DIR" "schemathesis==$SCHEMATHESIS_VERSION"
    installed || die "schemathesis==$SCHEMATHESIS_VERSION installed but .venv/bin/schemathesis is missing"
  fi
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

if [[ "${1:-}" == install ]]; then
  install
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown arguments: $* (usage: scripts/api-fuzz.sh [install])"

[[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" && -n "${AWS_ENDPOINT_URL:-}" ]] || {
  die "no local stack environment; run it as: scripts/stack.sh with-stack bash scripts/api-fuzz.sh"
}

# ------------------------------------------------------------------- server

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
  [[ -z "$WORK" ]] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

install
log "cargo build -p auditctl"
cargo build -p auditctl
[[ -x "$BIN" ]] || die "cargo build -p auditctl did not produce $BIN"

WORK="$(mktemp -d)"
mkdir -p "$REPORT_DIR"
"$BIN" init >&2
"$BIN" orgs set --org fuzz --uses-teams false --retention-days 30 >&2
ADMIN_KEY="$("$BIN" keys create --org fuzz --role admin --name fuzz-admin)"
INGEST_KEY="$("$BIN" keys create --org fuzz --role ingest --name fuzz-ingest)"
ISSUER_KEY="$("$BIN" keys create --org fuzz --role viewer_issuer --name fuzz-issuer)"
for key in "$ADMIN_KEY" "$INGEST_KEY" "$ISSUER_KEY"; do
  [[ "$key" =~ ^alk_[0-9a-f]+$ ]] || die "auditctl keys create printed '$key', expected the key alone"
done

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://$HOST:$PORT"
SERVER_LOG="$REPORT_DIR/server.log"
# The default URL policy (https to public addresses only): no destination test can reach a
# private address, and public names do not resolve here (HTTP clients time out after 10 s).
# No export ticks during the run.
(
  trap - INT QUIT
  exec env -u AUDIT_ALLOW_PRIVATE_DESTINATIONS AUDIT_SCHEDULE_INTERVAL_SECONDS=3600 \
    "$BIN" serve --listen "$HOST:$PORT"
) </dev/null >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 300; i++)); do
  (: <"/dev/tcp/$HOST/$PORT") 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "auditctl serve exited; see ${SERVER_LOG#"$ROOT"/}"
  sleep 0.1
done
(: <"/dev/tcp/$HOST/$PORT") 2>/dev/null || die "auditctl serve is not listening on $BASE after 30 s"
log "auditctl serve on $BASE (pid $SERVER_PID, log ${SERVER_LOG#"$ROOT"/})"

# Seed data, so that `{id}` operations also reach existing resources.
post() { # post KEY PATH BODY -> the answer's body; fails unless 2xx
  curl -sS --fail-with-body -m 10 -X POST "$BASE$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d "$3"
}
post "$INGEST_KEY" /v1/events \
  '{"id": "evt_fuzz_1", "action": "MODEL_DEPLOYED", "resource": {"id": "dep_1"}, "metadata": {"model_name": "m"}}' >/dev/null
DESTINATION_ID="$(post "$ADMIN_KEY" /v1/destinations \
  '{"name": "fuzz lake", "type": "s3", "settings": {"bucket": "audit-export-local", "prefix": "fuzz", "role_arn": "arn:aws:iam::123456789012:role/audit-fuzz-export"}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"

# Per-operation settings: POST /v1/events with the ingest key (the admin key may not write),
# POST /v1/viewer-tokens with the viewer_issuer key (no other role may mint),
# `{id}` pinned to the seeded resources (but for DELETE: random ids).
#
# `positive_data_acceptance` (schema-valid input must not be a 400) is relaxed where validity
# depends on more than JSON Schema can say: GET /v1/events (`from` before `to`, a signed cursor
# bound to the filters, `q` repeating a plain filter), GET /v1/integrity/digests (`from` not
# after `to`), GET /v1/integrity/consistency (`from` not above `to`, `to` not above the tree),
# PUT /v1/embedding (each origin's host must be a valid host name or address), PATCH /v1/destinations/{id} (the result must be valid for the stored type),
# POST .../replay (`from` before `to`, `to` not in the future), POST /v1/destinations (a Datadog
# `site` is a host name of labels of at most 63 characters, and every URL must pass the URL policy:
# no non-public address in any notation, which a pattern cannot say).
cat >"$WORK/schemathesis.toml" <<EOF
# Crash files would go to ./.schemathesis: the report directory keeps what matters.
cache = { enabled = false }

[[operations]]
include-operation-id = "recordEvents"
headers = { Authorization = "Bearer \${API_FUZZ_INGEST_KEY}" }

[[operations]]
include-operation-id = "mintViewerToken"
headers = { Authorization = "Bearer \${API_FUZZ_ISSUER_KEY}" }

[[operations]]
include-operation-id = ["getDestination", "getDestinationStatus", "testDestination", "updateDestination", "replayDestination"]
parameters = { "path.id" = "$DESTINATION_ID" }

[[operations]]
include-operation-id = "getEvent"
parameters = { "path.id" = "evt_fuzz_1" }

[[operations]]
include-operation-id = ["listEvents", "listDigests", "consistencyProof", "setEmbedding", "createDestination", "updateDestination", "replayDestination"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
EOF

log "schemathesis $SCHEMATHESIS_VERSION: openapi.yaml against $BASE (seed $SEED, at most $MAX_EXAMPLES cases per operation and phase, ${TIMEOUT}s cap)"
rc=0
API_FUZZ_INGEST_KEY="$INGEST_KEY" API_FUZZ_ISSUER_KEY="$ISSUER_KEY" timeout --signal=INT --kill-after=30 "$TIMEOUT" \
  "$VENV_DIR/bin/schemathesis" --config-file "$WORK/schemathesis.toml" --no-color \
  run openapi.yaml \
  --url "$BASE" \
  -H "Authorization: Bearer $ADMIN_KEY" \
  --checks all \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --generation-database none \
  --workers 1 \
  --request-timeout 15 \
  --max-response-time 12 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit --report-junit-path "$REPORT_DIR/junit.xml" \
  --output-sanitize true 2>&1 | tee "$REPORT_DIR/schemathesis.log" || rc=${PIPESTATUS[0]}
if [[ $rc -eq 124 || $rc -eq 130 ]]; then
  die "schemathesis did not finish within ${TIMEOUT}s (API_FUZZ_TIMEOUT)"
fi
if grep -qE 'panicked|thread .* panicked' "$SERVER_LOG"; then
  die "the server panicked during the run; see ${SERVER_LOG#"$ROOT"/}"
fi
[[ $rc -eq 0 ]] || die "schemathesis found failures (exit $rc); server log: ${SERVER_LOG#"$ROOT"/}"
cases="$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$REPORT_DIR/schemathesis.log" | tail -n 1)"
log "no failures: ${cases:-?} cases (report: ${REPORT_DIR#"$ROOT"/}/junit.xml)"
