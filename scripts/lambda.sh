#!/usr/bin/env bash
# Release builds and template checks for AWS Lambda, with tools from PyPI, each installed
# only when missing: cargo-lambda (and Zig, from the ziglang package) and cfn-lint into .venv
# beside moto (scripts/stack.sh); aws-sam-cli into a virtualenv of its own, .tools/sam,
# because it pins exact versions of boto3, botocore and click that would replace moto's.
#
# Usage: scripts/lambda.sh <command>
#
#   install [build|validate]  install what the command needs (both by default):
#                             build: cargo-lambda (brings Zig through the ziglang package);
#                             validate: cfn-lint and aws-sam-cli. A quick no-op when present.
#   build                     cargo lambda build --release for ingest, query, export, scheduler and arrivals as
#                             zips in target/lambda/<name>/bootstrap.zip; prints each size
#   sam-build                 sam build (BuildMethod rust-cargolambda: cargo lambda per function, for
#                             the template's architecture) into .aws-sam/build, then checks that every
#                             function of template.yaml has its bootstrap there, an ELF executable
#                             for that architecture; prints each size (what `make build` runs)
#   check-artifacts [DIR [ARCH]]  only the check after sam-build (DIR .aws-sam/build, ARCH aarch64)
#   validate                  cfn-lint template.yaml and sam validate --lint
#
# Tunables (environment): LAMBDA_ARCH (arm64, the default and what template.yaml deploys,
# or x86-64), AWS_REGION for sam validate (default us-east-1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$ROOT/.venv"
SAM_VENV_DIR="$ROOT/.tools/sam"
LOCAL_DIR="$ROOT/.local"
CARGO_LAMBDA_VERSION="1.9.2"
SAM_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"
FUNCTIONS=(ingest query export scheduler arrivals)

log() { printf 'lambda: %s\n' "$*" >&2; }
die() {
  printf 'lambda: error: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# ------------------------------------------------------------------- install

# installed VENV DIST VERSION EXE: VENV holds DIST at VERSION and its executable EXE.
# Globs only, no Python start-up, so the check costs nothing when all is there.
installed() {
  local infos=("$1"/lib/python3*/site-packages/"$2"-"$3".dist-info)
  [[ -x "$1/bin/python" && -x "$1/bin/$4" && -d "${infos[0]}" ]]
}

# What WHAT (build | validate | all) needs and lacks, as "VENV SPEC" lines.
missing() {
  local what=$1
  if [[ "$what" == build || "$what" == all ]]; then
    installed "$VENV_DIR" cargo_lambda "$CARGO_LAMBDA_VERSION" cargo-lambda ||
      printf '%s %s\n' "$VENV_DIR" "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
  if [[ "$what" == validate || "$what" == all ]]; then
    installed "$VENV_DIR" cfn_lint "$CFN_LINT_VERSION" cfn-lint ||
      printf '%s %s\n' "$VENV_DIR" "cfn-lint==$CFN_LINT_VERSION"
    installed "$SAM_VENV_DIR" aws_sam_cli "$SAM_VERSION" sam ||
      printf '%s %s\n' "$SAM_VENV_DIR" "aws-sam-cli==$SAM_VERSION"
  fi
}

cmd_install() {
  local what=${1:-all} started=$SECONDS line venv spec
  local -a lines
  case "$what" in build | validate | all) ;; *) die "install: unknown part '$what' (build|validate)" ;; esac
  [[ -n "$(missing "$what")" ]] || return 0
  mkdir -p "$LOCAL_DIR"
  # The same lock as scripts/stack.sh install: one pip at a time in .venv.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCAL_DIR/install.lock"
    flock 9
  fi
  mapfile -t lines < <(missing "$what") # another process may have installed them meanwhile
  if [[ ${#lines[@]} -gt 0 ]]; then
    for venv in "$VENV_DIR" "$SAM_VENV_DIR"; do
      local -a specs=()
      for line in "${lines[@]}"; do
        [[ "${line%% *}" == "$venv" ]] && specs+=("${line#* }")
      done
      [[ ${#specs[@]} -eq 0 ]] || pip_install "$venv" "${specs[@]}"
    done
    spec="$(missing "$what" | sed "s|^$ROOT/||" | tr '\n' ' ')"
    [[ -z "$spec" ]] || die "pip finished but these are still missing: $spec"
    log "installed in $((SECONDS - started))s"
  fi
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

# --------------------------------------------------------------------- build

rust_target() {
  case "$1" in
    arm64) printf 'aarch64-unknown-linux-gnu\n' ;;
    x86-64) printf 'x86_64-unknown-linux-gnu\n' ;;
    *) die "LAMBDA_ARCH must be arm64 or x86-64, not '$1'" ;;
  esac
}

# The Rust standard library for TARGET must be there: cargo lambda cross-compiles with Zig
# as the linker but does not bring the target's std, which only rustup provides.
need_target() {
  local target=$1
  command -v rustup >/dev/null 2>&1 || return 0 # a toolchain without rustup: let cargo tell
  rustup target list --installed 2>/dev/null | grep -qx "$target" && return 0
  log "the Rust target $target is not installed; trying: rustup target add $target"
  rustup target add "$target" >&2 ||
    die "cannot build for $target: its standard library (rustup component rust-std-$target) is not installed and 'rustup target add $target' failed (see above). Install it where the Rust distribution server is reachable, or build for this machine's architecture with LAMBDA_ARCH=x86-64 (then deploy with Architectures: x86_64)."
}

human() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u); i = 1; while (b >= 1024 && i < 4) { b /= 1024; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

cmd_build() {
  local arch=${LAMBDA_ARCH:-arm64} target f zip size started
  target="$(rust_target "$arch")"
  cmd_install build
  need_target "$target"
  local -a bins=()
  for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
  cd "$ROOT"
  started=$SECONDS
  log "cargo lambda build --release --$arch --output-format zip ${bins[*]}"
  # .venv/bin first: cargo-lambda finds Zig there (python -m ziglang).
  PATH="$VENV_DIR/bin:$PATH" cargo lambda build --release "--$arch" --output-format zip "${bins[@]}"
  log "built in $((SECONDS - started))s"
  for f in "${FUNCTIONS[@]}"; do
    zip="target/lambda/$f/bootstrap.zip"
    [[ -f "$zip" ]] || die "$zip is missing after the build"
    size="$(stat -c %s "$zip")"
    printf '%-7s %-32s %10s bytes  (%s)\n' "$f" "$zip" "$size" "$(human "$size")"
  done
}

# ----------------------------------------------------------------- sam build

# sam runs with dummy credentials (it needs some to start and uses none to build), no profile,
# no telemetry or update check (no network beyond the registries), cargo-lambda on PATH.
sam_env() {
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
    AWS_ACCESS_KEY_ID=validate AWS_SECRET_ACCESS_KEY=validate \
    SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 \
    PATH="$VENV_DIR/bin:$PATH" "$@"
}

# The template's functions (logical ids), one a line, from sam's own parse of it.
template_functions() {
  "$SAM_VENV_DIR/bin/python" - "$ROOT/template.yaml" <<'PY'
import sys
from samcli.yamlhelper import yaml_parse
with open(sys.argv[1], encoding="utf-8") as f:
    t = yaml_parse(f.read())
for name, r in t["Resources"].items():
    if r["Type"] == "AWS::Serverless::Function":
        print(name)
PY
}

# elf_machine FILE: the ELF e_machine of FILE (aarch64, x86-64), or "not-elf".
elf_machine() {
  local magic machine
  magic="$(od -An -tx1 -N4 "$1" | tr -d ' \n')"
  [[ "$magic" == 7f454c46 ]] || {
    printf 'not-elf\n'
    return
  }
  machine="$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')"
  case "$machine" in
    b700) printf 'aarch64\n' ;;
    3e00) printf 'x86-64\n' ;;
    *) printf 'machine-%s\n' "$machine" ;;
  esac
}

