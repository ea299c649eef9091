//! The store is the queue: complaints, their messages and attachments, raw originals,
//! cursors, audit events and the outbox, on SQLite (embedded default) or PostgreSQL.
//!
//! Both back ends go through sqlx's `Any` driver with one set of SQL (`$n` parameters
//! work on both); the few statements that must differ branch on [`Backend`].

mod blobs;
mod bulk;
mod ingest;
mod lease;
mod outbox;
mod read;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use blobs::BlobStore;
pub(crate) use ingest::is_transient;
pub use ingest::{IngestWriter, StoreSink};
pub use lease::{Fence, Lease};
pub(crate) use outbox::insert_outbound;
pub use outbox::{NewOutbound, OutboxRow, OutboxStatus};
pub(crate) use read::complaint_from_row;
pub use read::{
    status_label, AttachmentMeta, ComplaintFilter, ComplaintRecord, LocationRecord, MessageRecord,
    MessageRevision, PublicReport, PublicUpdate, ReporterRecord,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("attachment storage: {0}")]
    Blob(#[from] std::io::Error),
    #[error("the ingest writer has stopped")]
    WriterStopped,
    /// The batch was produced under a lease another instance has since taken over:
    /// nothing of it was kept, and the source must not acknowledge it.
    #[error("channel {channel}: lease generation {generation} was taken over; batch refused")]
    LeaseLost {
        channel: aduan_kit::ChannelName,
        generation: i64,
    },
    /// A part of the daemon a request needs is not there (stopped, or not built for this
    /// back end): the server's failure, not the caller's.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database connection: {0}")]
    SqlitePool(#[from] r2d2::Error),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database and the attachment directory. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// The same database through its own driver, for the hottest reads (see [`Reads`]).
    pub(crate) reads: Reads,
    /// The queue's list, on connections of its own (see [`Lists`]); `None` for an
    /// in-memory SQLite database, whose list reads through `reads`.
    pub(crate) lists: Option<Lists>,
    /// PostgreSQL: claim-next's batches, on connections of their own (see
    /// [`PG_CLAIM_LANES`]); `None` on SQLite.
    pub(crate) claims: Option<sqlx::PgPool>,
    pub(crate) backend: Backend,
    pub(crate) blobs: Arc<BlobStore>,
    /// Token to user, for a moment (see `people::TOKEN_TTL`).
    pub(crate) actors: Arc<crate::queue::people::ActorCache>,
    /// Counts the times `actors` was cleared, so that a read begun before cannot refill it.
    pub(crate) actors_generation: Arc<std::sync::atomic::AtomicU64>,
    /// SQLite has one writer: the queue's writes (claims, actions) take turns here
    /// instead of meeting in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// Times in the API's JSON, as chrono's own `Serialize` writes them (RFC 3339 in UTC with
/// `Z`, and 0, 3, 6 or 9 fractional digits, as many as the time needs), for fields marked
/// `#[serde(serialize_with = "crate::store::rfc3339::serialize")]` (or
/// `rfc3339::option::serialize`). chrono hands its digits to the serializer one
/// character at a time, and serde_json runs each through its escaping, for each of the
/// dozens of times on a page of the queue. Here the time is formatted first and written
/// as one string.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }
    }
}

/// Flags are BOOLEAN on PostgreSQL and 0/1 INTEGER on SQLite (whose BOOLEAN the `Any`
/// driver cannot decode).
pub fn flag(row: &impl Cols, col: &'static str) -> Result<bool, sqlx::Error> {
    row.col::<bool>(col)
        .or_else(|_| row.col::<i64>(col).map(|v| v != 0))
}

/// What every connection runs first, on either pool.
fn session_setup(backend: Backend) -> &'static [&'static str] {
    match backend {
        // WAL lets readers go on while the writer commits; synchronous=FULL makes a
        // commit durable before a 201 is sent; foreign keys are off by default in
        // SQLite. mmap reads straight from the OS page cache instead of a read() per
        // page: a search that visits thousands of rows spent half its time in the
        // kernel (address space only; the file is not loaded).
        Backend::Sqlite => &[
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 10000", // BUSY_TIMEOUT
            "PRAGMA mmap_size = 1073741824",
        ],
        // sqlx prepares every statement, and after five runs PostgreSQL may keep one
        // generic plan for it instead of planning each execution: for a lookup by key
        // that is the same plan without planning it again for every execution, which
        // claim-next makes many of. The queue's list, whose best plan depends on
        // the values (a rare status, a rare word), runs on connections of its own that
        // plan each execution (`Store::lists`).
        Backend::Postgres => &[],
    }
}

