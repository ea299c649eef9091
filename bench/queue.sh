#!/usr/bin/env bash
# The admin queue at scale: seeds ROWS complaints (1,000,000 by default; 60% `new`,
# titles and bodies from an Indonesian vocabulary) into SQLite and into PostgreSQL, then
# measures p50/p99 of
#   page   the first page (50) of the `new` queue        GET /api/v1/complaints?status=new
#   search a full-text search ("jalan rusak")             GET /api/v1/complaints?q=...
#   claim  claim-next with 50 concurrent claimers         POST /api/v1/complaints/next
# through aduan in process (examples/queue_bench.rs lib: the token lookup and the queue
# call an API request makes, without HTTP), through aduan over HTTP (queue_bench http:
# bearer token, JSON, one keep-alive connection per caller), and in the same run the
# bare SQL aduan runs for each: pgbench for PostgreSQL (per-transaction latency log,
# each statement a round trip to the server), and for SQLite both Python's sqlite3 in
# the measuring thread (no process boundary; the baseline of the in-process figures) and
# the sqlite3 shell over a pipe (a round trip to another process, as pgbench's and as
# aduan's over HTTP; the page and the search) (bench/queue_client.py); and, the
# like-for-like baseline for the HTTP figures, the same bare SQL served over the bare
# HTTP stack (examples/queue_bare.rs: axum and the same drivers, no tokens, roles or
# typed rows) through the same client, for the page and the search. Prints a table with the ratios
# to the bare SQL, and of the HTTP figures to the bare stack. Each complaint also has its
# receipt in the outbox, as in a running daemon: claim-next returns the complaint it
# claimed, deliveries included.
#
# The four run ROUNDS times, alternating (over HTTP, in process, bare SQL, bare stack),
# so that a stall of the machine falls on one round of one side rather than on one side
# whole; each figure is the median of its rounds' figures, and the rounds' spread of p99
# is printed.
#
#   bench/queue.sh                            # 1,000,000 rows, 500 samples, 3 rounds
#   ROWS=100000 N=200 ROUNDS=1 bench/queue.sh # quicker
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-1000000}
N=${N:-500}
ROUNDS=${ROUNDS:-3}
PG_ADMIN=${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need sqlite3 sqlite3
need pgbench postgresql-client
need curl curl
pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start

cargo build --release --locked --quiet --bin aduan --example queue_bench --example queue_bare
BIN=$PWD/target/release/aduan
LIB=$PWD/target/release/examples/queue_bench
BARE=$PWD/target/release/examples/queue_bare
WORK=$(mktemp -d)
DB=aduan_qbench_$$
cleanup() {
  pkill -f "$WORK/" 2>/dev/null || true
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
bare_port=$(free_port)

WORDS="air jalan rusak lampu padam sampah banjir listrik sekolah puskesmas ktp kk akta bansos pupuk
irigasi jembatan drainase parit macet pasar izin pajak retribusi guru bidan obat ambulans kebakaran
pohon tumbang longsor bocor pipa keruh pdam antrian pungli kantor desa"

config() { # dir url
  cat > "$1/aduan.toml" <<TOML
data_dir = "$1/data"
public_url = "http://127.0.0.1:$port"
[http]
listen = "127.0.0.1:$port"
[database]
url = "$2"
[log]
level = "warn"
[queue]
sla_schedule = "0 0 0 1 1 *"
[[channels]]
kind = "webform"
name = "web"
TOML
}

receipts() { # the receipt sent for each complaint: opening one reads its deliveries
  echo "INSERT INTO outbox (complaint_id, channel_name, kind, idempotency_key, recipient_address, body,
    status, attempts, next_attempt_at, created_at, sent_at)
SELECT id, 'web', 'acknowledgement', 'ack:' || id, reporter_email, 'Laporan Anda kami terima: ' || tracking_id,
    'sent', 1, received_at, received_at, received_at FROM complaints;"
}

seed_sqlite() { # db
  local list i=0 values=""
  for w in $WORDS; do values="$values${values:+,}($i,'$w')"; i=$((i + 1)); done
  sqlite3 "$1" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
CREATE TEMP TABLE w (k INTEGER PRIMARY KEY, word TEXT);
INSERT INTO w VALUES $values;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body,
    reporter_name, reporter_email, anonymous, confidential, received_at, raw_content_type, raw, created_at, updated_at)
SELECT printf('%04d-%04d', i / 10000, i % 10000), 'webform', 'web', 'seed-' || i,
    CASE i % 10 WHEN 0 THEN 'forwarded' WHEN 1 THEN 'closed' WHEN 2 THEN 'verified' WHEN 3 THEN 'answered' ELSE 'new' END,
    t, t || ' di RT ' || (i % 20) || ' RW ' || (i % 7) || ', mohon segera ditindaklanjuti oleh dinas terkait. Warga sudah lama menunggu.',
    'Warga ' || i, 'warga' || i || '@contoh.id', 0, 0, 1767225600000000 + i * 1000000, 'text/plain', X'', 0, 0
FROM (SELECT i,
        (SELECT word FROM w WHERE k = i % 40) || ' ' || (SELECT word FROM w WHERE k = (i / 40) % 40) || ' '
        || (SELECT word FROM w WHERE k = (i / 1600) % 40) AS t FROM n);
$(receipts)
COMMIT;
ANALYZE;
SQL
}

