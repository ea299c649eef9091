//! The store is the queue: complaints, their messages and attachments, raw originals,
//! cursors, audit events and the outbox, on SQLite (embedded default) or PostgreSQL.
//!
//! Both back ends go through sqlx's `Any` driver with one set of SQL (`$n` parameters
//! work on both); the few statements that must differ branch on [`Backend`]. The pools
//! are in `pool`, rows read by column name in `row`, times as stored in `time`.

mod audit;
mod blobs;
mod error;
mod forwards;
mod ingest;
mod lease;
mod outbox;
mod pool;
mod public_list;
mod read;
mod row;
mod time;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::AnyPool;

pub(crate) use audit::audit_on;
pub use blobs::{BlobBackend, BlobStore, GcPass, MigrateReport};
pub use error::StoreError;
pub(crate) use forwards::{record_change, record_filed};
pub use forwards::{
    ForwardFilter, ForwardKind, ForwardResult, ForwardRow, ForwardStatus, PendingEvent,
};
pub(crate) use ingest::is_transient;
pub use ingest::{IngestWriter, StoreSink};
pub use lease::{Fence, Lease};
pub(crate) use outbox::insert_outbound;
pub use outbox::{NewOutbound, OutboxRow, OutboxStatus};
pub(crate) use pool::{on_pg_list, on_reads, Lists, Reads, PG_CLAIM_LANES};
pub use pool::{Backend, CHECK_IF_IDLE_FOR};
pub use public_list::{PublicListFilter, PublicListed, CLOSED_STATUSES};
pub(crate) use read::complaint_from_row;
pub use read::{
    status_label, AttachmentMeta, ComplaintFilter, ComplaintRecord, LocationRecord, MessageRecord,
    MessageRevision, PublicReport, PublicUpdate, ReporterRecord,
};
pub use row::{flag, ColType, Cols};
pub use time::{from_micros, micros, now_micros};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database and the attachment content. Cheap to clone.
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
    /// Counts the changes to users and their tokens made through this store or a clone
    /// of it, so that what the queue keeps of them for a moment (a token's user) can
    /// tell it has grown older than a change.
    pub(crate) users_changed: Arc<AtomicU64>,
    /// SQLite has one writer: the queue's writes (claims, actions) take turns here
    /// instead of meeting in SQLite's busy handler, which sleeps in steps of up to
    /// 100 ms.
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Whether intake records `complaint.filed` for the forwarders (the daemon turns it
    /// on when any forwarder wants that event; `aduan import` never does).
    forward_filed: Arc<AtomicBool>,
}

impl Store {
    /// Connects (creating the SQLite file and the data directory when needed). Does not
    /// migrate: call [`Store::migrate`].
    pub async fn connect(
        url: &str,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool::Pools {
            any,
            reads,
            lists,
            claims,
        } = pool::Pools::open(url, backend, max_connections).await?;
        let blobs = Arc::new(BlobStore::new(
            data_dir.join("blobs"),
            any.clone(),
            BlobBackend::default(),
        )?);
        Ok(Self {
            pool: any,
            reads,
            lists,
            claims,
            backend,
            blobs,
            users_changed: Arc::default(),
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
            forward_filed: Arc::default(),
        })
    }

    /// Turns the recording of `complaint.filed` events on or off, for this store and
    /// every clone of it.
    pub fn record_filed_events(&self, on: bool) {
        self.forward_filed.store(on, Ordering::Relaxed);
    }

    pub(crate) fn forwards_filed(&self) -> bool {
        self.forward_filed.load(Ordering::Relaxed)
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

    /// This store with attachment content kept in `backend` (`[attachments] store`;
    /// [`Store::connect`] keeps it in files). Call before the store is cloned.
    pub fn with_blob_backend(
        mut self,
        backend: BlobBackend,
        data_dir: &Path,
    ) -> Result<Self, StoreError> {
        self.blobs = Arc::new(BlobStore::new(
            data_dir.join("blobs"),
            self.pool.clone(),
            backend,
        )?);
        Ok(self)
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
        match &self.claims {
            Some(pool) => pool::claim_plans(pool).await,
            None => Ok((0, 0)),
        }
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
}
