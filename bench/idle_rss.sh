#!/usr/bin/env bash
# Memory of the shipped binary on its embedded default (SQLite, the web form), as an
# operator starts it: resident set size (VmRSS) once it is ready and has settled, and
# again after it has served a little (form pages, reports, status pages) and settled.
# Also prints the binary's size. Target: RSS at most 30 MiB, binary at most 30 MB.
#
#   bench/idle_rss.sh               # 3 starts; the median of each figure
#   ROUNDS=1 bench/idle_rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-5}
PORT=${PORT:-18089}

[ -n "${NO_BUILD:-}" ] || cargo build --release --locked --quiet --bin aduan
BIN=$PWD/target/release/aduan
WORK=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$WORK"' EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: > "$WORK/idle"
: > "$WORK/served"
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/run" && mkdir -p "$WORK/run"
  (cd "$WORK/run" && ADUAN_HTTP__LISTEN=127.0.0.1:$PORT exec "$BIN" run >"$WORK/log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
    sleep 0.1
  done
  sleep "$SETTLE"
  rss_kib "$pid" >> "$WORK/idle"
  for i in $(seq 1 20); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/"
    tid=$(curl -fsS -H 'Content-Type: application/json' \
      -d "{\"title\":\"Lampu jalan padam $i\",\"body\":\"Sudah seminggu lampu jalan di Jl. Sultan Syarif Kasim padam.\"}" \
      "http://127.0.0.1:$PORT/api/v1/reports" | sed -n 's/.*"tracking_id":"\([^"]*\)".*/\1/p')
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/v1/reports/$tid"
  done
  sleep "$SETTLE"
  rss_kib "$pid" >> "$WORK/served"
  kill "$pid" && wait "$pid" 2>/dev/null || true
  pid=""
  echo "round $round: idle $(tail -n1 "$WORK/idle") KiB, after serving $(tail -n1 "$WORK/served") KiB" >&2
done

size=$(stat -c %s "$BIN")
awk -v b="$size" -v i="$(median < "$WORK/idle")" -v s="$(median < "$WORK/served")" 'BEGIN {
  printf "binary        %6.1f MB\n", b / 1e6
  printf "idle RSS      %6.1f MiB\n", i / 1024
  printf "served RSS    %6.1f MiB\n", s / 1024 }'
