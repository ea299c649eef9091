//! The ingest writer: every inbound item goes through one task that groups whatever is
//! waiting into one transaction (group commit). Callers are answered only after the
//! commit, so a 201, a webhook 2xx, an IMAP `\Seen` or a cursor advance always follows a
//! durable write; and many concurrent requests cost one fsync instead of one each.

use aduan_kit::{
    Batch, ChannelName, Cursor, CursorUpdate, Delivery, Inbound, InboundKind, Outcome, Sink,
    SinkError,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{micros, now_micros, Store, StoreError};
use crate::tracking::TrackingId;

/// One inbound item with its attachments already written to the blob store.
struct Prepared {
    item: Inbound,
    blob_hashes: Vec<String>,
}

struct Job {
    items: Vec<Prepared>,
    cursor: Option<CursorUpdate>,
    reply: oneshot::Sender<Result<Vec<Delivery>, StoreError>>,
}

/// The sending side of the ingest writer.
#[derive(Clone)]
pub struct IngestWriter {
    tx: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts the writer task. It ends when every `IngestWriter` clone is dropped, after
    /// committing what was queued.
    pub fn spawn(store: Store, max_batch: usize) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        let handle = tokio::spawn(run(store, rx, max_batch.max(1)));
        (Self { tx }, handle)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut items = jobs[0].items.len();
        while items < max_batch {
            match rx.try_recv() {
                Ok(j) => {
                    items += j.items.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("aduan_ingest_batch_items").record(items as f64);
        let results = commit_jobs(&store, &jobs).await;
        for (job, res) in jobs.into_iter().zip(results) {
            // The caller may have gone away (client disconnected): the data is committed
            // either way and a retry will be answered as a duplicate.
            let _ = job.reply.send(res);
        }
    }
}

async fn commit_jobs(store: &Store, jobs: &[Job]) -> Vec<Result<Vec<Delivery>, StoreError>> {
    let fail_all = |e: &sqlx::Error| {
        jobs.iter()
            .map(|_| Err(StoreError::Invalid(format!("commit failed: {e}"))))
            .collect()
    };
    let mut tx = match store.pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(&e),
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(commit_job(&mut tx, job).await);
    }
    if let Err(e) = tx.commit().await {
        tracing::error!(error = %e, "ingest commit failed; callers will retry");
        return fail_all(&e);
    }
    results
}

async fn commit_job(
    tx: &mut Transaction<'static, Any>,
    job: &Job,
) -> Result<Vec<Delivery>, StoreError> {
    let mut out = Vec::with_capacity(job.items.len());
    for p in &job.items {
        out.push(commit_item(tx, p).await?);
    }
    if let Some(c) = &job.cursor {
        if out.iter().all(Delivery::is_committed) {
            sqlx::query(
                "INSERT INTO cursors (channel_name, stream, value, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel_name, stream) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(c.channel_name.as_str())
            .bind(&c.stream)
            .bind(&c.cursor.0)
            .bind(now_micros())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(out)
}

/// One item in its own savepoint: a database error on it (odd data, a constraint) turns
/// it into a quarantine record with the error as the reason instead of failing the
/// others, so bad input never blocks a channel.
async fn commit_item(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
) -> Result<Delivery, StoreError> {
    sqlx::query("SAVEPOINT item").execute(&mut **tx).await?;
    match insert_item(tx, p, None).await {
        Ok(d) => {
            sqlx::query("RELEASE SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            Ok(d)
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT item")
                .execute(&mut **tx)
                .await?;
            tracing::warn!(channel = %p.item.channel_name, external_id = %p.item.external_id, error = %e,
                "could not store item; quarantining it");
            let reason = format!("could not be stored: {e}");
            match insert_item(tx, p, Some(reason)).await {
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
    }
}

/// PostgreSQL text cannot hold NUL; SQLite would but nothing downstream wants it.
fn text(s: &str) -> String {
    s.replace('\0', "")
}

async fn insert_item(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    force_quarantine: Option<String>,
) -> Result<Delivery, sqlx::Error> {
    let item = &p.item;
    let ch = item.channel_name.as_str();
    let ext = text(&item.external_id);
    let now = now_micros();
    let received = micros(item.received_at);

    let fresh = sqlx::query(
        "INSERT INTO inbound_keys (channel_name, external_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(ch)
    .bind(&ext)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if fresh == 0 {
        let tracking: Option<String> = sqlx::query_scalar(
            "SELECT c.tracking_id FROM inbound_keys k LEFT JOIN complaints c ON c.id = k.complaint_id
             WHERE k.channel_name = $1 AND k.external_id = $2",
        )
        .bind(ch)
        .bind(&ext)
        .fetch_optional(&mut **tx)
        .await?
        .flatten();
        return Ok(Delivery::Committed {
            outcome: Outcome::Duplicate,
            tracking_id: tracking,
        });
    }

    let raw_id: i64 = sqlx::query_scalar(
        "INSERT INTO raw_originals (channel_name, external_id, content_type, body, received_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(ch)
    .bind(&ext)
    .bind(text(&item.raw.content_type))
    .bind(item.raw.bytes.to_vec())
    .bind(received)
    .fetch_one(&mut **tx)
    .await?;

    let reject = match (&force_quarantine, &item.kind) {
        (Some(reason), _) => Some(("quarantined", reason.as_str(), Outcome::Quarantined)),
        (None, InboundKind::Quarantine { reason }) => {
            Some(("quarantined", reason.as_str(), Outcome::Quarantined))
        }
        (None, InboundKind::Ignored { reason }) => {
            Some(("ignored", reason.as_str(), Outcome::Ignored))
        }
        (None, InboundKind::Complaint(_)) => None,
    };
    if let Some((disposition, reason, outcome)) = reject {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO intake_rejects (channel, channel_name, external_id, disposition, reason, raw_id, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(item.channel)
        .bind(ch)
        .bind(&ext)
        .bind(disposition)
        .bind(text(reason))
        .bind(raw_id)
        .bind(received)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE inbound_keys SET reject_id = $1 WHERE channel_name = $2 AND external_id = $3",
        )
        .bind(id)
        .bind(ch)
        .bind(&ext)
        .execute(&mut **tx)
        .await?;
        return Ok(Delivery::Committed {
            outcome,
            tracking_id: None,
        });
    }
    let InboundKind::Complaint(d) = &item.kind else {
        unreachable!("non-complaints returned above")
    };

    let (complaint_id, tracking_id, outcome) = match find_thread(tx, item).await? {
        Some((id, tid)) => {
            sqlx::query("UPDATE complaints SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            (id, tid, Outcome::FollowUp)
        }
        None => {
            let tid = free_tracking_id(tx).await?;
            let loc = d.location.clone().unwrap_or_default();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body, category,
                    reporter_name, reporter_handle, reporter_email, reporter_phone, reporter_user_id,
                    anonymous, confidential, received_at, occurred_on, location_text, location_lat, location_lon,
                    raw_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'new', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21)
                 RETURNING id",
            )
            .bind(&tid)
            .bind(item.channel)
            .bind(ch)
            .bind(&ext)
            .bind(text(&d.title))
            .bind(text(&d.body))
            .bind(d.category.as_deref().map(text))
            .bind(d.reporter.name.as_deref().map(text))
            .bind(d.reporter.handle.as_deref().map(text))
            .bind(d.reporter.email.as_deref().map(text))
            .bind(d.reporter.phone.as_deref().map(text))
            .bind(d.reporter.user_id.as_deref().map(text))
            .bind(d.anonymous)
            .bind(d.confidential)
            .bind(received)
            .bind(d.occurred_on.map(|d| d.format("%Y-%m-%d").to_string()))
            .bind(loc.text.as_deref().map(text))
            .bind(loc.lat)
            .bind(loc.lon)
            .bind(raw_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_events (complaint_id, actor, action, after_state, public, at) VALUES ($1, $2, 'received', 'new', TRUE, $3)",
            )
            .bind(id)
            .bind(format!("channel:{ch}"))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            (id, tid, Outcome::Created)
        }
    };

    let message_id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at, raw_id)
         VALUES ($1, 'in', $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(complaint_id)
    .bind(item.channel)
    .bind(ch)
    .bind(&ext)
    .bind(text(&d.body))
    .bind(received)
    .bind(raw_id)
    .fetch_one(&mut **tx)
    .await?;

    for (a, hash) in d.attachments.iter().zip(&p.blob_hashes) {
        sqlx::query(
            "INSERT INTO attachments (complaint_id, message_id, filename, content_type, size, sha256)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(complaint_id)
        .bind(message_id)
        .bind(text(&a.filename))
        .bind(text(&a.content_type))
        .bind(i64::try_from(a.bytes.len()).unwrap_or(i64::MAX))
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    }
    for key in item
        .thread
        .keys
        .iter()
        .chain(std::iter::once(&item.external_id))
    {
        sqlx::query("INSERT INTO thread_keys (channel_name, key, complaint_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(ch)
            .bind(text(key))
            .bind(complaint_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE inbound_keys SET complaint_id = $1 WHERE channel_name = $2 AND external_id = $3",
    )
    .bind(complaint_id)
    .bind(ch)
    .bind(&ext)
    .execute(&mut **tx)
    .await?;
    Ok(Delivery::Committed {
        outcome,
        tracking_id: Some(tracking_id),
    })
}

/// The complaint a message follows up on: a thread key it names, else a tracking number
/// it quotes.
async fn find_thread(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    for r in &item.thread.refs {
        let row: Option<AnyRow> = sqlx::query(
            "SELECT c.id, c.tracking_id FROM thread_keys t JOIN complaints c ON c.id = t.complaint_id
             WHERE t.channel_name = $1 AND t.key = $2",
        )
        .bind(item.channel_name.as_str())
        .bind(text(r))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = row {
            return Ok(Some((row.try_get(0)?, row.try_get(1)?)));
        }
    }
    if let Some(tid) = item
        .thread
        .tracking_hint
        .as_deref()
        .and_then(|h| TrackingId::parse(h).ok())
    {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM complaints WHERE tracking_id = $1")
                .bind(tid.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(id) = id {
            return Ok(Some((id, tid.to_string())));
        }
    }
    Ok(None)
}

async fn free_tracking_id(tx: &mut Transaction<'static, Any>) -> Result<String, sqlx::Error> {
    loop {
        let tid = TrackingId::generate().to_string();
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM complaints WHERE tracking_id = $1")
                .bind(&tid)
                .fetch_optional(&mut **tx)
                .await?;
        if taken.is_none() {
            return Ok(tid);
        }
    }
}

/// The store as connectors see it.
#[derive(Clone)]
pub struct StoreSink {
    store: Store,
    writer: IngestWriter,
}

impl StoreSink {
    pub fn new(store: Store, writer: IngestWriter) -> Self {
        Self { store, writer }
    }

    /// Writes attachments, then commits through the writer. Returns per-item deliveries.
    pub async fn ingest(&self, batch: Batch) -> Result<Vec<Delivery>, StoreError> {
        let blobs = self.store.blobs.clone();
        let items =
            tokio::task::spawn_blocking(move || -> Result<Vec<Prepared>, std::io::Error> {
                batch
                    .items
                    .into_iter()
                    .map(|item| {
                        let blob_hashes = match &item.kind {
                            InboundKind::Complaint(d) => d
                                .attachments
                                .iter()
                                .map(|a| blobs.put(&a.bytes))
                                .collect::<Result<_, _>>()?,
                            _ => Vec::new(),
                        };
                        Ok(Prepared { item, blob_hashes })
                    })
                    .collect()
            });
        let cursor = batch.cursor;
        let items = items
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))??;
        let labels: Vec<(String, &'static str)> = items
            .iter()
            .map(|p| (p.item.channel_name.to_string(), p.item.channel))
            .collect();
        let (reply, rx) = oneshot::channel();
        self.writer
            .tx
            .send(Job {
                items,
                cursor,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let res = rx.await.map_err(|_| StoreError::WriterStopped)?;
        record_metrics(&labels, &res);
        res
    }
}

fn record_metrics(labels: &[(String, &'static str)], res: &Result<Vec<Delivery>, StoreError>) {
    match res {
        Ok(ds) => {
            for ((name, kind), d) in labels.iter().zip(ds) {
                let outcome = match d {
                    Delivery::Committed {
                        outcome: Outcome::Created,
                        ..
                    } => "created",
                    Delivery::Committed {
                        outcome: Outcome::FollowUp,
                        ..
                    } => "follow_up",
                    Delivery::Committed {
                        outcome: Outcome::Duplicate,
                        ..
                    } => "duplicate",
                    Delivery::Committed {
                        outcome: Outcome::Quarantined,
                        ..
                    } => "quarantined",
                    Delivery::Committed {
                        outcome: Outcome::Ignored,
                        ..
                    } => "ignored",
                    Delivery::Retry { .. } => "error",
                };
                metrics::counter!("aduan_inbound_total", "channel" => name.clone(), "kind" => *kind, "outcome" => outcome)
                    .increment(1);
            }
        }
        Err(_) => {
            for (name, kind) in labels {
                metrics::counter!("aduan_inbound_total", "channel" => name.clone(), "kind" => *kind, "outcome" => "error")
                    .increment(1);
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for StoreSink {
    async fn commit(&self, batch: Batch) -> Result<Vec<Delivery>, SinkError> {
        self.ingest(batch)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, SinkError> {
        self.store
            .cursor(channel, stream)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }
}

impl Store {
    pub async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM cursors WHERE channel_name = $1 AND stream = $2")
                .bind(channel.as_str())
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.map(Cursor))
    }
}
