#!/usr/bin/env bash
# Installs what the browser test (tests/tests/browser.rs) needs, when missing:
#   * Chromium from Debian's packages (/usr/bin/chromium)
#   * playwright-core from npm, into .tools/ (the driver; it downloads no browser)
# Quick no-op when both are present. Needs root (or sudo) for apt-get.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/.tools"
CHROMIUM=/usr/bin/chromium
PLAYWRIGHT_SPEC="playwright-core@1"

log() { printf 'browser: %s\n' "$*" >&2; }
die() {
  printf 'browser: error: %s\n' "$*" >&2
  exit 1
}

install_chromium() {
  [[ -x "$CHROMIUM" ]] && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "$CHROMIUM is missing and there is no apt-get: install Chromium so that $CHROMIUM exists"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "$CHROMIUM is missing: run 'apt-get install -y chromium' as root"
    sudo=(sudo)
  fi
  log "installing chromium with apt-get"
  "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed (see above)"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >&2 ||
    die "apt-get install chromium failed (see above)"
  [[ -x "$CHROMIUM" ]] || die "chromium installed but $CHROMIUM is missing"
}

install_playwright() {
  [[ -f "$TOOLS_DIR/node_modules/playwright-core/package.json" ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 18+ with npm"
  log "installing $PLAYWRIGHT_SPEC into .tools with npm"
  mkdir -p "$TOOLS_DIR"
  npm install --no-audit --no-fund --prefix "$TOOLS_DIR" "$PLAYWRIGHT_SPEC" >&2 ||
    die "npm install $PLAYWRIGHT_SPEC failed (see above)"
}

main() {
  case "${1:-install}" in
    install)
      mkdir -p "$ROOT/.local"
      # Serialise concurrent installs (npm into the same .tools, apt's lock).
      if command -v flock >/dev/null 2>&1; then
        exec 9>"$ROOT/.local/browser-install.lock"
        flock 9
      fi
      install_chromium
      install_playwright
      ;;
    *) die "usage: scripts/browser.sh [install]" ;;
  esac
}

main "$@"
