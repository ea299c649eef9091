//! The writer tasks: they take what callers have queued, commit it in one transaction,
//! and answer each caller after the commit; a batch that fails goes again item by item.

use std::sync::Arc;

use aduan_kit::{CursorUpdate, Delivery, Outcome};
use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::batch::insert_batch;
use super::item::insert_item;
use super::rows::{text, Prepared};
use crate::store::lease::{stale_fences, Fence};
use crate::store::{now_micros, Backend, Store, StoreError};

pub(super) struct Job {
    pub(super) items: Vec<Prepared>,
    pub(super) cursor: Option<CursorUpdate>,
    /// The lease the batch was polled under; checked in the transaction (see `lease`).
    pub(super) fence: Option<Fence>,
    pub(super) reply: oneshot::Sender<Result<Vec<Delivery>, StoreError>>,
}

/// The sending side of the ingest writer.
#[derive(Clone)]
pub struct IngestWriter {
    pub(super) tx: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts `writers` writer tasks sharing one queue. They end when every
    /// `IngestWriter` clone is dropped, after committing what was queued. SQLite has one
    /// writer at a time anyway; on PostgreSQL several overlap their round trips.
    pub fn spawn(
        store: Store,
        max_batch: usize,
        writers: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::start(store, max_batch, writers, false)
    }

    fn start(
        store: Store,
        max_batch: usize,
        writers: usize,
        bulk: bool,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let rx = Arc::new(Mutex::new(rx));
        let tasks: Vec<_> = (0..writers.max(1))
            .map(|_| tokio::spawn(run(store.clone(), rx.clone(), max_batch, bulk)))
            .collect();
        let handle = tokio::spawn(async move {
            for t in tasks {
                let _ = t.await;
            }
        });
        (Self { tx }, handle)
    }

    /// [`IngestWriter::spawn`] for a bulk load (`aduan import`), whose batches are
    /// thousands of rows. A commit writes every page the transaction changed, and the
    /// unique indexes on the row key (a hash) and the tracking number (random) take each
    /// new row at a random place, so a small batch into a big table changes a page of
    /// each per row: bigger batches share those pages between rows. On SQLite such a
    /// transaction needs a page cache that holds what it changes (2 MiB by default;
    /// past that SQLite writes changed pages out before the commit, and again each time
    /// a later row changes one), and its statement journals kept in memory (see
    /// [`BulkSettings`]). Both are set for the transaction only and put back before its
    /// commit: the connection goes back to the pool as it came.
    pub fn spawn_bulk(
        store: Store,
        max_batch: usize,
        writers: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::start(store, max_batch, writers, true)
    }
}