/// The database through its back end's own driver, for the reads requests make most
/// (the token's user, the queue's pages, a complaint opened or handed out by claim-next
/// with its thread). The `Any` driver converts every row it reads
/// into its own form, with a vector of column descriptions per row, work these reads
/// would pay on every row. Reads only; every write goes through the one `Any` pool.
#[derive(Clone)]
pub(crate) enum Reads {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// `$body` once per back end, with `$pool` the read pool's own driver pool: a query
/// written once runs on either (the rows it reads differ in type, so the body is
/// compiled for each).
macro_rules! on_reads {
    ($reads:expr, $pool:ident => $body:expr) => {
        match $reads {
            $crate::store::Reads::Postgres($pool) => $body,
            $crate::store::Reads::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_reads;

impl Reads {
    fn connect(url: &str, backend: Backend, max: u32) -> Result<Self, StoreError> {
        // Fewer than the main pool: a read holds its connection for a moment.
        let max = (max / 2).max(2);
        Ok(match backend {
            Backend::Sqlite => Self::Sqlite(native_pool(
                sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .disable_statement_logging()
                    // Rows come from the connection's thread through a channel of this
                    // size: room for a whole page (at most 500 and the one that tells
                    // whether another follows), so the thread never waits on the reader.
                    .row_buffer_size(512),
                session_setup(backend),
                max,
            )),
            Backend::Postgres => Self::Postgres(native_pool(
                sqlx::postgres::PgConnectOptions::from_str(url)?.disable_statement_logging(),
                session_setup(backend),
                max,
            )),
        })
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }
}

/// How many claim-next batches may run at once on PostgreSQL, each on a connection of
/// the claims pool. Those connections keep one generic plan for the batch statement:
/// its probe's size is a parameter, for which the planner guesses a tenth of the table,
/// so PostgreSQL judged every generic plan dearer than a custom one and planned each
/// batch anew (`custom_plans` in `pg_prepared_statements`), though the generic plan
/// walks the same index and stops as soon.
pub(crate) const PG_CLAIM_LANES: u32 = 2;

/// How long a caller waits for a pooled connection (a free one, or a new one opened)
/// before its request fails as unavailable, rather than waiting on a database that does
/// not answer until the HTTP request's own timeout.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool of a back end's own driver, each connection set up by `setup` and opened when
/// first needed.
fn native_pool<DB: sqlx::Database>(
    opts: <DB::Connection as sqlx::Connection>::Options,
    setup: &'static [&'static str],
    max: u32,
) -> sqlx::Pool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    checked_when_idle(sqlx::pool::PoolOptions::<DB>::new())
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                for statement in setup {
                    conn.execute(*statement).await?;
                }
                Ok(())
            })
        })
        .connect_lazy_with(opts)
}

/// A pooled connection used this recently is handed out as it is; one idle for longer is
/// first checked with a round trip to the database, and replaced if it does not answer.
///
/// sqlx's default checks every connection on every acquire: on PostgreSQL that is a
/// second round trip for each query (a Sync and its ReadyForQuery), on the path of
/// every request. A connection in steady use has just answered. One that sat idle is the
/// one a restarted server or a dropped network path has left behind; that one is
/// checked. The cost: a connection that dies within this window of its last use is not
/// caught here, so the one request that gets it fails (sqlx's pools still ping on
/// release and close it then; the list's pool drops it, in `on_pg_list`). (HikariCP
/// skips its check the same way, for connections used in the last 500 ms.)
pub const CHECK_IF_IDLE_FOR: Duration = Duration::from_millis(500);

fn checked_when_idle<DB: sqlx::Database>(
    opts: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    opts.test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < CHECK_IF_IDLE_FOR {
                    return Ok(true);
                }
                // Not an error: the pool closes this one and hands out another.
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
}

/// A column type every driver decodes (`Any` and both back ends' own).
pub trait ColType:
    for<'r> sqlx::Decode<'r, sqlx::Any>
    + sqlx::Type<sqlx::Any>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + rusqlite::types::FromSql
{
}

impl<T> ColType for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any>
        + sqlx::Type<sqlx::Any>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + rusqlite::types::FromSql
{
}

/// A row read by column name, whichever driver read it, so that one function turns a
/// row into a record for both pools. Names are the code's own (`'static`): see
/// `SqliteRow`, which remembers where each was found by its address.
pub trait Cols {
    fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error>;
}

macro_rules! cols_for {
    ($($row:ty),*) => {$(
        impl Cols for $row {
            fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
        }
    )*};
}
cols_for!(
    sqlx::any::AnyRow,
    sqlx::postgres::PgRow,
    sqlx::sqlite::SqliteRow
);