seed_pg() { # url
  local arr="" w
  for w in $WORDS; do arr="$arr${arr:+,}'$w'"; done
  psql -q -v ON_ERROR_STOP=1 "$1" <<SQL
SET synchronous_commit = off;
INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body,
    reporter_name, reporter_email, anonymous, confidential, received_at, raw_content_type, raw, created_at, updated_at)
SELECT lpad((i / 10000)::text, 4, '0') || '-' || lpad((i % 10000)::text, 4, '0'), 'webform', 'web', 'seed-' || i,
    CASE i % 10 WHEN 0 THEN 'forwarded' WHEN 1 THEN 'closed' WHEN 2 THEN 'verified' WHEN 3 THEN 'answered' ELSE 'new' END,
    t, t || ' di RT ' || (i % 20) || ' RW ' || (i % 7) || ', mohon segera ditindaklanjuti oleh dinas terkait. Warga sudah lama menunggu.',
    'Warga ' || i, 'warga' || i || '@contoh.id', false, false, 1767225600000000 + i::bigint * 1000000, 'text/plain', ''::bytea, 0, 0
FROM (SELECT i, a[1 + i % 40] || ' ' || a[1 + (i / 40) % 40] || ' ' || a[1 + (i / 1600) % 40] AS t
      FROM generate_series(1, $ROWS) i, (SELECT ARRAY[$arr] AS a) v) s;
$(receipts)
VACUUM ANALYZE complaints;
VACUUM ANALYZE outbox;
-- What seeding dirtied is written out now, not by a checkpoint in the middle of a run.
CHECKPOINT;
SQL
}

make_users() { # dir -> tokens file (one coordinator per line; 51 of them)
  for i in $(seq 0 50); do
    "$BIN" --config "$1/aduan.toml" users create "bench$i" --role coordinator 2>/dev/null
  done > "$1/tokens"
}

measure_http() { # pid port ready-path tokens [ops] -> client output; then stops pid
  local pid=$1 base="http://127.0.0.1:$2"
  for _ in $(seq 1 300); do curl -sf "$base$3" >/dev/null && break; sleep 0.1; done
  "$LIB" http "$base" "$4" "$N" ${5:+"$5"}
  kill -TERM "$pid"; wait "$pid" || true
}

run_aduan() { # dir -> client output
  "$BIN" run --config "$1/aduan.toml" 2>"$1/log" &
  measure_http $! "$port" /readyz "$1/tokens"
}

run_bare() { # database-url dir -> client output: the bare SQL over the bare HTTP stack
  "$BARE" "$1" "127.0.0.1:$bare_port" 2>"$2/bare.log" &
  measure_http $! "$bare_port" /healthz "$2/tokens" floor,page,search
}

release_claims() { echo "UPDATE complaints SET claimed_by = NULL, claim_until = NULL WHERE claimed_by IS NOT NULL;"; }

pct_of_log() { # p files... -> p50 p99 in ms from pgbench logs (column 3: latency in us)
  cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {
    p50=a[int(0.5*(NR-1))+1]; p99=a[int(0.99*(NR-1)+0.5)+1]; printf "%.3f %.3f %d\n", p50/1000, p99/1000, NR}'
}

SELECT_COLS="c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking
    FROM complaints c LEFT JOIN users u ON u.id = c.claimed_by LEFT JOIN complaints m ON m.id = c.merged_into"

