#!/usr/bin/env bash
# Import throughput: `aduan import` of a generated legacy register of ROWS rows (CSV,
# ~1 KiB a row, Indonesian headers and dates), against SQLite and PostgreSQL, timed
# from start to exit (reading, parsing, filing, every row committed). In the same run,
# the raw baseline: the same file loaded into a plain table by the database's own bulk
# loader (sqlite3 `.import`, psql `\copy`), with no checks, keys or indexes. Prints rows/s
# for both and their ratio (aduan's rate over the loader's); compare aduan's figure with
# the web-form ingest rate of bench/ingest.sh (docs/benchmarks.md), which the issue asks
# it to reach. IMPORT_ARGS passes options to `aduan import` (`--batch 256`).
#
#   bench/import.sh                          # 100,000 rows, release build
#   ROWS=20000 bench/import.sh               # quicker
#   BIN=target/debug/aduan ROWS=20000 bench/import.sh   # without a release build
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-100000}
PG_ADMIN=${ADUAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}

if [ -z "${BIN:-}" ]; then
  cargo build --release --locked --quiet
  BIN=$PWD/target/release/aduan
fi
WORK=$(mktemp -d)
PGDB=aduan_bench_import_$$
trap 'rm -rf "$WORK"; psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1 || true' EXIT

python3 - "$WORK/register.csv" "$ROWS" <<'PY'
import csv, random, sys
path, rows = sys.argv[1], int(sys.argv[2])
body = "Sudah tiga hari air tidak mengalir, warga terpaksa membeli air galon untuk minum dan memasak. " * 9
kanal = ["SMS", "Surat", "Datang Langsung", "Telepon", ""]
random.seed(7)
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["Judul", "Isi", "Tanggal", "Nama", "Kanal", "Kategori", "Lokasi", "Email", "Telepon"])
    for i in range(rows):
        d, m = 1 + i % 28, 1 + (i // 28) % 12
        w.writerow([f"Air PDAM tidak mengalir di RT {i % 20:02d} nomor {i}", body,
                    f"{d:02d}/{m:02d}/2025 {i % 24:02d}:{i % 60:02d}", "Siti Aminah",
                    kanal[i % len(kanal)], "air-bersih", "Kampung Dalam, Siak",
                    "siti@contoh.id", "081234567890"])
PY
echo "register: $ROWS rows, $(du -h "$WORK/register.csv" | cut -f1)"

rate() { python3 -c "print(round($1 / $2))"; }
ratio() { python3 -c "print(f'{$2 / $1:.3f}')"; } # seconds: aduan's, the loader's
now() { date +%s.%N; }

run_import() { # name url: prints "seconds"
  local dir="$WORK/$1"
  mkdir -p "$dir"
  printf 'data_dir = "%s/data"\n[database]\nurl = "%s"\n' "$dir" "$2" > "$dir/aduan.toml"
  "$BIN" --config "$dir/aduan.toml" migrate >/dev/null
  local t0 t1
  t0=$(now)
  "$BIN" --config "$dir/aduan.toml" import ${IMPORT_ARGS:-} "$WORK/register.csv" > "$dir/out" 2> "$dir/err"
  t1=$(now)
  grep -q "$ROWS rows: $ROWS filed" "$dir/out" || { cat "$dir/out" "$dir/err" >&2; exit 1; }
  python3 -c "print($t1 - $t0)"
}

# SQLite
s=$(run_import sqlite "")
t0=$(now)
sqlite3 "$WORK/baseline.db" -cmd "PRAGMA journal_mode=WAL" -cmd "PRAGMA synchronous=FULL" \
  ".import --csv $WORK/register.csv legacy" >/dev/null
b=$(python3 -c "print($(now) - $t0)")
echo "SQLite:     aduan import $(rate "$ROWS" "$s") rows/s ($s s); sqlite3 .import $(rate "$ROWS" "$b") rows/s; ratio $(ratio "$s" "$b")"

# PostgreSQL
psql -q "$PG_ADMIN" -c "CREATE DATABASE $PGDB" >/dev/null
s=$(run_import postgres "$PG_BASE/$PGDB")
psql -q "$PG_BASE/$PGDB" -c "CREATE TABLE legacy (judul text, isi text, tanggal text, nama text, kanal text, kategori text, lokasi text, email text, telepon text)" >/dev/null
t0=$(now)
psql -q "$PG_BASE/$PGDB" -c "\\copy legacy FROM '$WORK/register.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
b=$(python3 -c "print($(now) - $t0)")
echo "PostgreSQL: aduan import $(rate "$ROWS" "$s") rows/s ($s s); psql \\copy $(rate "$ROWS" "$b") rows/s; ratio $(ratio "$s" "$b")"
