//! The SQLite side of the pools: each connection's setup, the read pool, and the
//! queue's list through rusqlite.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;

use super::{native_pool, ACQUIRE_TIMEOUT};
use crate::store::error::StoreError;
use crate::store::row::{ColumnTable, SqliteRow};

/// What every SQLite connection runs first. WAL lets readers go on while the writer
/// commits; synchronous=FULL makes a commit durable before a 201 is sent; foreign keys
/// are off by default in SQLite. mmap reads straight from the OS page cache instead of
/// a read() per page: a search that visits thousands of rows spent half its time in the
/// kernel (address space only; the file is not loaded).
pub(super) const SESSION: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000", // BUSY_TIMEOUT
    "PRAGMA mmap_size = 1073741824",
];

/// SQLite's busy timeout on every connection (`SESSION`'s `PRAGMA busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the directory a `sqlite://` file lives in, when it is not there yet.
pub(super) fn create_parent_dir(url: &str) -> Result<(), StoreError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
    {
        if let Some(parent) = Path::new(path).parent() {
            std::fs::create_dir_all(parent)?;
        }
    }
    Ok(())
}

/// The read pool (see `Reads`).
pub(super) fn reads(url: &str, max: u32) -> Result<sqlx::SqlitePool, StoreError> {
    Ok(native_pool(
        sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .disable_statement_logging()
            // Rows come from the connection's thread through a channel of this
            // size: room for a whole page (at most 500 and the one that tells
            // whether another follows), so the thread never waits on the reader.
            .row_buffer_size(512),
        SESSION,
        max,
    ))
}

/// The queue's list on SQLite, through rusqlite on a blocking thread: a page of 50
/// complaints is 1,500 values, and sqlx's SQLite driver copies each out of the row
/// (`sqlite3_value_dup`, then a free) and hands every row from its connection's thread
/// to the caller through a channel. rusqlite reads the values in place, and the whole
/// page crosses threads once. The connections are set up as every other (same bundled
/// SQLite, same pragmas), opened when first needed, and never create the file.
#[derive(Clone)]
pub(crate) struct SqliteLists(r2d2::Pool<r2d2_sqlite::SqliteConnectionManager>);

impl SqliteLists {
    /// `None` for an in-memory database, which another connection would not see.
    pub(super) fn open(url: &str, max: u32) -> Result<Option<Self>, StoreError> {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        let path = opts.get_filename();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(None);
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let manager = r2d2_sqlite::SqliteConnectionManager::file(path)
            .with_flags(flags)
            .with_init(|c| SESSION.iter().try_for_each(|s| c.execute_batch(s)));
        let pool = r2d2::Pool::builder()
            .max_size(max)
            .min_idle(Some(0))
            // A connection that fails shows in the query; checking each one first would
            // cost a statement per list.
            .test_on_check_out(false)
            .connection_timeout(ACQUIRE_TIMEOUT)
            .build_unchecked(manager);
        Ok(Some(Self(pool)))
    }

    /// Runs `sql` with `args` (bound in order) and turns each row into a `T`.
    ///
    /// A read the caller expects to be short (`short`: a keyset page along an index) runs
    /// on the calling thread when a connection is idle, within [`INLINE_STEPS`] of
    /// SQLite's virtual machine: a page is about 3,000, and handing it to a blocking
    /// thread and back would add two thread switches to its time and to its tail. A read
    /// that runs over is interrupted and run again on a blocking thread, as every other
    /// read is, so a filter that no index serves never holds a worker of the runtime for
    /// long.
    pub(crate) async fn rows<T, E, F>(
        &self,
        sql: String,
        args: Vec<rusqlite::types::Value>,
        short: bool,
        f: F,
    ) -> Result<Vec<T>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: Fn(&SqliteRow<'_>) -> Result<T, E> + Send + 'static,
    {
        if let Some(conn) = short.then(|| self.0.try_get()).flatten() {
            let read = {
                let _inline = InlineTry::on(&conn);
                read_rows(&conn, &sql, &args, &f)
            };
            match read {
                // Over budget, or the database busy (a WAL reader may have to wait, and
                // not on a worker of the runtime): on a blocking thread, from the start.
                Err(ReadError::Sqlite(e))
                    if matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::OperationInterrupted
                                | rusqlite::ErrorCode::DatabaseBusy
                                | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) => {}
                done => return done.map_err(ReadError::into_error),
            }
        }
        let pool = self.0.clone();
        let read = move || -> Result<Vec<T>, E> {
            let conn = pool.get().map_err(StoreError::from)?;
            read_rows(&conn, &sql, &args, &f).map_err(ReadError::into_error)
        };
        tokio::task::spawn_blocking(read)
            .await
            // The read panicked: a server error, not the caller's.
            .map_err(|_| StoreError::Db(sqlx::Error::WorkerCrashed))?
    }
}

