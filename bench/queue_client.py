#!/usr/bin/env python3
"""Latency of the bare SQL behind the admin queue on SQLite (driven by bench/queue.sh,
which seeds the database; aduan itself is measured by examples/queue_bench.rs).

  queue_client.py sqlite DB_FILE N [OPS] # aduan's SQL through Python's sqlite3, in this thread
  queue_client.py shell DB_FILE N [OPS]  # the same SQL through the sqlite3 shell, over a pipe

Prints one line per operation: `NAME p50_ms p99_ms count`; with QUEUE_BENCH_RAW=DIR, also
appends each operation's samples (ms, one a line) to DIR/NAME, as examples/queue_bench.rs
does. OPS picks operations, comma-separated (all by default):
  page   the first page (50) of the `new` queue, oldest first
  search a full-text search, first page
  claim  claim-next, 50 concurrent claimers, each N/5 times (not in the shell)

Python's sqlite3 runs the statement in this thread: no process boundary, a cached
prepared statement. The shell (`sqlite3 -batch`, kept running) is the bare SQL as pgbench
is for PostgreSQL: each sample writes the statement to the shell, which parses, runs and
prints it, and reads its output back to an end marker, as an HTTP client reads aduan's
answer.
"""
import os
import sqlite3
import subprocess
import sys
import threading
import time

SEARCH = "jalan rusak"
# The search as aduan hands it to FTS5: each word a whole word, quoted.
FTS = " ".join('"%s"' % w for w in SEARCH.split())
SEARCH_COND = "c.id IN (SELECT rowid FROM complaints_fts WHERE complaints_fts MATCH {})"
PAGE = 50
CLAIMERS = 50


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def report(name, samples):
    raw = os.environ.get("QUEUE_BENCH_RAW")
    if raw:
        with open(os.path.join(raw, name), "a") as f:
            f.write("".join("%.4f\n" % (x * 1000) for x in samples))
    print("%s %.3f %.3f %d" % (name, pct(samples, 50) * 1000, pct(samples, 99) * 1000, len(samples)))
    sys.stdout.flush()


def timed(n, f, warmup=20):
    for _ in range(warmup):
        f()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return out


def concurrently(workers, per_worker, make):
    """Runs per_worker calls of make(i)() in each of `workers` threads, all at once."""
    samples, lock = [], threading.Lock()
    start = threading.Barrier(workers)

    def run(i):
        call = make(i)
        call()  # warm the connection
        start.wait()
        mine = []
        for _ in range(per_worker):
            t = time.perf_counter()
            call()
            mine.append(time.perf_counter() - t)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples


# The statements aduan runs (src/queue/service.rs), with its joins and parameters.
SQL_PAGE = """SELECT c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking
    FROM complaints c LEFT JOIN users u ON u.id = c.claimed_by LEFT JOIN complaints m ON m.id = c.merged_into
    WHERE TRUE AND {cond} ORDER BY c.received_at, c.id LIMIT {limit}"""


def sqlite_mode(db, n, ops):
    # With the settings of aduan's pool (src/store/mod.rs).
    con = sqlite3.connect(db, check_same_thread=False)
    con.execute("PRAGMA busy_timeout = 10000")
    con.execute("PRAGMA mmap_size = 1073741824")
    if "page" in ops:
        page = SQL_PAGE.format(cond="c.status = ?", limit=PAGE + 1)
        report("page", timed(n, lambda: con.execute(page, ("new",)).fetchall()))
    if "search" in ops:
        search = SQL_PAGE.format(cond=SEARCH_COND.format("?"), limit=PAGE + 1)
        assert con.execute(search, (FTS,)).fetchall(), "the search found nothing"
        report("search", timed(n, lambda: con.execute(search, (FTS,)).fetchall()))
    if "claim" not in ops:
        return
    claim = """UPDATE complaints SET claimed_by = ?, claim_until = ?
        WHERE id = (SELECT c.id FROM complaints c WHERE TRUE AND c.status IN ('new', 'verified', 'not_authority')
                    AND (c.claimed_by IS NULL OR c.claim_until <= ?) ORDER BY c.received_at, c.id LIMIT 1)
          AND (claimed_by IS NULL OR claim_until <= ?) RETURNING tracking_id"""

    def claimer(i):
        # As aduan's pool: WAL, synchronous=FULL, a 10 s busy timeout, retried when busy.
        c = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        c.execute("PRAGMA busy_timeout = 10000")
        c.execute("PRAGMA synchronous = FULL")
        c.execute("PRAGMA mmap_size = 1073741824")
        user = 1 + i

        def go():
            while True:
                now = int(time.time() * 1e6)
                try:
                    c.execute(claim, (user, now + 900 * 10**6, now, now)).fetchall()
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e):
                        raise

        return go

    report("claim", concurrently(CLAIMERS, max(1, n // 5), claimer))


def shell_mode(db, n, ops):
    # The shell with the settings of aduan's pool, one statement (and its output) at a time.
    shell = subprocess.Popen(["sqlite3", "-batch", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             bufsize=0)
    out = shell.stdout.fileno()
    end = b"#END#\n"

    def run(sql):
        shell.stdin.write(sql.encode() + b";\nSELECT '#END#';\n")
        got = b""
        while not got.endswith(end):
            chunk = os.read(out, 1 << 16)
            if not chunk:
                raise SystemExit("the sqlite3 shell stopped")
            got += chunk
        return got

    run("PRAGMA busy_timeout = 10000")
    run("PRAGMA mmap_size = 1073741824")
    if "page" in ops:
        page = SQL_PAGE.format(cond="c.status = 'new'", limit=PAGE + 1)
        assert run(page).count(b"\n") == PAGE + 2, "the page is not full"
        report("page", timed(n, lambda: run(page)))
    if "search" in ops:
        search = SQL_PAGE.format(cond=SEARCH_COND.format("'%s'" % FTS), limit=PAGE + 1)
        assert run(search).count(b"\n") > 1, "the search found nothing"
        report("search", timed(n, lambda: run(search)))
    shell.stdin.close()
    shell.wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    modes = {"sqlite": sqlite_mode, "shell": shell_mode}
    if len(args) not in (3, 4) or args[0] not in modes:
        raise SystemExit(__doc__)
    modes[args[0]](args[1], int(args[2]), (args[3] if len(args) == 4 else "page,search,claim").split(","))