/// A statement's column names in order, each marked when no earlier column shares it,
/// and what the rows of one read asked for.
struct ColumnTable {
    names: Vec<(String, bool)>,
    /// For the k-th column a row asks for: the name it asked by (the address and length
    /// of a `&'static str`) and the column that name found. Every row of a read is
    /// turned into a record by the same code, which asks for the same names in the same
    /// order, so the k-th ask of the next row is found without comparing a string: two
    /// `'static` strings at one address with one length hold the same bytes. A row that
    /// asks otherwise (a field read only for some rows) is looked up by name.
    asked: std::cell::RefCell<Vec<(usize, usize, usize)>>,
}

impl ColumnTable {
    fn of(stmt: &rusqlite::Statement<'_>) -> Self {
        let mut names: Vec<(String, bool)> = Vec::with_capacity(stmt.column_count());
        for name in stmt.column_names() {
            let first = !names.iter().any(|(n, _)| n == name);
            names.push((name.to_owned(), first));
        }
        let asked = std::cell::RefCell::new(Vec::with_capacity(names.len()));
        Self { names, asked }
    }

    /// The column the `k`-th ask of an earlier row found, if it asked by `name` too.
    fn recall(&self, k: usize, name: &'static str) -> Option<usize> {
        let asked = self.asked.borrow();
        let &(at, len, index) = asked.get(k)?;
        (at == name.as_ptr() as usize && len == name.len()).then_some(index)
    }

    fn remember(&self, k: usize, name: &'static str, index: usize) {
        let mut asked = self.asked.borrow_mut();
        let entry = (name.as_ptr() as usize, name.len(), index);
        if let Some(slot) = asked.get_mut(k) {
            *slot = entry;
        } else if asked.len() == k {
            asked.push(entry);
        }
    }

    /// The first column called `name`, trying `hint` first: rows are read field by field
    /// in nearly the statement's order, so the column after the last one found is most
    /// often the next asked for.
    fn find(&self, name: &str, hint: usize) -> Option<usize> {
        match self.names.get(hint) {
            Some((n, true)) if n == name => Some(hint),
            _ => self.names.iter().position(|(n, _)| n == name),
        }
    }
}

/// A rusqlite row whose columns are found by name through the statement's own table:
/// rusqlite finds a name by asking SQLite for every column's name in turn, for every
/// value of every row.
pub(crate) struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    columns: &'a ColumnTable,
    /// The column after the last one found.
    next: std::cell::Cell<usize>,
    /// How many columns this row has been asked for.
    asked: std::cell::Cell<usize>,
}

impl Cols for SqliteRow<'_> {
    fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error> {
        let k = self.asked.get();
        self.asked.set(k + 1);
        let index = match self.columns.recall(k, name) {
            Some(index) => index,
            None => {
                let index = self
                    .columns
                    .find(name, self.next.get())
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))?;
                self.columns.remember(k, name, index);
                index
            }
        };
        self.next.set(index + 1);
        let undecodable = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::ColumnDecode {
            index: name.to_owned(),
            source: e,
        };
        // The value as SQLite holds it, then the type's own conversion: `Row::get` would
        // also ask SQLite for the number of columns, and return rusqlite's whole error.
        let value = self.row.get_ref(index).map_err(|e| undecodable(e.into()))?;
        T::column_result(value).map_err(|e| undecodable(e.into()))
    }
}

/// The connections the queue's list runs on (see `Queue::list`).
#[derive(Clone)]
pub(crate) enum Lists {
    /// Connections that plan every execution for its values: a kept generic plan may
    /// walk a whole index for a rare status or word.
    Postgres(PgLists),
    /// rusqlite (see [`SqliteLists`]).
    Sqlite(SqliteLists),
}

/// The list's PostgreSQL connections, pooled by deadpool rather than sqlx. sqlx's pool
/// pings every connection it takes back (a Sync and its ReadyForQuery, in a task of its
/// own), as well as on acquire (see [`checked_when_idle`]): under the list that was a
/// second exchange with the server for every page, competing for the same two cores.
/// Here a connection goes back as it is; one not handed out for
/// [`CHECK_IF_IDLE_FOR`] is pinged first, and one whose query failed is not reused.
pub(crate) type PgLists = deadpool::managed::Pool<PgListConnections>;

pub(crate) struct PgListConnections {
    opts: sqlx::postgres::PgConnectOptions,
}

