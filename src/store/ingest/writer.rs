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
use crate::store::{now_micros, Store, StoreError};

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
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let rx = Arc::new(Mutex::new(rx));
        let tasks: Vec<_> = (0..writers.max(1))
            .map(|_| tokio::spawn(run(store.clone(), rx.clone(), max_batch)))
            .collect();
        let handle = tokio::spawn(async move {
            for t in tasks {
                let _ = t.await;
            }
        });
        (Self { tx }, handle)
    }
}

async fn run(store: Store, rx: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
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
        let results = commit_jobs(&store, &jobs).await;
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
async fn commit_jobs(store: &Store, jobs: &[Job]) -> JobResults {
    let mut last = match try_commit(store, jobs, false).await {
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
        match try_commit(store, jobs, true).await {
            Ok(results) => return results,
            Err(e) => last = e,
        }
    }
    tracing::error!(error = %last, "ingest commit failed; callers will retry");
    jobs.iter()
        .map(|_| Err(StoreError::Invalid(format!("commit failed: {last}"))))
        .collect()
}

async fn try_commit(store: &Store, jobs: &[Job], careful: bool) -> Result<JobResults, sqlx::Error> {
    let mut tx = store.pool.begin().await?;
    // A batch polled under a lease since taken over is refused whole, before anything
    // of it is written: not committed, not quarantined, not acknowledged.
    let stale = stale_fences(
        &mut tx,
        store.backend,
        jobs.iter().map(|j| j.fence.as_ref()),
    )
    .await?;
    let mut results = Vec::with_capacity(jobs.len());
    if careful {
        for (job, stale) in jobs.iter().zip(&stale) {
            results.push(match stale {
                Some(fence) => Err(fence.refused()),
                None => Ok(commit_job_carefully(&mut tx, job).await?),
            });
        }
    } else {
        let items: Vec<&Prepared> = jobs
            .iter()
            .zip(&stale)
            .filter(|(_, stale)| stale.is_none())
            .flat_map(|(j, _)| j.items.iter())
            .collect();
        let mut deliveries = insert_batch(&mut tx, &items).await?.into_iter();
        for (job, stale) in jobs.iter().zip(&stale) {
            if let Some(fence) = stale {
                results.push(Err(fence.refused()));
                continue;
            }
            let ds: Vec<Delivery> = deliveries.by_ref().take(job.items.len()).collect();
            if let Some(c) = &job.cursor {
                if ds.iter().all(Delivery::is_committed) {
                    save_cursor(&mut tx, c).await?;
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
        crate::store::record_filed(&mut tx, &filed).await?;
    }
    tx.commit().await?;
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