/// How many steps of SQLite's virtual machine a short read may take on the calling
/// thread (see [`SqliteLists::rows`]), and how many the progress handler lets pass
/// between two looks.
const INLINE_STEPS: i32 = 25_000;
const STEPS_PER_CHECK: i32 = 1_000;

/// A connection set up for a read on the calling thread: interrupted past
/// [`INLINE_STEPS`], and never sleeping in SQLite's busy handler. Dropped, even by a
/// panic in the read, it leaves the connection as every other, so that a connection
/// back in the pool cannot interrupt the next read.
struct InlineTry<'c>(&'c rusqlite::Connection);

impl<'c> InlineTry<'c> {
    fn on(conn: &'c rusqlite::Connection) -> Self {
        let mut steps = 0;
        conn.progress_handler(
            STEPS_PER_CHECK,
            Some(move || {
                steps += STEPS_PER_CHECK;
                steps > INLINE_STEPS
            }),
        );
        // Setting a timeout fails only on a closed connection, which the read reports.
        let _ = conn.busy_timeout(Duration::ZERO);
        Self(conn)
    }
}

impl Drop for InlineTry<'_> {
    fn drop(&mut self) {
        self.0.progress_handler(0, None::<fn() -> bool>);
        let _ = self.0.busy_timeout(BUSY_TIMEOUT);
    }
}

/// Why [`read_rows`] stopped: SQLite (an interruption among others), or a row.
enum ReadError<E> {
    Sqlite(rusqlite::Error),
    Row(E),
}

impl<E: From<StoreError>> ReadError<E> {
    fn into_error(self) -> E {
        match self {
            Self::Sqlite(e) => E::from(StoreError::from(e)),
            Self::Row(e) => e,
        }
    }
}

