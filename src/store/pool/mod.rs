//! The store's connection pools. Every write, and every read off the hot paths, goes
//! through one pool of sqlx's `Any` driver, one set of SQL for both back ends. Beside
//! it, each back end has pools of its own driver for the reads requests make most
//! ([`Reads`], [`Lists`]) and, on PostgreSQL, for claim-next's batches. What differs
//! between the back ends is in [`sqlite`] and [`postgres`].

mod postgres;
mod sqlite;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor};

pub(super) use postgres::claim_plans;
pub(crate) use postgres::{on_pg_list, PgLists, PG_CLAIM_LANES};
pub(crate) use sqlite::SqliteLists;

use super::error::StoreError;

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What a claim's inner `SELECT` ends with so that two claimers never take the same
    /// rows: PostgreSQL skips rows another transaction has locked; SQLite has one writer
    /// and needs nothing.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

/// How long a caller waits for a pooled connection (a free one, or a new one opened)
/// before its request fails as unavailable, rather than waiting on a database that does
/// not answer until the HTTP request's own timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Every pool a store reads and writes through.
pub(super) struct Pools {
    pub(super) any: AnyPool,
    pub(super) reads: Reads,
    pub(super) lists: Option<Lists>,
    pub(super) claims: Option<sqlx::PgPool>,
}

impl Pools {
    /// Opens the `Any` pool (one connection now, which tells whether the database is
    /// there); the others open their connections when first needed.
    pub(super) async fn open(url: &str, backend: Backend, max: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        if backend == Backend::Sqlite {
            sqlite::create_parent_dir(url)?;
        }
        let any = pool_options(session_setup(backend), max)
            .connect_with(opts)
            .await?;
        let reads = Reads::connect(url, backend, max)?;
        let lists_max = (max / 4).max(2);
        let (lists, claims) = match backend {
            Backend::Postgres => {
                let (lists, claims) = postgres::lists_and_claims(url, lists_max)?;
                (Some(Lists::Postgres(lists)), Some(claims))
            }
            Backend::Sqlite => (SqliteLists::open(url, lists_max)?.map(Lists::Sqlite), None),
        };
        Ok(Self {
            any,
            reads,
            lists,
            claims,
        })
    }
}

/// What every connection runs first, on every pool.
fn session_setup(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Sqlite => sqlite::SESSION,
        Backend::Postgres => postgres::SESSION,
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
            Backend::Sqlite => Self::Sqlite(sqlite::reads(url, max)?),
            Backend::Postgres => Self::Postgres(postgres::reads(url, max)?),
        })
    }

    pub(super) async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
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

/// A pool's options: at most `max` connections, each set up by `setup` when opened,
/// checked only when idle for a while, waited for no longer than [`ACQUIRE_TIMEOUT`].
fn pool_options<DB: sqlx::Database>(
    setup: &'static [&'static str],
    max: u32,
) -> sqlx::pool::PoolOptions<DB>
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
}

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
    pool_options(setup, max).connect_lazy_with(opts)
}

/// See [`CHECK_IF_IDLE_FOR`].
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