impl deadpool::managed::Manager for PgListConnections {
    type Type = sqlx::PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        let mut conn = self.opts.connect().await?;
        conn.execute("SET plan_cache_mode = force_custom_plan")
            .await?;
        Ok(conn)
    }

    async fn recycle(
        &self,
        conn: &mut sqlx::PgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<sqlx::Error> {
        // `last_used` counts from when it was last handed out: a long read is checked too.
        if metrics.last_used() >= CHECK_IF_IDLE_FOR {
            sqlx::Connection::ping(conn).await?;
        }
        Ok(())
    }
}

/// The list's pool: waiting for a free connection, opening one and checking one each
/// give up after `timeout` (deadpool waits for ever by default).
fn pg_lists(
    opts: sqlx::postgres::PgConnectOptions,
    max: usize,
    timeout: Duration,
) -> Result<PgLists, StoreError> {
    PgLists::builder(PgListConnections { opts })
        .max_size(max)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|_| StoreError::Unavailable("the list's pool"))
}

/// Runs `read` on a list connection; a connection whose read failed is dropped, not
/// handed out again (it may be broken, and no ping would catch it within
/// [`CHECK_IF_IDLE_FOR`]).
pub(crate) async fn on_pg_list<T>(
    lists: &PgLists,
    read: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<T, sqlx::Error>,
) -> Result<T, StoreError> {
    use deadpool::managed::{Object, PoolError};
    let mut conn = lists.get().await.map_err(|e| match e {
        PoolError::Backend(e) => StoreError::Db(e),
        PoolError::Closed => StoreError::Unavailable("the store is closed"),
        _ => StoreError::Unavailable("no list connection"),
    })?;
    let result = read(&mut conn).await;
    if result.is_err() {
        drop(Object::take(conn));
    }
    Ok(result?)
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
    fn open(url: &str, max: u32) -> Result<Option<Self>, StoreError> {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
        let path = opts.get_filename();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(None);
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let manager = r2d2_sqlite::SqliteConnectionManager::file(path)
            .with_flags(flags)
            .with_init(|c| {
                session_setup(Backend::Sqlite)
                    .iter()
                    .try_for_each(|s| c.execute_batch(s))
            });
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

/// SQLite's busy timeout on every connection (`session_setup`'s `PRAGMA busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
        let row = SqliteRow {
            row,
            columns: &columns,
            next: std::cell::Cell::new(0),
            asked: std::cell::Cell::new(0),
        };
        out.push(f(&row).map_err(ReadError::Row)?);
    }
    Ok(out)
}

pub fn now_micros() -> i64 {
    micros(Utc::now())
}

