# Shared by the scripts that install tools (Python into venvs, Rust into .tools/cargo). Source it after defining
# ROOT, log and die: its functions report through them.

# The SAM translator scripts/iam-check.sh translates template.yaml with (PyPI aws-sam-translator, into .venv).
SAM_TRANSLATOR_VERSION="1.110.0"

# pip_install VENV SPEC...: create VENV if needed, pip install the SPECs into it.
pip_install() {
  local venv=$1 name="${1#"$ROOT"/}"
  shift
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3.9+ with venv"
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
      die "python3 cannot create virtualenvs (no venv/ensurepip): install python3-venv"
    log "creating $name"
    python3 -m venv --clear "$venv" >&2 || die "python3 -m venv $name failed (see above)"
  fi
  log "installing $* into $name with pip"
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$@" >&2 ||
    die "pip install $* into $name failed (see above)"
}

# cargo_install CRATE VERSION: cargo install --locked CRATE@VERSION into
# .tools/cargo unless that version is already there; puts .tools/cargo/bin
# first on PATH.
cargo_install() {
  local crate=$1 version=$2 root="$ROOT/.tools/cargo"
  export PATH="$root/bin:$PATH"
  if grep -qs "^\"$crate $version " "$root/.crates.toml"; then
    return 0
  fi
  log "installing $crate $version into .tools/cargo (cargo install --locked)"
  cargo install --locked --quiet --root "$root" "$crate@$version" >&2 ||
    die "cargo install $crate@$version failed (see above)"
}
