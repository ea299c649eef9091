#!/usr/bin/env bash
# Ingest throughput: floods POST /api/v1/reports (JSON, ~1 KiB) with wrk at 64
# connections, against SQLite and against PostgreSQL, and in the same run measures the
# baseline: single-row INSERTs of the same record straight into the same table, one
# transaction each, at the same concurrency (pgbench; sqlite3 processes). Prints
# complaints/s and the ratio aduan / baseline. Every 201 is a durable commit.
#
# This machine's disk and CPU drift a lot from minute to minute, so each side is measured
# ROUNDS times, alternating daemon and baseline, and the medians are compared.
#
# With BASELINE_BIN set to another aduan binary (an earlier commit's release build),
# that binary is the baseline instead, served the same way: the ratio is then this
# build's speed against that one's, for checking that a change costs nothing.
#
#   bench/ingest.sh                        # 3 rounds of 10 s per side and back end
#   ROUNDS=1 DURATION=5 bench/ingest.sh    # quicker
#   BASELINE_BIN=/path/to/old/aduan bench/ingest.sh   # this build against another
#
# With FORWARD=1, the measured side also runs a webhook forwarder of every event to a
# local receiver (a threaded Python server answering 204), and the baseline is this
# same build without it: the ratio is what forwarding costs intake. How many filings
# were delivered by the end of the flood is printed.
#
#   FORWARD=1 bench/ingest.sh
#
# PG_PARAMS is appended to the PostgreSQL URLs. aduan, like libpq (pgbench), uses TLS
# when the server offers it (sslmode=prefer); a baseline build without TLS support
# speaks plain TCP, so compare the two with PG_PARAMS='?sslmode=disable'. BACKENDS
# picks the back ends ("postgres sqlite" by default).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
PG_ADMIN=${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PG_PARAMS=${PG_PARAMS:-}
BACKENDS=${BACKENDS:-postgres sqlite}

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need sqlite3 sqlite3
need pgbench postgresql-client
pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start

cargo build --release --locked --quiet
BIN=$PWD/target/release/aduan
WORK=$(mktemp -d)
trap 'pkill -f "$WORK/" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# ~1 KiB of report, the same bytes for every path.
TITLE="Air PDAM tidak mengalir sejak tiga hari di RT 02 RW 01 Kampung Dalam"
BODY=$(printf 'Sudah tiga hari air tidak mengalir, warga terpaksa membeli air galon untuk minum dan memasak. %.0s' $(seq 1 9))
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"$TITLE","body":"$BODY","category":"air-bersih","name":"Siti Aminah","email":"siti@contoh.id","phone":"081234567890","location":"Kampung Dalam, Siak"}'
local bad = 0
response = function(status, headers, body) if status ~= 201 then bad = bad + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("NON201 %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

BASELINE_BIN=${BASELINE_BIN:-}
EXTRA_TOML=""
if [ "${FORWARD:-}" = 1 ]; then
  BASELINE_BIN=${BASELINE_BIN:-$BIN}
  hook_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 - "$hook_port" "$WORK/receiver" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
class S(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections that then wait a second
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
  EXTRA_TOML="[[forwarders]]
name = \"bench\"
kind = \"webhook\"
url = \"http://127.0.0.1:$hook_port/hook\"
secret = \"bench-secret-0123456789\"
insecure_local_http_for_tests = true"
fi
if [ -n "$BASELINE_BIN" ] && [ ! -x "$BASELINE_BIN" ]; then
  echo "BASELINE_BIN=$BASELINE_BIN is not an executable" >&2; exit 1
fi

run_aduan() { # name url [binary]: prints "rps non201 mean p99"
  local name=$1 url=$2 bin=${3:-$BIN} dir="$WORK/$1" extra=""
  [ -z "${3:-}" ] && extra=$EXTRA_TOML
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/aduan.toml" <<TOML
data_dir = "$dir/data"
public_url = "http://127.0.0.1:$port"
[http]
listen = "127.0.0.1:$port"
# One load generator at one address: the per-address limits would refuse nearly all of
# it, and they are not what is measured here.
rate_limit = { enabled = false }
[database]
url = "$url"
[log]
level = "warn"
[[form.categories]]
slug = "air-bersih"
label = "Air bersih"
[[channels]]
kind = "webform"
name = "web"
$extra
TOML
  "$bin" run --config "$dir/aduan.toml" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$port/api/v1/reports" > "$dir/wrk.txt"
  kill -TERM $pid; wait $pid || true
  local rps non201
  rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.txt")
  non201=$(awk '/NON201/ {print $2}' "$dir/wrk.txt")
  echo "$rps ${non201:-0} $(awk '/Latency/ && !/Distribution/ {print $2; exit}' "$dir/wrk.txt") $(awk '/ 99%/ {print $2}' "$dir/wrk.txt")"
}

insert_sql="INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body, category, reporter_name, reporter_email, reporter_phone, location_text, raw_content_type, raw, received_at, created_at, updated_at) VALUES"
# The same record as the daemon stores, raw original included.
RAW=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$WORK/post.lua")

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# --- PostgreSQL: aduan into a fresh database each round; pgbench into the same schema ---
db_aduan=aduan_bench_$$; db_base=aduan_bench_base_$$
trap 'pkill -f "$WORK/" 2>/dev/null || true; psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db_aduan WITH (FORCE)" -c "DROP DATABASE IF EXISTS $db_base WITH (FORCE)" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
cat > "$WORK/pg_insert.sql" <<SQL
$insert_sql (md5(random()::text), 'webform', 'web', md5(random()::text), 'new', '$TITLE', '$BODY', 'air-bersih', 'Siti Aminah', 'siti@contoh.id', '+6281234567890', 'Kampung Dalam, Siak', 'application/json', convert_to('$RAW', 'UTF8'), 0, 0, 0);
SQL
: > "$WORK/pg_aduan"; : > "$WORK/pg_base"; : > "$WORK/pg_lat"
# Each round runs both sides; which goes first alternates, so that neither side always
# inherits the other's leftovers (a checkpoint, a warm page cache).
pg_aduan_side() {
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db_aduan WITH (FORCE)" -c "CREATE DATABASE $db_aduan" 2>/dev/null
  read -r rps bad lat p99 < <(run_aduan pg "$PG_BASE/$db_aduan$PG_PARAMS")
  stored=$(psql -qtA "$PG_BASE/$db_aduan" -c "SELECT count(*) FROM complaints")
  [ -n "$EXTRA_TOML" ] && echo "PostgreSQL: $(psql -qtA "$PG_BASE/$db_aduan" -c "SELECT count(*) FROM forwards WHERE status = 'sent'") of $stored complaints' filings delivered by the end" >&2
  echo "$rps" >> "$WORK/pg_aduan"; echo "$lat $p99 $bad $stored" >> "$WORK/pg_lat"
}
pg_base_side() {
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db_base WITH (FORCE)" -c "CREATE DATABASE $db_base" 2>/dev/null
  if [ -n "$BASELINE_BIN" ]; then
    local base
    read -r base _ < <(run_aduan pgbase "$PG_BASE/$db_base$PG_PARAMS" "$BASELINE_BIN")
    echo "$base" >> "$WORK/pg_base"
  else
    ADUAN_DATABASE__URL="$PG_BASE/$db_base" "$BIN" migrate >/dev/null 2>&1
    pgbench -n -c "$CONNS" -j 2 -T "$DURATION" -f "$WORK/pg_insert.sql" "$PG_BASE/$db_base$PG_PARAMS" > "$WORK/pgbench.txt" 2>&1 || true
    awk '/^tps/ {print $3; f=1; exit} END {exit !f}' "$WORK/pgbench.txt" >> "$WORK/pg_base" || { echo "pgbench failed:" >&2; tail -5 "$WORK/pgbench.txt" >&2; exit 1; }
  fi
}
for round in $(seq 1 "$ROUNDS"); do
  case " $BACKENDS " in *" postgres "*) ;; *) break ;; esac
  if [ $((round % 2)) -eq 1 ]; then pg_aduan_side; pg_base_side; else pg_base_side; pg_aduan_side; fi
  echo "PostgreSQL round $round: aduan $(tail -n1 "$WORK/pg_aduan")/s (201s stored: $stored, non-201: $bad), baseline $(tail -n1 "$WORK/pg_base")/s" >&2