pg_baseline() { # url
  local d="$WORK/pgb"
  mkdir -p "$d"
  echo "SELECT $SELECT_COLS WHERE TRUE AND c.status = 'new' ORDER BY c.received_at, c.id LIMIT 51;" > "$d/page.sql"
  echo "SELECT $SELECT_COLS WHERE TRUE AND c.search @@ plainto_tsquery('simple', 'jalan rusak') ORDER BY c.received_at, c.id LIMIT 51;" > "$d/search.sql"
  cat > "$d/claim.sql" <<'SQL'
\set u random(1, 50)
UPDATE complaints SET claimed_by = :u, claim_until = (extract(epoch from now()) * 1000000)::bigint + 900000000
 WHERE id = (SELECT c.id FROM complaints c WHERE TRUE AND c.status IN ('new', 'verified', 'not_authority')
             AND (c.claimed_by IS NULL OR c.claim_until <= (extract(epoch from now()) * 1000000)::bigint)
             ORDER BY c.received_at, c.id LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND (claimed_by IS NULL OR claim_until <= (extract(epoch from now()) * 1000000)::bigint) RETURNING tracking_id;
SQL
  local op
  # Each run's logs only (log.OP.PID[.THREAD]), not the scripts nor an earlier round's.
  rm -f "$d"/log.*
  for op in page search; do
    (cd "$d" && pgbench -n -c 1 -t "$N" -f "$op.sql" --log --log-prefix="log.$op" "$1" >/dev/null 2>"$d/err") ||
      { cat "$d/err" >&2; return 1; }
    echo "$op $(pct_of_log "$d/log.$op".*)"
  done
  (cd "$d" && pgbench -n -c 50 -j 2 -t $((N / 5 > 0 ? N / 5 : 1)) -f claim.sql --log --log-prefix=log.claim "$1" >/dev/null 2>"$d/err") ||
    { cat "$d/err" >&2; return 1; }
  echo "claim $(pct_of_log "$d"/log.claim.*)"
}

medians() { # round files... -> "op p50 p99 samples": per operation, the median of the rounds
  "$PY" - "$@" <<'PY'
import statistics, sys
ops = {}
for f in sys.argv[1:]:
    for line in open(f):
        op, p50, p99, n = line.split()
        ops.setdefault(op, []).append((float(p50), float(p99), int(n)))
for op, rs in ops.items():
    print(op, statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs), sum(r[2] for r in rs))
PY
}

spread() { # label files... -> per operation, each round's p99
  "$PY" - "$@" <<'PY'
import sys
ops = {}
for f in sys.argv[2:]:
    for line in open(f):
        op, _, p99, _ = line.split()
        ops.setdefault(op, []).append(float(p99))
print("  %-10s %s" % (sys.argv[1], "  ".join("%s %s" % (op, "/".join("%.2f" % x for x in v)) for op, v in ops.items())))
PY
}

table() { # label in-process-file http-file base-file stack-file
  echo "$1"
  printf '  %-7s %9s %9s %9s %9s %9s %9s %7s %7s %9s %9s %7s\n' op "lib p50" "lib p99" "http p50" "http p99" \
    "sql p50" "sql p99" "lib x" "http x" "stk p50" "stk p99" "http xs"
  # The bare stack serves the reads only: its columns are empty for claim-next.
  join <(sort "$2") <(sort "$3") | join - <(sort "$4") | join -a 1 -e - -o auto - <(sort "$5") |
    while read -r op l50 l99 _ h50 h99 _ b50 b99 _ s50 s99 _; do
      local stack="      -         -        -"
      [ "$s99" = - ] || stack=$(printf '%7.2fms %7.2fms %7.2f' "$s50" "$s99" "$(echo "$h99 / $s99" | bc -l)")
      printf '  %-7s %7.2fms %7.2fms %7.2fms %7.2fms %7.2fms %7.2fms %7.2f %7.2f %s\n' "$op" \
        "$l50" "$l99" "$h50" "$h99" "$b50" "$b99" "$(echo "$l99 / $b99" | bc -l)" \
        "$(echo "$h99 / $b99" | bc -l)" "$stack"
    done
}

