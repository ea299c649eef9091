//! The store is the queue: complaints, their messages and attachments, raw originals,
//! cursors, audit events and the outbox, on SQLite (embedded default) or PostgreSQL.
//!
//! Both back ends go through sqlx's `Any` driver with one set of SQL (`$n` parameters
//! work on both); the few statements that must differ branch on [`Backend`].

mod blobs;
mod bulk;
mod ingest;
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
    #[error("{0}")]
    Invalid(String),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database and the attachment directory. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) blobs: Arc<BlobStore>,
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

/// Flags are BOOLEAN on PostgreSQL and 0/1 INTEGER on SQLite (whose BOOLEAN the `Any`
/// driver cannot decode).
pub fn flag(row: &sqlx::any::AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    row.try_get::<bool, _>(col)
        .or_else(|_| row.try_get::<i64, _>(col).map(|v| v != 0))
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
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p))
            {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            // WAL lets readers go on while the writer commits; synchronous=FULL makes a
            // commit durable before a 201 is sent; foreign keys are off by default in SQLite.
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    // Reads straight from the OS page cache instead of a read() per
                    // page: a search that visits thousands of rows spent half its time
                    // in the kernel. Address space only; the file is not loaded.
                    conn.execute("PRAGMA mmap_size = 1073741824").await?;
                    Ok(())
                })
            });
        }
        if backend == Backend::Postgres {
            // sqlx prepares every statement; after five runs PostgreSQL may switch to a
            // generic plan that ignores the bound values, and a queue filtered by a rare
            // status would then walk a whole index. Plan each execution for its values.
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET plan_cache_mode = force_custom_plan")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(opts).await?;
        let blobs = Arc::new(BlobStore::new(data_dir.join("blobs"))?);
        Ok(Self {
            pool,
            backend,
            blobs,
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

    /// The pool, for tests that need to reach under the API (breaking a table on purpose).
    #[doc(hidden)]
    /// On SQLite, a turn at writing for the queue (see `write_gate`); on PostgreSQL none
    /// is needed.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.lock().await),
            Backend::Postgres => None,
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn pool_for_tests(&self) -> AnyPool {
        self.pool.clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
