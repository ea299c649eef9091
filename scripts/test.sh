#!/usr/bin/env bash
# The whole test suite, on a fresh machine: starts (and if needed installs) what the
# tests need, then runs formatting, lint and every test. Idempotent; safe to rerun.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # only tests whose name contains NAME
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

apt_updated=""
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- PostgreSQL: 127.0.0.1:5432, trust auth -----------------------------------------
export ADUAN_TEST_PG="${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt_install postgresql postgresql-client
fi
if ! pg_up; then
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
if ! pg_up; then
  log "PostgreSQL is not answering on 127.0.0.1:5432; start it with:"
  log "  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  exit 1
fi
if ! psql "$ADUAN_TEST_PG" -qtAc 'SELECT 1' >/dev/null 2>&1; then
  log "cannot log in to PostgreSQL as in ADUAN_TEST_PG=$ADUAN_TEST_PG (trust auth expected)"
  exit 1
fi

# TLS on, with a throwaway CA, for the tests of sslmode and sslrootcert.
log "PostgreSQL TLS"
ADUAN_TEST_PG_TLS_DIR="$(as_root env ADUAN_TEST_PG="$ADUAN_TEST_PG" scripts/pg-tls.sh)"
export ADUAN_TEST_PG_TLS_DIR

# --- Dovecot (IMAP) and Postfix (SMTP) on loopback, for the e-mail channel ------------
log "mail services"
as_root scripts/mail-services.sh start

# --- Chromium and chromedriver, for the admin console's browser tests ------------------
# Debian's packages; a test tool must never download a browser of its own.
apt_install chromium chromium-driver
if ! command -v chromedriver >/dev/null 2>&1; then
  log "chromedriver is missing: apt-get install -y chromium chromium-driver"
  exit 1
fi

# --- Rust checks and tests ----------------------------------------------------------
filter=()
if [ "${1:-}" = "--" ]; then shift; filter=("$@"); fi

if [ ${#filter[@]} -eq 0 ]; then
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy"
  cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
fi
log "cargo test"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
cargo test --locked --workspace -- "${filter[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run: cargo ends with its doc-test binaries, which
# report 0 tests and would otherwise be the last word.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$out"
exit "$status"
