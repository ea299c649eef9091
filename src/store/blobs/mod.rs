//! Attachment content, stored once per SHA-256, in one of two places (`[attachments]
//! store`): files under the data directory ([`files`], the default) or the database's
//! `blobs` table ([`table`]), which every instance on the database can read. Callers
//! go through [`BlobStore`] and do not care which it is.
//!
//! Either way the content is durable before the transaction that references it commits
//! (files: written and fsynced before it; the table: written in it). What a crash or an
//! edit leaves unreferenced, [`BlobStore::collect_garbage`] removes after a grace
//! period, never what a transaction in flight may still reference.

mod files;
mod migrate;
mod table;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, AnyPool, Transaction};

pub use migrate::MigrateReport;

use crate::store::StoreError;
use files::{BlobFiles, Removal};

/// Where attachment content is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files under `<data_dir>/blobs`: one instance, or instances sharing that directory.
    #[default]
    Filesystem,
    /// The database's `blobs` table: shared by every instance on the database.
    Database,
}

impl BlobBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filesystem => "filesystem",
            Self::Database => "database",
        }
    }

    /// The place that is not this one (a migration's source).
    pub fn other(self) -> Self {
        match self {
            Self::Filesystem => Self::Database,
            Self::Database => Self::Filesystem,
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A lowercase hex SHA-256: the only names content is stored or looked up under.
pub(crate) fn valid_digest(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn not_found() -> StoreError {
    StoreError::Blob(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "attachment content not found",
    ))
}

/// Digests the file collector looks up in `attachments` per query.
const REFERENCE_CHECK: usize = 64;

/// Attachment content by SHA-256, in the configured place.
pub struct BlobStore {
    backend: BlobBackend,
    /// The directory store; there whatever the backend, for `migrate`.
    files: Arc<BlobFiles>,
    pool: AnyPool,
}

/// What one collection pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcPass {
    pub removed: u64,
}

impl BlobStore {
    pub(crate) fn new(root: PathBuf, pool: AnyPool, backend: BlobBackend) -> std::io::Result<Self> {
        Ok(Self {
            backend,
            files: Arc::new(BlobFiles::new(root)?),
            pool,
        })
    }

    pub fn backend(&self) -> BlobBackend {
        self.backend
    }

    /// Before the ingest transaction (blocking: call it off the async threads): files
    /// are written and fsynced now; for the table only the digest is taken, and the
    /// content goes in with the transaction ([`BlobStore::write_in`]). Returns the
    /// digest.
    pub(crate) fn stage(&self, bytes: &[u8]) -> std::io::Result<String> {
        match self.backend {
            BlobBackend::Filesystem => self.files.put(bytes),
            BlobBackend::Database => Ok(sha256_hex(bytes)),
        }
    }

    /// Whether the content must be written in the ingest transaction.
    pub(crate) fn in_transaction(&self) -> bool {
        self.backend == BlobBackend::Database
    }

    /// In the ingest transaction: the content of `contents` (digest, bytes) when it is
    /// kept in the database; nothing otherwise ([`BlobStore::stage`] wrote it).
    pub(crate) async fn write_in(
        tx: &mut Transaction<'static, Any>,
        mut contents: Vec<(&str, &[u8])>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        if contents.is_empty() {
            return Ok(());
        }
        table::put_in(tx, &mut contents, now).await
    }

    /// The content with this digest; `StoreError::Blob` with `NotFound` when the
    /// digest is malformed or nothing is stored under it. Content not (yet) in the
    /// configured place is looked for in the other, so downloads keep working between
    /// switching `[attachments] store` and running `aduan attachments migrate`.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        if !valid_digest(sha256) {
            return Err(not_found());
        }
        match self.read(self.backend, sha256).await? {
            Some(bytes) => Ok(bytes),
            None => self
                .read(self.backend.other(), sha256)
                .await?
                .ok_or_else(not_found),
        }
    }

    /// Removes content no attachment references that was stored (or last reused) more
    /// than `grace` ago. In the configured place only.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GcPass, StoreError> {
        match self.backend {
            BlobBackend::Database => {
                let cutoff = crate::store::now_micros()
                    - i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
                let removed = table::collect(&self.pool, cutoff).await?;
                Ok(GcPass { removed })
            }
            BlobBackend::Filesystem => self.collect_files(grace).await,
        }
    }

    async fn collect_files(&self, grace: Duration) -> Result<GcPass, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = self.blocking(move |f| f.tidy_tmp(cutoff)).await?;
        let old = self.blocking(move |f| f.older_than(cutoff)).await?;
        for chunk in old.chunks(REFERENCE_CHECK) {
            let referenced = self.referenced(chunk).await?;
            for sha in chunk.iter().filter(|s| !referenced.contains(*s)) {
                // An attachment committed since the look at the file's time made its
                // `put` refresh that time first, which `remove_unless_reused` sees.
                let sha = sha.clone();
                let gone = self
                    .blocking(move |f| f.remove_unless_reused(&sha, cutoff))
                    .await?;
                if matches!(gone, Removal::Removed) {
                    removed += 1;
                }
            }
        }
        Ok(GcPass { removed })
    }

    /// Which of `digests` (at most [`REFERENCE_CHECK`]) some attachment references.
    async fn referenced(&self, digests: &[String]) -> Result<HashSet<String>, StoreError> {
        let marks: Vec<String> = (1..=REFERENCE_CHECK).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT sha256 FROM attachments WHERE sha256 IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        // Always as many parameters (the last digest repeated): one statement to prepare.
        for i in 0..REFERENCE_CHECK {
            query = query.bind(
                digests
                    .get(i)
                    .or(digests.last())
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        Ok(query.fetch_all(&self.pool).await?.into_iter().collect())
    }

    /// Whether `place` holds the content `sha256`.
    async fn has(&self, place: BlobBackend, sha256: &str) -> Result<bool, StoreError> {
        Ok(match place {
            BlobBackend::Database => table::exists(&self.pool, sha256).await?,
            BlobBackend::Filesystem => {
                let sha = sha256.to_owned();
                self.blocking(move |f| Ok(f.exists(&sha))).await?
            }
        })
    }

    /// The content `sha256` from `place`, if it is there.
    async fn read(&self, place: BlobBackend, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match place {
            BlobBackend::Database => Ok(table::get(&self.pool, sha256).await?),
            BlobBackend::Filesystem => {
                let sha = sha256.to_owned();
                self.blocking(move |f| match f.get(&sha) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                })
                .await
            }
        }
    }

    /// Stores `bytes`, whose digest the caller has checked, as `sha256` in `place`.
    async fn write(
        &self,
        place: BlobBackend,
        sha256: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        match place {
            BlobBackend::Database => {
                Ok(table::put(&self.pool, sha256, &bytes, crate::store::now_micros()).await?)
            }
            BlobBackend::Filesystem => {
                let sha = sha256.to_owned();
                self.blocking(move |f| f.write(&sha, &bytes)).await
            }
        }
    }

    /// Removes the content `sha256` from `place`.
    async fn remove(&self, place: BlobBackend, sha256: &str) -> Result<(), StoreError> {
        match place {
            BlobBackend::Database => Ok(table::remove(&self.pool, sha256).await?),
            BlobBackend::Filesystem => {
                let sha = sha256.to_owned();
                self.blocking(move |f| f.remove(&sha)).await
            }
        }
    }

    /// Runs `f` on the directory store off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&BlobFiles) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || f(&files))
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))?
            .map_err(StoreError::Blob)
    }
}