# --- SQLite -----------------------------------------------------------------------------
d="$WORK/sqlite"; mkdir -p "$d"; config "$d" ""
"$BIN" migrate --config "$d/aduan.toml" >/dev/null
echo "seeding $ROWS complaints into SQLite..." >&2
t0=$SECONDS; seed_sqlite "$d/data/aduan.db"; echo "  seeded in $((SECONDS - t0)) s" >&2
make_users "$d"
for r in $(seq -w 1 "$ROUNDS"); do
  echo "  SQLite round $r of $ROUNDS" >&2
  run_aduan "$d" > "$WORK/sq_aduan.$r"
  sqlite3 "$d/data/aduan.db" "$(release_claims)"
  "$LIB" lib "$d/aduan.toml" "$d/tokens" "$N" > "$WORK/sq_lib.$r"
  sqlite3 "$d/data/aduan.db" "$(release_claims)"
  "$PY" bench/queue_client.py sqlite "$d/data/aduan.db" "$N" > "$WORK/sq_base.$r"
  "$PY" bench/queue_client.py shell "$d/data/aduan.db" "$N" > "$WORK/sq_shell.$r"
  sqlite3 "$d/data/aduan.db" "$(release_claims)"
  run_bare "sqlite://$d/data/aduan.db" "$d" > "$WORK/sq_stack.$r"
done

# --- PostgreSQL -------------------------------------------------------------------------
d="$WORK/pg"; mkdir -p "$d"
psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
config "$d" "$PG_BASE/$DB"
"$BIN" migrate --config "$d/aduan.toml" >/dev/null
echo "seeding $ROWS complaints into PostgreSQL..." >&2
t0=$SECONDS; seed_pg "$PG_BASE/$DB"; echo "  seeded in $((SECONDS - t0)) s" >&2
make_users "$d"
for r in $(seq -w 1 "$ROUNDS"); do
  echo "  PostgreSQL round $r of $ROUNDS" >&2
  run_aduan "$d" > "$WORK/pg_aduan.$r"
  psql -q "$PG_BASE/$DB" -c "$(release_claims)" -c "VACUUM complaints" >/dev/null
  "$LIB" lib "$d/aduan.toml" "$d/tokens" "$N" > "$WORK/pg_lib.$r"
  psql -q "$PG_BASE/$DB" -c "$(release_claims)" -c "VACUUM complaints" >/dev/null
  pg_baseline "$PG_BASE/$DB" > "$WORK/pg_base.$r"
  psql -q "$PG_BASE/$DB" -c "$(release_claims)" -c "VACUUM complaints" >/dev/null
  run_bare "$PG_BASE/$DB" "$d" > "$WORK/pg_stack.$r"
done
for f in sq_aduan sq_lib sq_base sq_shell sq_stack pg_aduan pg_lib pg_base pg_stack; do medians "$WORK/$f".* > "$WORK/$f"; done

echo
echo "Queue at $ROWS complaints, $N samples per operation and round (claim: 50 concurrent claimers);"
echo "medians of $ROUNDS alternating rounds:"
echo "(lib: aduan in process; http: aduan over HTTP; sql: the bare SQL; stk: the bare SQL over the"
echo " bare HTTP stack; lib x, http x: p99 over the bare SQL's; http xs: p99 over the bare stack's)"
table "SQLite (the bare SQL through Python's sqlite3)" \
  "$WORK/sq_lib" "$WORK/sq_aduan" "$WORK/sq_base" "$WORK/sq_stack"
echo "SQLite, the bare SQL through the sqlite3 shell over a pipe (sh; http xsh: aduan over HTTP's p99 over it):"
printf '  %-7s %9s %9s %7s\n' op "sh p50" "sh p99" "http xsh"
join <(sort "$WORK/sq_shell") <(sort "$WORK/sq_aduan") | while read -r op s50 s99 _ _ h99 _; do
  printf '  %-7s %7.2fms %7.2fms %7.2f\n' "$op" "$s50" "$s99" "$(echo "$h99 / $s99" | bc -l)"
done
table "PostgreSQL (the bare SQL through pgbench)" \
  "$WORK/pg_lib" "$WORK/pg_aduan" "$WORK/pg_base" "$WORK/pg_stack"
echo "GET /healthz, which reads nothing, through the same client (aduan, then the bare stack):"
for f in sq_aduan sq_stack pg_aduan pg_stack; do
  read -r _ p50 p99 _ < <(grep '^floor ' "$WORK/$f")
  printf '  %-10s p50 %.2fms  p99 %.2fms\n' "$f" "$p50" "$p99"
done
echo "Each round's p99 in ms (http: aduan over HTTP; lib: in process; sql: bare; shell: the sqlite3"
echo " shell; stack: bare over HTTP):"
for f in sq_aduan sq_lib sq_base sq_shell sq_stack pg_aduan pg_lib pg_base pg_stack; do
  label=${f/sq_/SQLite }; label=${label/pg_/PostgreSQL }; label=${label/aduan/http}; label=${label/base/sql}
  spread "$label" "$WORK/$f".*
done