async fn run(store: Store, rx: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize, bulk: bool) {
    loop {
        // Take what is waiting (at least one job) under the lock, commit outside it, so
        // the next writer can gather the next batch meanwhile.
        let jobs = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut items = first.items.len();
            let mut jobs = vec![first];
            while items < max_batch {
                match rx.try_recv() {
                    Ok(j) => {
                        items += j.items.len();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let items: usize = jobs.iter().map(|j| j.items.len()).sum();
        metrics::histogram!("aduan_ingest_batch_items").record(items as f64);
        let results = commit_jobs(&store, &jobs, bulk).await;
        for (job, res) in jobs.into_iter().zip(results) {
            // The caller may have gone away (client disconnected): the data is committed
            // either way and a retry will be answered as a duplicate.
            let _ = job.reply.send(res);
        }
    }
}

type JobResults = Vec<Result<Vec<Delivery>, StoreError>>;

/// The fast path commits the whole batch with one statement per row. If anything in it
/// fails, it is rolled back and done again carefully: each item in its own savepoint,
/// where a failing item becomes a quarantine record instead of failing the others.
async fn commit_jobs(store: &Store, jobs: &[Job], bulk: bool) -> JobResults {
    let mut last = match try_commit(store, jobs, false, bulk).await {
        Ok(results) => return results,
        Err(e) => e,
    };
    // Several writers on PostgreSQL can deadlock when two batches hold the same new keys
    // in opposite order; the database aborts one of them, which then goes again.
    for attempt in 0..3u64 {
        tracing::debug!(error = %last, attempt, "ingest batch failed; retrying item by item");
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(
                10 * attempt + rand::random::<u64>() % 20,
            ))
            .await;
        }
        match try_commit(store, jobs, true, bulk).await {
            Ok(results) => return results,
            Err(e) => last = e,
        }
    }
    tracing::error!(error = %last, "ingest commit failed; callers will retry");
    jobs.iter()
        .map(|_| Err(StoreError::Invalid(format!("commit failed: {last}"))))
        .collect()
}

async fn try_commit(
    store: &Store,
    jobs: &[Job],
    careful: bool,
    bulk: bool,
) -> Result<JobResults, sqlx::Error> {
    let mut tx = store.pool.begin().await?;
    let settings = if bulk && store.backend == Backend::Sqlite {
        let rows = jobs.iter().map(|j| j.items.len()).sum();
        Some(BulkSettings::apply(&mut tx, rows).await?)
    } else {
        None
    };
    let res = write_jobs(store, &mut tx, jobs, careful).await;
    if let Some(before) = settings {
        // Before the commit, on success or failure alike: the changed pages stay in
        // the cache until the commit writes them, and the connection goes back to the
        // pool as it came.
        before.restore(&mut tx).await;
    }
    let results = res?;
    tx.commit().await?;
    Ok(results)
}

/// The SQLite page cache a bulk transaction gets per row it files (KiB): the row's
/// table page, a page of each index the row lands in at random, and room for the rest.
const BULK_CACHE_KIB_PER_ROW: i64 = 16;

/// A SQLite connection's settings as they were before a bulk transaction changed them
/// (see [`IngestWriter::spawn_bulk`]).
struct BulkSettings {
    /// `PRAGMA cache_size`: negative in KiB, positive in pages.
    cache_size: i64,
    /// `PRAGMA temp_store`, when it was changed.
    temp_store: Option<i64>,
}

impl BulkSettings {
    /// Widens the page cache to hold what `rows` rows change, and keeps statement
    /// journals in memory. A multi-row insert inside a transaction may fail halfway, so
    /// SQLite first copies each page it changes that the transaction changed before
    /// into a statement journal, to undo just that statement; in a big transaction
    /// that is nearly every page of every index, for every statement, and by default
    /// the journal goes to a temporary file past its first 64 KiB. In memory it is a
    /// few MiB at most (one statement's pages) and freed at the statement's end.
    async fn apply(tx: &mut Transaction<'static, Any>, rows: usize) -> Result<Self, sqlx::Error> {
        let cache_size: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut **tx)
            .await?;
        let want_kib = i64::try_from(rows)
            .unwrap_or(i64::MAX)
            .saturating_mul(BULK_CACHE_KIB_PER_ROW);
        // Pages as KiB at the usual page size; never narrower than it was.
        let had_kib = if cache_size < 0 {
            cache_size.saturating_neg()
        } else {
            cache_size.saturating_mul(4)
        };
        if want_kib > had_kib {
            pragma(tx, "cache_size", -want_kib).await?;
        }
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(&mut **tx)
            .await?;
        // 2: MEMORY. SQLite refuses the change inside a transaction once the
        // connection's temporary database is open; the journal then stays a file.
        let temp_store = match pragma(tx, "temp_store", 2).await {
            Ok(()) => Some(temp_store),
            Err(e) => {
                tracing::debug!(error = %e, "statement journals stay in temporary files");
                None
            }
        };
        Ok(Self {
            cache_size,
            temp_store,
        })
    }

    /// Puts the settings back as they were; a failure leaves only a connection with a
    /// bigger cache, so it is logged and not passed on.
    async fn restore(self, tx: &mut Transaction<'static, Any>) {
        let mut back = vec![("cache_size", self.cache_size)];
        back.extend(self.temp_store.map(|t| ("temp_store", t)));
        for (name, value) in back {
            if let Err(e) = pragma(tx, name, value).await {
                tracing::debug!(error = %e, pragma = name, "could not restore a setting after a bulk batch");
            }
        }
    }
}

