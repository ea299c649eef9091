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
# The page and the search are measured in short blocks (BLOCK samples, after 20 untimed;
# N in all per side), the sides taking turns block by block (each block starting with the
# next side), each block a new process and connection: a stall of the machine, which
# lasts from a fraction of a second to a few, falls on a block or two of whichever side
# was running, and over dozens of blocks on every side alike. Each side's p50 and p99 are
# of all its samples pooled; the p99 of each third of the blocks is printed to show how
# steady the machine was. Claim-next (50 claimers, CLAIMS claims each, emptying the queue
# as it goes) runs in ROUNDS alternating rounds after the reads; each figure is the
# median of its rounds'.
#
#   bench/queue.sh                               # 1,000,000 rows, 1,500 samples in 15
#                                                # blocks, 3 claim rounds of 100 each
#   N=6000 CLAIMS=400 bench/queue.sh             # the figures in docs/benchmarks.md
#   ROWS=100000 N=200 ROUNDS=1 bench/queue.sh    # quicker
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-1000000}
N=${N:-1500}
BLOCK=${BLOCK:-100}
BLOCKS=$(((N + BLOCK - 1) / BLOCK))
N=$((BLOCKS * BLOCK))
ROUNDS=${ROUNDS:-3}
CLAIMS=${CLAIMS:-100}
CLAIM_N=$((CLAIMS * 5))
WARMUP=20 # untimed requests or statements first in each block, as in the clients
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

measure_http() { # pid port ready-path tokens n ops -> client output; then stops pid
  local pid=$1 base="http://127.0.0.1:$2"
  for _ in $(seq 1 300); do curl -sf "$base$3" >/dev/null && break; sleep 0.05; done
  "$LIB" http "$base" "$4" "$5" "$6"
  kill -TERM "$pid"; wait "$pid" || true
}

run_aduan() { # dir n ops -> client output
  "$BIN" run --config "$1/aduan.toml" 2>>"$1/log" &
  measure_http $! "$port" /readyz "$1/tokens" "$2" "$3"
}

run_bare() { # database-url dir -> client output: the bare SQL over the bare HTTP stack
  "$BARE" "$1" "127.0.0.1:$bare_port" 2>>"$2/bare.log" &
  measure_http $! "$bare_port" /healthz "$2/tokens" "$BLOCK" floor,page,search
}

release_claims() { echo "UPDATE complaints SET claimed_by = NULL, claim_until = NULL WHERE claimed_by IS NOT NULL;"; }

SELECT_COLS="c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking
    FROM complaints c LEFT JOIN users u ON u.id = c.claimed_by LEFT JOIN complaints m ON m.id = c.merged_into"

pgb="$WORK/pgb"
mkdir -p "$pgb"
echo "SELECT $SELECT_COLS WHERE TRUE AND c.status = 'new' ORDER BY c.received_at, c.id LIMIT 51;" > "$pgb/page.sql"
echo "SELECT $SELECT_COLS WHERE TRUE AND c.search @@ plainto_tsquery('simple', 'jalan rusak') ORDER BY c.received_at, c.id LIMIT 51;" > "$pgb/search.sql"
cat > "$pgb/claim.sql" <<'SQL'
\set u random(1, 50)
UPDATE complaints SET claimed_by = :u, claim_until = (extract(epoch from now()) * 1000000)::bigint + 900000000
 WHERE id = (SELECT c.id FROM complaints c WHERE TRUE AND c.status IN ('new', 'verified', 'not_authority')
             AND (c.claimed_by IS NULL OR c.claim_until <= (extract(epoch from now()) * 1000000)::bigint)
             ORDER BY c.received_at, c.id LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND (claimed_by IS NULL OR claim_until <= (extract(epoch from now()) * 1000000)::bigint) RETURNING tracking_id;
SQL

pgbench_reads() { # url -> appends the page's and the search's latencies (ms) to $QUEUE_BENCH_RAW
  local op
  for op in page search; do
    # A new connection each block, as the other sides' clients: its first WARMUP
    # statements are not counted (they warm the server's caches for it, as theirs do).
    rm -f "$pgb"/log.*
    (cd "$pgb" && pgbench -n -c 1 -t $((BLOCK + WARMUP)) -f "$op.sql" --log --log-prefix=log "$1" >/dev/null 2>"$pgb/err") ||
      { cat "$pgb/err" >&2; return 1; }
    pgbench_ms $((WARMUP + 1)) >> "$QUEUE_BENCH_RAW/$op"
  done
}

pgbench_ms() { # first -> the latencies (ms, one a line) in pgbench's logs, from the first-th on
  cat "$pgb"/log.* | tail -n +"$1" | awk '{printf "%.4f\n", $3 / 1000}'
}

pgbench_claims() { # url -> the claim line
  rm -f "$pgb"/log.*
  (cd "$pgb" && pgbench -n -c 50 -j 2 -t "$CLAIMS" -f claim.sql --log --log-prefix=log "$1" >/dev/null 2>"$pgb/err") ||
    { cat "$pgb/err" >&2; return 1; }
  mkdir -p "$pgb/raw"
  pgbench_ms 1 > "$pgb/raw/claim"
  samples pooled "$pgb/raw"
}

read_block() { # backend side dir db -> one block of the side's reads, appended to raw/BACKEND_SIDE/
  export QUEUE_BENCH_RAW="$WORK/raw/$1_$2"
  mkdir -p "$QUEUE_BENCH_RAW"
  case $1/$2 in
    */http) run_aduan "$3" "$BLOCK" floor,page,search ;;
    */lib) "$LIB" lib "$3/aduan.toml" "$3/tokens" "$BLOCK" page,search ;;
    sq/sql) "$PY" bench/queue_client.py sqlite "$4" "$BLOCK" page,search ;;
    sq/shell) "$PY" bench/queue_client.py shell "$4" "$BLOCK" page,search ;;
    pg/sql) pgbench_reads "$4" ;;
    sq/stack) run_bare "sqlite://$4" "$3" ;;
    pg/stack) run_bare "$4" "$3" ;;
  esac > /dev/null
  unset QUEUE_BENCH_RAW
}