done

# --- SQLite: aduan on a fresh file each round; 64 sqlite3 processes into the same schema --
sqlite_base() { # prints rows/s
  rm -rf "$WORK/sqbase"; mkdir -p "$WORK/sqbase"
  ADUAN_DATA_DIR="$WORK/sqbase" "$BIN" migrate >/dev/null 2>&1
  local db="$WORK/sqbase/aduan.db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL" >/dev/null
  worker() { # one connection: autocommit single-row inserts until the deadline
    local end=$1
    {
      echo ".timeout 30000"
      echo "PRAGMA synchronous=FULL;"
      while [ "$(date +%s)" -lt "$end" ]; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
          echo "$insert_sql (lower(hex(randomblob(8))), 'webform', 'web', lower(hex(randomblob(16))), 'new', '$TITLE', '$BODY', 'air-bersih', 'Siti Aminah', 'siti@contoh.id', '+6281234567890', 'Kampung Dalam, Siak', 'application/json', CAST('$RAW' AS BLOB), 0, 0, 0);"
        done
        sleep 0.001
      done
    } | sqlite3 "$db" >/dev/null
  }
  local start end elapsed rows
  start=$(date +%s.%N); end=$(( $(date +%s) + DURATION ))
  for _ in $(seq 1 "$CONNS"); do worker "$end" & done
  wait
  elapsed=$(echo "$(date +%s.%N) - $start" | bc -l)
  rows=$(sqlite3 "$db" "SELECT count(*) FROM complaints")
  echo "$rows / $elapsed" | bc -l
}
: > "$WORK/sq_aduan"; : > "$WORK/sq_base"; : > "$WORK/sq_lat"
sq_aduan_side() {
  read -r rps bad lat p99 < <(run_aduan sqlite "")
  stored=$(sqlite3 "$WORK/sqlite/data/aduan.db" "SELECT count(*) FROM complaints")
  [ -n "$EXTRA_TOML" ] && echo "SQLite: $(sqlite3 "$WORK/sqlite/data/aduan.db" "SELECT count(*) FROM forwards WHERE status = 'sent'") of $stored complaints' filings delivered by the end" >&2
  echo "$rps" >> "$WORK/sq_aduan"; echo "$lat $p99 $bad $stored" >> "$WORK/sq_lat"
}
sq_base_side() {
  if [ -n "$BASELINE_BIN" ]; then
    local base
    read -r base _ < <(run_aduan sqbase "" "$BASELINE_BIN")
    echo "$base" >> "$WORK/sq_base"
  else
    sqlite_base >> "$WORK/sq_base"
  fi
}
for round in $(seq 1 "$ROUNDS"); do
  case " $BACKENDS " in *" sqlite "*) ;; *) break ;; esac
  if [ $((round % 2)) -eq 1 ]; then sq_aduan_side; sq_base_side; else sq_base_side; sq_aduan_side; fi
  printf 'SQLite round %s: aduan %s/s (201s stored: %s, non-201: %s), baseline %.0f/s\n' "$round" "$rps" "$stored" "$bad" "$(tail -n1 "$WORK/sq_base")" >&2
