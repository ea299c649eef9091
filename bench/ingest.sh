#!/usr/bin/env bash
# Ingest throughput: floods POST /api/v1/reports (JSON, ~1 KiB) with wrk at 64
# connections, against SQLite and against PostgreSQL, and in the same run measures the
# baseline: single-row INSERTs of the same record straight into the same table, one
# transaction each, at the same concurrency (pgbench; sqlite3 processes). Prints
# complaints/s and the ratio aduan / baseline. Every 201 is a durable commit.
#
#   bench/ingest.sh                   # 20 s per measurement
#   DURATION=5 bench/ingest.sh        # quicker
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
CONNS=${CONNS:-64}
PG_ADMIN=${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}

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

run_aduan() { # name url
  local name=$1 url=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  cat > "$dir/aduan.toml" <<TOML
data_dir = "$dir/data"
public_url = "http://127.0.0.1:$port"
[http]
listen = "127.0.0.1:$port"
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
TOML
  "$BIN" run --config "$dir/aduan.toml" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$port/api/v1/reports" > "$dir/wrk.txt"
  kill -TERM $pid; wait $pid || true
  local rps non201
  rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.txt")
  non201=$(awk '/NON201/ {print $2}' "$dir/wrk.txt")
  echo "$rps ${non201:-0} $(awk '/Latency/ && !/Distribution/ {print $2; exit}' "$dir/wrk.txt") $(awk '/ 99%/ {print $2}' "$dir/wrk.txt")"
}

insert_sql="INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body, category, reporter_name, reporter_email, reporter_phone, location_text, received_at, created_at, updated_at) VALUES"

# --- PostgreSQL --------------------------------------------------------------------
db_aduan=aduan_bench_$$; db_base=aduan_bench_base_$$
psql -q "$PG_ADMIN" -c "CREATE DATABASE $db_aduan" -c "CREATE DATABASE $db_base"
trap 'pkill -f "$WORK/" 2>/dev/null || true; psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db_aduan WITH (FORCE)" -c "DROP DATABASE IF EXISTS $db_base WITH (FORCE)" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
read -r pg_rps pg_bad pg_lat pg_p99 < <(run_aduan pg "$PG_BASE/$db_aduan")
pg_count=$(psql -qtA "$PG_BASE/$db_aduan" -c "SELECT count(*) FROM complaints")

ADUAN_DATABASE__URL="$PG_BASE/$db_base" "$BIN" migrate >/dev/null 2>&1
cat > "$WORK/pg_insert.sql" <<SQL
$insert_sql (md5(random()::text), 'webform', 'web', md5(random()::text), 'new', '$TITLE', '$BODY', 'air-bersih', 'Siti Aminah', 'siti@contoh.id', '+6281234567890', 'Kampung Dalam, Siak', 0, 0, 0);
SQL
pg_base_tps=$(pgbench -n -c "$CONNS" -j 2 -T "$DURATION" -f "$WORK/pg_insert.sql" "$PG_BASE/$db_base" 2>/dev/null | awk '/^tps/ {print $3; exit}')

# --- SQLite ------------------------------------------------------------------------
read -r sq_rps sq_bad sq_lat sq_p99 < <(run_aduan sqlite "")
sq_count=$(sqlite3 "$WORK/sqlite/data/aduan.db" "SELECT count(*) FROM complaints")

mkdir -p "$WORK/sqbase"
ADUAN_DATA_DIR="$WORK/sqbase" "$BIN" migrate >/dev/null 2>&1
SQDB="$WORK/sqbase/aduan.db"
sqlite3 "$SQDB" "PRAGMA journal_mode=WAL" >/dev/null
worker() { # one connection: autocommit single-row inserts until the deadline
  local end=$1 n=0
  {
    echo ".timeout 30000"
    echo "PRAGMA synchronous=FULL;"
    while [ "$(date +%s)" -lt "$end" ]; do
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        echo "$insert_sql (lower(hex(randomblob(8))), 'webform', 'web', lower(hex(randomblob(16))), 'new', '$TITLE', '$BODY', 'air-bersih', 'Siti Aminah', 'siti@contoh.id', '+6281234567890', 'Kampung Dalam, Siak', 0, 0, 0);"
      done
      sleep 0.001
    done
  } | sqlite3 "$SQDB" >/dev/null
}
start=$(date +%s.%N); end=$(( $(date +%s) + DURATION ))
for _ in $(seq 1 "$CONNS"); do worker "$end" & done
wait
elapsed=$(echo "$(date +%s.%N) - $start" | bc -l)
sq_base_rows=$(sqlite3 "$SQDB" "SELECT count(*) FROM complaints")
sq_base_tps=$(echo "$sq_base_rows / $elapsed" | bc -l)

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\n%-11s %16s %18s %7s %10s %10s %8s\n' "back end" "aduan (cpl/s)" "baseline (rows/s)" "ratio" "mean lat" "p99 lat" "non-201"
printf '%-11s %16.0f %18.0f %7s %10s %10s %8s\n' PostgreSQL "$pg_rps" "$pg_base_tps" "$(ratio "$pg_rps" "$pg_base_tps")" "$pg_lat" "$pg_p99" "$pg_bad"
printf '%-11s %16.0f %18.0f %7s %10s %10s %8s\n' SQLite "$sq_rps" "$sq_base_tps" "$(ratio "$sq_rps" "$sq_base_tps")" "$sq_lat" "$sq_p99" "$sq_bad"
echo
echo "complaints stored: PostgreSQL $pg_count, SQLite $sq_count (each 201 is one committed complaint)"
echo "conditions: $CONNS connections, ${DURATION}s each, $(nproc) cores; baseline = one INSERT per transaction into the same complaints table"