reads() { # backend dir db sides... -> BLOCKS blocks of each side's reads, the sides alternating
  local backend=$1 dir=$2 db=$3 b k
  shift 3
  local sides=("$@")
  for b in $(seq 0 $((BLOCKS - 1))); do
    if [ $((b % 10)) = 0 ]; then echo "  $backend reads: block $((b + 1)) of $BLOCKS" >&2; fi
    # Each block starts with the next side: none is always the first after another.
    for k in $(seq 0 $((${#sides[@]} - 1))); do
      read_block "$backend" "${sides[$(((b + k) % ${#sides[@]}))]}" "$dir" "$db"
    done
  done
}

claims() { # backend dir db release-command -> claim lines in $WORK/BACKEND_claim_SIDE.ROUND
  local r
  for r in $(seq 1 "$ROUNDS"); do
    echo "  $1 claim-next: round $r of $ROUNDS" >&2
    run_aduan "$2" "$CLAIM_N" claim > "$WORK/$1_claim_http.$r"
    $4
    "$LIB" lib "$2/aduan.toml" "$2/tokens" "$CLAIM_N" claim > "$WORK/$1_claim_lib.$r"
    $4
    if [ "$1" = sq ]; then
      "$PY" bench/queue_client.py sqlite "$3" "$CLAIM_N" claim > "$WORK/$1_claim_sql.$r"
    else
      pgbench_claims "$3" > "$WORK/$1_claim_sql.$r"
    fi
    $4
  done
}

samples() { # pooled DIR | thirds LABEL DIR: from DIR/OP, each operation's samples (ms, one
  # a line): "op p50 p99 samples" over them all, or one line of the p99 of each third
  "$PY" - "$@" <<'PY'
import os, sys
def at(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
def ops(d):
    for op in sorted(os.listdir(d)):
        yield op, [float(x) for x in open(os.path.join(d, op))]
if sys.argv[1] == "pooled":
    for op, xs in ops(sys.argv[2]):
        print(op, at(xs, 50), at(xs, 99), len(xs))
else:
    out = []
    for op, xs in ops(sys.argv[3]):
        k = len(xs) // 3
        parts = [xs[i * k:(i + 1) * k if i < 2 else len(xs)] for i in range(3)]
        out.append("%s %s" % (op, "/".join("%.2f" % at(p, 99) for p in parts if p)))
    print("  %-16s %s" % (sys.argv[2], "  ".join(out)))
PY
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

summarize() { # backend: pooled reads and median claims into $WORK/BACKEND_SIDE
  local side
  for side in http lib sql shell stack; do
    [ -d "$WORK/raw/$1_$side" ] || continue
    samples pooled "$WORK/raw/$1_$side" > "$WORK/$1_$side.all"
    # The floor is printed on its own; the bare stack has no claim-next.
    grep -v '^floor ' "$WORK/$1_$side.all" > "$WORK/$1_$side" || true
    grep '^floor ' "$WORK/$1_$side.all" > "$WORK/$1_${side}_floor" || true
    if [ -e "$WORK/$1_claim_$side.1" ]; then medians "$WORK/$1_claim_$side".* >> "$WORK/$1_$side"; fi
  done
}

# --- SQLite -----------------------------------------------------------------------------
d="$WORK/sqlite"; mkdir -p "$d"; config "$d" ""
"$BIN" migrate --config "$d/aduan.toml" >/dev/null
echo "seeding $ROWS complaints into SQLite..." >&2
t0=$SECONDS; seed_sqlite "$d/data/aduan.db" >/dev/null; echo "  seeded in $((SECONDS - t0)) s" >&2
make_users "$d"
sq_release() { sqlite3 "$d/data/aduan.db" "$(release_claims)"; }
reads sq "$d" "$d/data/aduan.db" http lib sql shell stack
claims sq "$d" "$d/data/aduan.db" sq_release

# --- PostgreSQL -------------------------------------------------------------------------
d="$WORK/pg"; mkdir -p "$d"
psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
config "$d" "$PG_BASE/$DB"
"$BIN" migrate --config "$d/aduan.toml" >/dev/null
echo "seeding $ROWS complaints into PostgreSQL..." >&2
t0=$SECONDS; seed_pg "$PG_BASE/$DB"; echo "  seeded in $((SECONDS - t0)) s" >&2
make_users "$d"
pg_release() { psql -q "$PG_BASE/$DB" -c "$(release_claims)" -c "VACUUM complaints" >/dev/null; }
reads pg "$d" "$PG_BASE/$DB" http lib sql stack
claims pg "$d" "$PG_BASE/$DB" pg_release
summarize sq
summarize pg

echo
echo "Queue at $ROWS complaints. Page and search: $N samples per side, in $BLOCKS blocks of $BLOCK taken"
echo "in turn by each side (a new process and connection each block, after $WARMUP untimed); claim-next:"
echo "50 concurrent claimers, $CLAIMS claims each, the median of $ROUNDS alternating rounds."
echo "(lib: aduan in process; http: aduan over HTTP; sql: the bare SQL; stk: the bare SQL over the"
echo " bare HTTP stack; lib x, http x: p99 over the bare SQL's; http xs: p99 over the bare stack's)"
table "SQLite (the bare SQL through Python's sqlite3)" "$WORK/sq_lib" "$WORK/sq_http" "$WORK/sq_sql" "$WORK/sq_stack"
echo "SQLite, the bare SQL through the sqlite3 shell over a pipe (sh; http xsh: aduan over HTTP's p99 over it):"
printf '  %-7s %9s %9s %7s\n' op "sh p50" "sh p99" "http xsh"
join <(sort "$WORK/sq_shell") <(sort "$WORK/sq_http") | while read -r op s50 s99 _ _ h99 _; do
  printf '  %-7s %7.2fms %7.2fms %7.2f\n' "$op" "$s50" "$s99" "$(echo "$h99 / $s99" | bc -l)"
done
table "PostgreSQL (the bare SQL through pgbench)" "$WORK/pg_lib" "$WORK/pg_http" "$WORK/pg_sql" "$WORK/pg_stack"
echo "GET /healthz, which reads nothing, through the same client (aduan, then the bare stack):"
for f in sq_http sq_stack pg_http pg_stack; do
  read -r _ p50 p99 _ < "$WORK/${f}_floor"
  printf '  %-10s p50 %.2fms  p99 %.2fms\n' "$f" "$p50" "$p99"
done
echo "The reads' p99 in ms in each third of the blocks, in order (http: aduan over HTTP; lib: in"
echo " process; sql: bare; shell: the sqlite3 shell; stack: bare over HTTP):"
for f in sq_http sq_lib sq_sql sq_shell sq_stack pg_http pg_lib pg_sql pg_stack; do
  label=${f/sq_/SQLite }; label=${label/pg_/PostgreSQL }
  samples thirds "$label" "$WORK/raw/$f"
done
echo "Claim-next's p99 in ms in each round:"
for f in sq_claim_http sq_claim_lib sq_claim_sql pg_claim_http pg_claim_lib pg_claim_sql; do
  label=${f/sq_claim_/SQLite }; label=${label/pg_claim_/PostgreSQL }
  printf '  %-16s %s\n' "$label" "$(cut -d' ' -f3 "$WORK/$f".* | paste -sd/)"
done