# check_sam_artifacts BUILD_DIR WANT: every template function has BUILD_DIR/<Function>/bootstrap,
# an executable ELF for WANT (aarch64 | x86-64). Prints each; fails naming what is wrong.
check_sam_artifacts() {
  local dir=$1 want=$2 f boot got size bad=0
  local -a functions
  mapfile -t functions < <(template_functions)
  [[ ${#functions[@]} -gt 0 ]] || die "no AWS::Serverless::Function in template.yaml"
  for f in "${functions[@]}"; do
    boot="$dir/$f/bootstrap"
    if [[ ! -f "$boot" ]]; then
      log "missing: $boot"
      bad=1
      continue
    fi
    got="$(elf_machine "$boot")"
    if [[ "$got" != "$want" || ! -x "$boot" ]]; then
      log "$boot: $got$([[ -x "$boot" ]] || printf ', not executable'), want an executable $want ELF"
      bad=1
      continue
    fi
    size="$(stat -c %s "$boot")"
    printf '%-18s %-44s %10s bytes  (%s, %s)\n' "$f" "${boot#"$ROOT"/}" "$size" "$(human "$size")" "$got"
  done
  [[ $bad -eq 0 ]] || die "sam build did not produce every function's artifact (see above)"
}

cmd_sam_build() {
  local arch target want started
  # The template's architecture decides what sam asks cargo lambda for.
  arch="$(grep -m1 -oE 'Architectures: \[(arm64|x86_64)\]' "$ROOT/template.yaml" | grep -oE 'arm64|x86_64')" ||
    die "template.yaml: no Globals Architectures: [arm64|x86_64]"
  case "$arch" in
    arm64) target=aarch64-unknown-linux-gnu want=aarch64 ;;
    x86_64) target=x86_64-unknown-linux-gnu want=x86-64 ;;
  esac
  cmd_install build
  cmd_install validate
  need_target "$target"
  cd "$ROOT"
  started=$SECONDS
  log "sam build --beta-features (rust-cargolambda, $arch) into .aws-sam/build"
  sam_env "$SAM_VENV_DIR/bin/sam" build --beta-features --template template.yaml
  log "sam build finished in $((SECONDS - started))s"
  check_sam_artifacts "$ROOT/.aws-sam/build" "$want"
}

# ------------------------------------------------------------------ validate

cmd_validate() {
  cmd_install validate
  cd "$ROOT"
  log "cfn-lint template.yaml"
  "$VENV_DIR/bin/cfn-lint" template.yaml
  log "sam validate --lint --template template.yaml"
  # sam needs credentials to start, never uses them for --lint: dummy ones, no profile, and
  # no telemetry or update check (this must work without a network beyond the registries).
  sam_env "$SAM_VENV_DIR/bin/sam" validate --lint --template template.yaml --region "${AWS_REGION:-us-east-1}"
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

main() {
  local sub="${1:-help}"
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    install) cmd_install "$@" ;;
    build) cmd_build "$@" ;;
    sam-build) cmd_sam_build "$@" ;;
    check-artifacts) check_sam_artifacts "${1:-$ROOT/.aws-sam/build}" "${2:-aarch64}" ;;
    validate) cmd_validate "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      die "unknown command '$sub'"
      ;;
  esac
}

main "$@"
