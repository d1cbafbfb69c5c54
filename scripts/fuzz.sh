#!/usr/bin/env bash
# make fuzz: runs each cargo-fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS
# (default 60) and prints, per target, the executions, exec/s and time.
#
#   FUZZ_SECONDS=300 make fuzz                  longer runs
#   FUZZ_TARGETS="query_params" make fuzz       some targets only
#   FUZZ_SANITIZER=none make fuzz               no AddressSanitizer (default: address,
#                                               falling back to none if it cannot build)
#
# cargo-fuzz is installed on first use into .tools/cargo (cargo install --locked).
# It needs nightly-only flags (-Zsanitizer, sancov); with no nightly toolchain,
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. The corpus grows in
# fuzz/corpus/<target> (git-ignored), starting from the committed seeds in
# fuzz/seeds/<target>; a crash lands in fuzz/artifacts/<target>/ and fails the run
# (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz <target> <file>).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"event_parse query_params cursor_decode"}
SANITIZER=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
export PATH="$ROOT/.tools/cargo/bin:$PATH"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz into .tools/cargo"
  cargo install --locked --root "$ROOT/.tools/cargo" cargo-fuzz
fi

build() {
  local target
  for target in $TARGETS; do
    cargo fuzz build --fuzz-dir fuzz --sanitizer "$SANITIZER" "$target" || return 1
  done
}
if ! build; then
  if [[ $SANITIZER != none ]]; then
    echo "fuzz: building with -Zsanitizer=$SANITIZER failed; retrying with --sanitizer none" >&2
    SANITIZER=none
    build
  else
    exit 1
  fi
fi

LOG_DIR=fuzz/logs
mkdir -p "$LOG_DIR"
summary=()
failed=0
for target in $TARGETS; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  dict=()
  [[ -f fuzz/dicts/$target.dict ]] && dict=("-dict=fuzz/dicts/$target.dict")
  log="$LOG_DIR/$target.log"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s (sanitizer $SANITIZER, log $log)"
  start=$(date +%s)
  set +e
  cargo fuzz run --fuzz-dir fuzz --sanitizer "$SANITIZER" "$target" \
    "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$target/" "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  execs=$(sed -nE 's/^stat::number_of_executed_units:[[:space:]]*([0-9]+).*/\1/p' "$log" | tail -n 1)
  rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [[ $rc -ne 0 ]]; then
    failed=1
    summary+=("$(printf '%-14s FAILED (exit %s) after %ss: see %s and fuzz/artifacts/%s/' "$target" "$rc" "$elapsed" "$log" "$target")")
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5 >&2 || true
  else
    summary+=("$(printf '%-14s %12s execs  %8s exec/s  %4ss  corpus %s' "$target" "${execs:-?}" "${rate:-?}" "$elapsed" "$corpus")")
  fi
  [[ -n $done_line ]] && echo "  $done_line"
done

echo
echo "fuzz summary (sanitizer $SANITIZER, ${SECONDS_PER_TARGET}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