/// `PRAGMA name = value`: a pragma takes no bound parameters, and both are ours.
async fn pragma(
    tx: &mut Transaction<'static, Any>,
    name: &str,
    value: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("PRAGMA {name} = {value}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn write_jobs(
    store: &Store,
    tx: &mut Transaction<'static, Any>,
    jobs: &[Job],
    careful: bool,
) -> Result<JobResults, sqlx::Error> {
    // A batch polled under a lease since taken over is refused whole, before anything
    // of it is written: not committed, not quarantined, not acknowledged.
    let stale = stale_fences(tx, store.backend, jobs.iter().map(|j| j.fence.as_ref())).await?;
    let mut results = Vec::with_capacity(jobs.len());
    if careful {
        for (job, stale) in jobs.iter().zip(&stale) {
            results.push(match stale {
                Some(fence) => Err(fence.refused()),
                None => Ok(commit_job_carefully(tx, job).await?),
            });
        }
    } else {
        let items: Vec<&Prepared> = jobs
            .iter()
            .zip(&stale)
            .filter(|(_, stale)| stale.is_none())
            .flat_map(|(j, _)| j.items.iter())
            .collect();
        let mut deliveries = insert_batch(tx, &items).await?.into_iter();
        for (job, stale) in jobs.iter().zip(&stale) {
            if let Some(fence) = stale {
                results.push(Err(fence.refused()));
                continue;
            }
            let ds: Vec<Delivery> = deliveries.by_ref().take(job.items.len()).collect();
            if let Some(c) = &job.cursor {
                if ds.iter().all(Delivery::is_committed) {
                    save_cursor(tx, c).await?;
                }
            }
            results.push(Ok(ds));
        }
    }
    if store.forwards_filed() {
        let filed: Vec<&str> = results
            .iter()
            .flat_map(|r| r.iter().flatten())
            .filter_map(|d| match d {
                Delivery::Committed {
                    outcome: Outcome::Created,
                    tracking_id: Some(t),
                } => Some(t.as_str()),
                _ => None,
            })
            .collect();
        crate::store::record_filed(tx, &filed).await?;
    }
    Ok(results)
}

async fn save_cursor(
    tx: &mut Transaction<'static, Any>,
    c: &CursorUpdate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cursors (channel_name, stream, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel_name, stream) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(c.channel_name.as_str())
    .bind(text(&c.stream))
    .bind(text(&c.cursor.0))
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn commit_job_carefully(
    tx: &mut Transaction<'static, Any>,
    job: &Job,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let mut out = Vec::with_capacity(job.items.len());
    for p in &job.items {
        out.push(commit_item_carefully(tx, p).await?);
    }
    if let Some(c) = &job.cursor {
        if out.iter().all(Delivery::is_committed) {
            save_cursor(tx, c).await?;
        }
    }
    Ok(out)
}

/// One item in its own savepoint: a database error on it (odd data, a constraint) turns
/// it into a quarantine record with the error as the reason instead of failing the
/// others, so bad input never blocks a channel.
async fn commit_item_carefully(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
) -> Result<Delivery, sqlx::Error> {
    sqlx::query("SAVEPOINT item").execute(&mut **tx).await?;
    let err = match insert_item(tx, p, None, true).await {
        Ok(d) => {
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            return Ok(d);
        }
        // A deadlock, a busy database or a lost connection says nothing about the item:
        // the whole batch goes again rather than quarantining a good message.
        Err(e) if is_transient(&e) => return Err(e),
        Err(e) => e,
    };
    sqlx::query("ROLLBACK TO SAVEPOINT item")
        .execute(&mut **tx)
        .await?;
    tracing::warn!(channel = %p.item.channel_name, external_id = %p.item.external_id, error = %err,
        "could not store item; quarantining it");
    match insert_item(tx, p, Some(format!("could not be stored: {err}")), true).await {
        Ok(d) => {
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            Ok(d)
        }
        Err(e2) => {
            sqlx::query("ROLLBACK TO SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            Ok(Delivery::Retry {
                reason: e2.to_string(),
            })
        }
    }
}

/// Errors caused by the moment rather than by the data.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        // I/O, pool timeouts, protocol errors: the database, not the item.
        return true;
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    if let Ok(n) = code.parse::<i64>() {
        // SQLite (extended) result codes: BUSY, LOCKED, IOERR, FULL, PROTOCOL.
        return matches!(n & 0xff, 5 | 6 | 10 | 13 | 15);
    }
    // PostgreSQL SQLSTATE classes: transaction rollback (deadlock, serialization),
    // connection, resources, operator intervention, lock not available.
    ["40", "08", "53", "57", "58"]
        .iter()
        .any(|c| code.starts_with(c))
        || code == "55P03"
}