impl Store {
    /// Connects (creating the SQLite file and the data directory when needed). Does not
    /// migrate: call [`Store::migrate`].
    pub async fn connect(
        url: &str,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir)?;
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let mut pool = checked_when_idle(AnyPoolOptions::new())
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if backend == Backend::Sqlite {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p))
            {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent)?;
                }
            }
        }
        pool = pool.after_connect(move |conn, _| {
            Box::pin(async move {
                for statement in session_setup(backend) {
                    conn.execute(*statement).await?;
                }
                Ok(())
            })
        });
        let pool = pool.connect_with(opts).await?;
        let reads = Reads::connect(url, backend, max_connections)?;
        let lists_max = (max_connections / 4).max(2);
        let (lists, claims) = match backend {
            Backend::Postgres => {
                let opts =
                    sqlx::postgres::PgConnectOptions::from_str(url)?.disable_statement_logging();
                let lists = pg_lists(opts.clone(), lists_max as usize, ACQUIRE_TIMEOUT)?;
                (
                    Some(Lists::Postgres(lists)),
                    Some(native_pool(
                        opts,
                        &["SET plan_cache_mode = force_generic_plan"],
                        PG_CLAIM_LANES,
                    )),
                )
            }
            Backend::Sqlite => (SqliteLists::open(url, lists_max)?.map(Lists::Sqlite), None),
        };
        let blobs = Arc::new(BlobStore::new(data_dir.join("blobs"))?);
        Ok(Self {
            pool,
            reads,
            lists,
            claims,
            backend,
            blobs,
            actors: Arc::new(crate::queue::people::ActorCache::new(10_000)),
            actors_generation: Arc::default(),
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies the embedded migrations; returns how many were applied now.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.applied_migrations().await.unwrap_or(0);
        self.migrator().run(&self.pool).await?;
        Ok(self.applied_migrations().await?.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Database reachable and every embedded migration applied.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let applied = self.applied_migrations().await?;
        let known = self.migrator().iter().count();
        if applied < known {
            return Err(StoreError::Invalid(format!(
                "{applied} of {known} migrations applied"
            )));
        }
        Ok(())
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// On SQLite, a turn at writing for the queue (see `write_gate`); on PostgreSQL none
    /// is needed.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.lock().await),
            Backend::Postgres => None,
        }
    }

    /// A condition on a column, `column {it}`, that holds for the ids of `ids`, and the one
    /// text to bind as `$1` for it: the same statement for any number of ids.
    pub(crate) fn id_list(&self, ids: &[i64]) -> (&'static str, String) {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        match self.backend {
            Backend::Sqlite => ("IN (SELECT value FROM json_each($1))", format!("[{list}]")),
            Backend::Postgres => ("= ANY (string_to_array($1, ',')::bigint[])", list),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool, for tests that need to reach under the API (breaking a table on purpose).
    #[doc(hidden)]
    pub fn pool_for_tests(&self) -> AnyPool {
        self.pool.clone()
    }

    /// PostgreSQL: how the claims pool's connections planned claim-next's batch
    /// statement so far, as (generic, custom) plans; (0, 0) on SQLite. For the test
    /// that it keeps one plan (see [`PG_CLAIM_LANES`]).
    #[doc(hidden)]
    pub async fn claim_plans_for_tests(&self) -> Result<(i64, i64), StoreError> {
        let Some(pool) = &self.claims else {
            return Ok((0, 0));
        };
        // Every connection at once, so that each is asked once.
        let mut conns = Vec::new();
        for _ in 0..PG_CLAIM_LANES {
            conns.push(pool.acquire().await?);
        }
        let (mut generic, mut custom) = (0, 0);
        for conn in &mut conns {
            let (g, c): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(generic_plans), 0)::bigint, COALESCE(SUM(custom_plans), 0)::bigint
                 FROM pg_prepared_statements WHERE statement LIKE 'WITH w0 AS%'",
            )
            .fetch_one(&mut **conn)
            .await?;
            generic += g;
            custom += c;
        }
        Ok((generic, custom))
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.reads.close().await;
        // r2d2 has no close: SQLite's list connections close with the last `Store`.
        if let Some(Lists::Postgres(lists)) = &self.lists {
            lists.close();
        }
        if let Some(claims) = &self.claims {
            claims.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated store on a SQLite file in a fresh directory (kept while it lives).
    pub(crate) async fn sqlite_store(max_connections: u32) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let store = Store::connect(&url, &dir.path().join("data"), max_connections)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    /// The API's times are written exactly as chrono's own `Serialize` writes them, for
    /// every precision, before 1970, and past the years RFC 3339 covers.
    #[test]
    fn times_are_written_as_chrono_writes_them() {
        #[derive(serde::Serialize)]
        struct Ours {
            #[serde(serialize_with = "rfc3339::serialize")]
            at: DateTime<Utc>,
            #[serde(serialize_with = "rfc3339::option::serialize")]
            maybe: Option<DateTime<Utc>>,
        }
        #[derive(serde::Serialize)]
        struct Chronos {
            at: DateTime<Utc>,
            maybe: Option<DateTime<Utc>>,
        }
        let base = Utc
            .with_ymd_and_hms(2026, 11, 29, 3, 4, 5)
            .single()
            .expect("a time");
        let mut times = vec![
            base,
            DateTime::<Utc>::UNIX_EPOCH,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59)
                .single()
                .expect("a time"),
            Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0)
                .single()
                .expect("a time"),
            Utc.with_ymd_and_hms(-5, 6, 7, 8, 9, 10)
                .single()
                .expect("a time"),
        ];
        for nanos in [
            1,
            7_000,
            120_000,
            999_999_999,
            500_000_000,
            123_456_000,
            123_456_789,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
            times.push(from_micros(-1_234_567) + chrono::Duration::nanoseconds(nanos));
        }
        for at in times {
            for maybe in [None, Some(at)] {
                let ours = serde_json::to_string(&Ours { at, maybe }).expect("json");
                let chronos = serde_json::to_string(&Chronos { at, maybe }).expect("json");
                assert_eq!(ours, chronos, "{at:?}");
            }
        }
    }

    /// A PostgreSQL that accepts connections and never answers: a list fails as
    /// unavailable once the pool's timeout has passed, rather than waiting for ever.
    #[tokio::test]
    async fn a_list_whose_database_does_not_answer_fails_as_unavailable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let opts = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("aduan");
        let lists = pg_lists(opts, 1, Duration::from_millis(200)).expect("pool");
        // The guard turns a hang into a failure; it is not a measure of speed.
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            on_pg_list(&lists, async |conn| {
                sqlx::query("SELECT 1").execute(conn).await.map(|_| ())
            }),
        )
        .await
        .expect("the list waited for a database that never answers");
        assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
        silent.abort();
    }

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