fn read_rows<T, E>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[rusqlite::types::Value],
    f: &impl Fn(&SqliteRow<'_>) -> Result<T, E>,
) -> Result<Vec<T>, ReadError<E>> {
    let mut stmt = conn.prepare_cached(sql).map_err(ReadError::Sqlite)?;
    let columns = ColumnTable::of(&stmt);
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(ReadError::Sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(ReadError::Sqlite)? {
        out.push(f(&SqliteRow::new(row, &columns)).map_err(ReadError::Row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pool::{session_setup, Lists};
    use crate::store::row::Cols;
    use crate::store::tests::sqlite_store;
    use crate::store::Backend;

    async fn sqlite_lists() -> (tempfile::TempDir, SqliteLists) {
        let (dir, store) = sqlite_store(4).await;
        let Some(Lists::Sqlite(lists)) = store.lists.clone() else {
            panic!("a SQLite file reads its lists through rusqlite");
        };
        (dir, lists)
    }

    /// A read said to be short that runs past the inline budget is interrupted and
    /// finished on a blocking thread, whole, and the connection it was tried on is left
    /// without the interrupting handler.
    #[tokio::test]
    async fn a_short_read_that_runs_long_is_finished_whole() {
        let (_dir, lists) = sqlite_lists().await;
        let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                   SELECT count(*) AS c, max(i) AS m FROM n";
        let steps = i64::from(INLINE_STEPS);
        for _ in 0..3 {
            // Warm: the first read opens the pool's connection on a blocking thread.
            let got: Vec<(i64, i64)> = lists
                .rows(sql.into(), vec![steps.into()], true, |r| {
                    Ok::<_, StoreError>((r.col("c")?, r.col("m")?))
                })
                .await
                .expect("a long read is finished, not refused");
            assert_eq!(got, [(steps, steps)]);
        }
        // Not short: a handler left on the connection would interrupt it.
        let got: Vec<i64> = lists
            .rows(sql.into(), vec![steps.into()], false, |r| {
                Ok::<_, StoreError>(r.col("c")?)
            })
            .await
            .expect("a long read after interrupted ones");
        assert_eq!(got, [steps]);
    }

    /// A read that panics on the calling thread leaves its connection as it found it.
    #[tokio::test]
    async fn a_read_that_panics_leaves_its_connection_as_it_was() {
        let (_dir, lists) = sqlite_lists().await;
        let seven = || async {
            lists
                .rows("SELECT 7 AS seven".into(), vec![], true, |r| {
                    Ok::<_, StoreError>(r.col::<i64>("seven")?)
                })
                .await
                .expect("short read")
        };
        // The pool's one connection, opened and idle.
        assert_eq!(seven().await, [7]);
        let panicking = lists.clone();
        let panicked = tokio::spawn(async move {
            panicking
                .rows(
                    "SELECT 7 AS seven".into(),
                    vec![],
                    true,
                    |_| -> Result<i64, StoreError> { panic!("a row that cannot be read") },
                )
                .await
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        let steps = i64::from(INLINE_STEPS);
        let got: Vec<i64> = lists
            .rows(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 SELECT count(*) AS c FROM n"
                    .into(),
                vec![steps.into()],
                false,
                |r| Ok::<_, StoreError>(r.col("c")?),
            )
            .await
            .expect("a long read on the connection the panic left");
        assert_eq!(got, [steps]);
        let timeout: Vec<i64> = lists
            .rows("PRAGMA busy_timeout".into(), vec![], false, |r| {
                Ok::<_, StoreError>(r.col("timeout")?)
            })
            .await
            .expect("busy timeout");
        assert_eq!(timeout, [BUSY_TIMEOUT.as_millis() as i64]);
        // ... which is the one every connection is set up with.
        let pragma = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
        assert!(session_setup(Backend::Sqlite).contains(&pragma.as_str()));
    }

    /// Columns are found by name whatever order they are asked in, and a name two
    /// columns share finds the first, as sqlx's rows do.
    #[tokio::test]
    async fn columns_are_found_by_name_and_a_shared_name_finds_the_first() {
        let (_dir, lists) = sqlite_lists().await;
        for short in [false, true] {
            let got: Vec<[i64; 5]> = lists
                .rows(
                    "SELECT 1 AS a, 2 AS b, 3 AS a, 4 AS c".into(),
                    vec![],
                    short,
                    |r| {
                        Ok::<_, StoreError>([
                            r.col("a")?,
                            r.col("b")?,
                            r.col("a")?,
                            r.col("c")?,
                            r.col("b")?,
                        ])
                    },
                )
                .await
                .expect("read");
            assert_eq!(got, [[1, 2, 1, 4, 2]]);
        }
        // Rows that ask in another order than the row before, or for fewer columns,
        // still get each column they name.
        for short in [false, true] {
            let got: Vec<Vec<i64>> = lists
                .rows(
                    "SELECT 1 AS a, 2 AS b, 3 AS c UNION ALL SELECT 10, 20, 30
                     UNION ALL SELECT 100, 200, 300 UNION ALL SELECT 1000, 2000, 3000"
                        .into(),
                    vec![],
                    short,
                    |r| {
                        let a: i64 = r.col("a")?;
                        Ok::<_, StoreError>(match a {
                            10 => vec![a, r.col("c")?, r.col("b")?],
                            100 => vec![a, r.col("c")?],
                            _ => vec![a, r.col("b")?, r.col("c")?],
                        })
                    },
                )
                .await
                .expect("read");
            assert_eq!(
                got,
                [
                    vec![1, 2, 3],
                    vec![10, 30, 20],
                    vec![100, 300],
                    vec![1000, 2000, 3000]
                ]
            );
        }
        let missing = lists
            .rows("SELECT 1 AS a".into(), vec![], true, |r| {
                Ok::<_, StoreError>(r.col::<i64>("z")?)
            })
            .await;
        assert!(
            matches!(missing, Err(StoreError::Db(sqlx::Error::ColumnNotFound(ref c))) if c == "z"),
            "{missing:?}"
        );
    }
}
