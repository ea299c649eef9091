#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, see docs/fuzzing.md): one TARGET or all of them, each for
# SECONDS (default 600). Installs cargo-fuzz if it is missing. Not part of the test
# suite or CI: a run takes minutes per target.
#
#   scripts/fuzz.sh                      # every target, 10 minutes each
#   scripts/fuzz.sh email_normalize 60   # one target, one minute
#   scripts/fuzz.sh all 300              # every target, 5 minutes each
#
# Env: FUZZ_NICE (niceness, default 0), FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

target="${1:-all}"
seconds="${2:-600}"
targets=(email_normalize x_webhook facebook_webhook webform_webhook form_parse)

if [ "$target" = all ]; then
  run=("${targets[@]}")
else
  case " ${targets[*]} " in
    *" $target "*) run=("$target") ;;
    *) log "unknown target $target; one of: all ${targets[*]}"; exit 2 ;;
  esac
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes nightly-only flags (-Z sanitizer, coverage instrumentation).
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them; a nightly toolchain works too.
export RUSTC_BOOTSTRAP=1

max_len() {
  case "$1" in
    email_normalize) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

cd fuzz
failed=()
for t in "${run[@]}"; do
  # New inputs go to the first directory (ignored by git); the committed seeds are only read.
  mkdir -p "corpus/$t"
  log "fuzzing $t for ${seconds}s"
  # A single input that takes longer than -timeout is reported like a crash: a message
  # that stalls the parser is a denial of service.
  if ! nice -n "${FUZZ_NICE:-0}" cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=4096 \
      -timeout=25 -print_final_stats=1 ${FUZZ_ARGS:-}; then
    failed+=("$t")
    log "$t found a crash: see fuzz/artifacts/$t/"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  log "crashed: ${failed[*]}"
  exit 1
fi
log "no crash in: ${run[*]}"