done

ratio() { echo "scale=2; $1 / $2" | bc -l; }
row() { # label aduan-file base-file lat-file
  local a b
  a=$(median < "$2"); b=$(median < "$3")
  printf '%-11s %16.0f %18.0f %7s %10s %10s %8s\n' "$1" "$a" "$b" "$(ratio "$a" "$b")" \
    "$(awk '{print $1}' "$4" | tail -n1)" "$(awk '{print $2}' "$4" | tail -n1)" "$(awk '{s+=$3} END {print s}' "$4")"
}
base_unit="rows/s"; [ -n "$BASELINE_BIN" ] && base_unit="cpl/s"
printf '\n%-11s %16s %18s %7s %10s %10s %8s\n' "back end" "aduan (cpl/s)" "baseline ($base_unit)" "ratio" "mean lat" "p99 lat" "non-201"
[ -s "$WORK/pg_aduan" ] && row PostgreSQL "$WORK/pg_aduan" "$WORK/pg_base" "$WORK/pg_lat"
[ -s "$WORK/sq_aduan" ] && row SQLite "$WORK/sq_aduan" "$WORK/sq_base" "$WORK/sq_lat"
echo
echo "medians of $ROUNDS alternating rounds of ${DURATION}s; $CONNS connections; $(nproc) cores; latency from the last round"
if [ -n "$BASELINE_BIN" ]; then
  echo "baseline = $BASELINE_BIN, served and loaded the same way"
else
  echo "baseline = one INSERT per transaction into the same complaints table (pgbench; sqlite3 processes, WAL, synchronous=FULL)"
fi
