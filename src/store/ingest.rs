//! The ingest writer: every inbound item goes through one task that groups whatever is
//! waiting into one transaction (group commit). Callers are answered only after the
//! commit, so a 201, a webhook 2xx, an IMAP `\Seen` or a cursor advance always follows a
//! durable write; and many concurrent requests cost one fsync instead of one each.

use std::sync::Arc;

use aduan_kit::{
    Batch, ChannelName, Cursor, CursorUpdate, Delivery, Inbound, InboundKind, Outcome, Sink,
    SinkError,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::bulk::{
    attachment_rows, complaint_row, duplicate, insert_rows, message_row, queue_ack,
    thread_key_rows, ATTACHMENTS, COMPLAINTS, MESSAGES, THREAD_KEYS,
};
use super::lease::{stale_fences, Fence};
use super::{micros, now_micros, Store, StoreError};
use crate::tracking::TrackingId;

/// One inbound item with its attachments already written to the blob store.
pub(super) struct Prepared {
    pub(super) item: Inbound,
    pub(super) blob_hashes: Vec<String>,
}

struct Job {
    items: Vec<Prepared>,
    cursor: Option<CursorUpdate>,
    /// The lease the batch was polled under; checked in the transaction (see `lease`).
    fence: Option<Fence>,
    reply: oneshot::Sender<Result<Vec<Delivery>, StoreError>>,
}

/// The sending side of the ingest writer.
#[derive(Clone)]
pub struct IngestWriter {
    tx: mpsc::Sender<Job>,
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
        let mut deliveries = super::bulk::insert_batch(&mut tx, &items)
            .await?
            .into_iter();
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

/// PostgreSQL text cannot hold NUL; SQLite would but nothing downstream wants it.
pub(super) fn text(s: &str) -> String {
    s.replace('\0', "")
}

pub(super) async fn insert_item(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    force_quarantine: Option<String>,
    careful: bool,
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
        return duplicate(tx, ch, &ext).await;
    }

    // An edit or removal lands on the message it concerns, when that was filed.
    let revision = match (&force_quarantine, &item.kind) {
        (None, InboundKind::Edited { of, draft }) => Some((of, Some(draft.body.as_str()))),
        (None, InboundKind::Removed { of }) => Some((of, None)),
        _ => None,
    };
    if let Some((of, body)) = revision {
        if let Some(d) = revise(tx, p, of, body).await? {
            return Ok(d);
        }
    }

    let reject = match (&force_quarantine, &item.kind) {
        (Some(reason), _) => Some(("quarantined", reason.as_str(), Outcome::Quarantined)),
        (None, InboundKind::Quarantine { reason }) => {
            Some(("quarantined", reason.as_str(), Outcome::Quarantined))
        }
        (None, InboundKind::Ignored { reason }) => {
            Some(("ignored", reason.as_str(), Outcome::Ignored))
        }
        (None, InboundKind::Removed { .. }) => Some((
            "ignored",
            "removed by its author before it was filed",
            Outcome::Ignored,
        )),
        // An edit of a message never filed (its delivery was missed) files the new text.
        (None, InboundKind::Complaint(_) | InboundKind::Edited { .. }) => None,
    };
    if let Some((disposition, reason, outcome)) = reject {
        sqlx::query(
            "INSERT INTO intake_rejects (channel, channel_name, external_id, disposition, reason, raw_content_type, raw, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(item.channel)
        .bind(ch)
        .bind(&ext)
        .bind(disposition)
        .bind(text(reason))
        .bind(text(&item.raw.content_type))
        .bind(item.raw.bytes.to_vec())
        .bind(received)
        .execute(&mut **tx)
        .await?;
        return Ok(Delivery::Committed {
            outcome,
            tracking_id: None,
        });
    }
    let (thread, refers_to) = find_thread(tx, item).await?;
    let (complaint_id, tracking_id, outcome) = match thread {
        Some((id, tid)) => {
            // A merged complaint's follow-ups belong to the complaint it was merged into.
            let (id, tid) = match sqlx::query(
                "SELECT m.id, m.tracking_id FROM complaints c JOIN complaints m ON m.id = c.merged_into WHERE c.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            {
                Some(r) => (r.try_get(0)?, r.try_get(1)?),
                None => (id, tid),
            };
            // The citizen replied to an answer: the complaint is open again, for the unit.
            // (Only its reporter's messages join it: nobody else reopens it.)
            let before: String = sqlx::query_scalar("SELECT status FROM complaints WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            let reopen = matches!(before.as_str(), "answered" | "closed");
            sqlx::query(if reopen {
                "UPDATE complaints SET updated_at = $1, status = 'in_progress', status_changed_at = $1,
                     due_at = NULL, overdue_at = NULL WHERE id = $2"
            } else {
                "UPDATE complaints SET updated_at = $1 WHERE id = $2"
            })
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            if reopen {
                crate::queue::service::audit_on(
                    tx,
                    id,
                    "citizen",
                    "reopen",
                    Some("the reporter replied to the answer"),
                    Some(&before),
                    Some("in_progress"),
                    true,
                )
                .await?;
            }
            let rows = insert_rows(tx, MESSAGES, vec![message_row(p, id)?], "RETURNING id").await?;
            let message_id: i64 = rows
                .first()
                .ok_or(sqlx::Error::RowNotFound)?
                .try_get("id")?;
            insert_rows(
                tx,
                ATTACHMENTS,
                attachment_rows(p, id, Some(message_id))?,
                "",
            )
            .await?;
            (id, tid, Outcome::FollowUp)
        }
        None => {
            // The unique index catches the (2^-35) collision; the careful path then picks
            // a number it checked first.
            let tid = if careful {
                free_tracking_id(tx).await?
            } else {
                TrackingId::generate().to_string()
            };
            let rows = insert_rows(
                tx,
                COMPLAINTS,
                vec![complaint_row(p, &tid, now)?],
                "RETURNING id",
            )
            .await?;
            let id: i64 = rows
                .first()
                .ok_or(sqlx::Error::RowNotFound)?
                .try_get("id")?;
            insert_rows(tx, ATTACHMENTS, attachment_rows(p, id, None)?, "").await?;
            if let Some(other) = refers_to {
                sqlx::query("UPDATE complaints SET refers_to = $1 WHERE id = $2")
                    .bind(other)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            queue_ack(tx, p, id, &tid).await?;
            (id, tid, Outcome::Created)
        }
    };

    insert_rows(
        tx,
        THREAD_KEYS,
        thread_key_rows(p, complaint_id),
        "ON CONFLICT DO NOTHING",
    )
    .await?;
    if let Some(sender) = &item.thread.sender {
        // The person's conversation now leads to this complaint (unless a newer message
        // of theirs was filed first).
        sqlx::query(
            "INSERT INTO thread_keys (channel_name, key, complaint_id, last_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (channel_name, key) DO UPDATE SET complaint_id = excluded.complaint_id, last_at = excluded.last_at
             WHERE thread_keys.last_at IS NULL OR thread_keys.last_at <= excluded.last_at",
        )
        .bind(ch)
        .bind(text(&sender.key))
        .bind(complaint_id)
        .bind(received)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Delivery::Committed {
        outcome,
        tracking_id: Some(tracking_id),
    })
}

/// Records an edit (`body`: the new text) or a removal (`None`) on the message whose
/// external id is `of`: the earlier text goes into `message_revisions`, the message is
/// changed in place, never deleted. `None` when `of` was never filed.
async fn revise(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    of: &str,
    body: Option<&str>,
) -> Result<Option<Delivery>, sqlx::Error> {
    let item = &p.item;
    let ch = item.channel_name.as_str();
    let of = text(of);
    let first = sqlx::query(
        "SELECT id, tracking_id, body FROM complaints WHERE channel_name = $1 AND external_id = $2",
    )
    .bind(ch)
    .bind(&of)
    .fetch_optional(&mut **tx)
    .await?;
    let (complaint_id, tracking_id, message_id, previous): (i64, String, Option<i64>, String) =
        match first {
            Some(r) => (r.try_get(0)?, r.try_get(1)?, None, r.try_get(2)?),
            None => {
                let later = sqlx::query(
                    "SELECT m.complaint_id, c.tracking_id, m.id, m.body FROM messages m
                     JOIN complaints c ON c.id = m.complaint_id
                     WHERE m.channel_name = $1 AND m.direction = 'in' AND m.external_id = $2",
                )
                .bind(ch)
                .bind(&of)
                .fetch_optional(&mut **tx)
                .await?;
                match later {
                    Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?),
                    None => return Ok(None),
                }
            }
        };
    let kind = if body.is_some() { "edited" } else { "removed" };
    let now = now_micros();
    sqlx::query(
        "INSERT INTO message_revisions (complaint_id, message_id, kind, previous_body, at, channel_name, external_id,
             raw_content_type, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(complaint_id)
    .bind(message_id)
    .bind(kind)
    .bind(&previous)
    .bind(micros(item.received_at))
    .bind(ch)
    .bind(text(&item.external_id))
    .bind(text(&item.raw.content_type))
    .bind(item.raw.bytes.to_vec())
    .execute(&mut **tx)
    .await?;
    if let Some(body) = body {
        let body = text(body);
        match message_id {
            None => {
                sqlx::query("UPDATE complaints SET body = $1 WHERE id = $2")
                    .bind(&body)
                    .bind(complaint_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Some(m) => {
                sqlx::query("UPDATE messages SET body = $1 WHERE id = $2")
                    .bind(&body)
                    .bind(m)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    sqlx::query("UPDATE complaints SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(complaint_id)
        .execute(&mut **tx)
        .await?;
    crate::queue::service::audit_on(
        tx,
        complaint_id,
        "citizen",
        kind,
        Some(if body.is_some() {
            "the reporter edited their message; the earlier text is kept"
        } else {
            "the reporter removed their message; it is kept, marked removed"
        }),
        None,
        None,
        false,
    )
    .await?;
    Ok(Some(Delivery::Committed {
        outcome: Outcome::Revised,
        tracking_id: Some(tracking_id),
    }))
}

/// Whether `item` was sent by the reporter of a complaint filed on `channel_name` with
/// these contact details: the same e-mail address, or the same account on the same
/// channel instance. A sender with neither is nobody's reporter.
fn from_reporter(
    item: &Inbound,
    channel_name: &str,
    email: Option<&str>,
    user_id: Option<&str>,
) -> bool {
    let sender = match &item.kind {
        InboundKind::Complaint(d) | InboundKind::Edited { draft: d, .. } => &d.reporter,
        _ => return false,
    };
    let present = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(text);
    let same_address = matches!(
        (present(sender.email.as_deref()), present(email)),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b)
    );
    let same_account = channel_name == item.channel_name.as_str()
        && matches!(
            (present(sender.user_id.as_deref()), present(user_id)),
            (Some(a), Some(b)) if a == b
        );
    same_address || same_account
}

/// The columns each of `find_thread`'s lookups reads: the complaint, then who reported
/// it (what `by_reporter` compares). A macro so that each query stays one static string.
macro_rules! thread_cols {
    () => {
        "c.id, c.tracking_id, c.channel_name, c.reporter_email, c.reporter_user_id"
    };
}

/// Whether `item` comes from the reporter of the complaint in `row` (id, tracking
/// number, then the reporter's channel instance, address and account), or of one
/// merged into it: a merge moves the merged complaint's thread keys to the survivor.
async fn by_reporter(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
    row: &AnyRow,
) -> Result<bool, sqlx::Error> {
    let of = |r: &AnyRow| -> Result<bool, sqlx::Error> {
        let channel_name: String = r.try_get(2)?;
        let email: Option<String> = r.try_get(3)?;
        let user_id: Option<String> = r.try_get(4)?;
        Ok(from_reporter(
            item,
            &channel_name,
            email.as_deref(),
            user_id.as_deref(),
        ))
    };
    if of(row)? {
        return Ok(true);
    }
    let merged = sqlx::query(concat!(
        "SELECT ",
        thread_cols!(),
        " FROM complaints c WHERE c.merged_into = $1"
    ))
    .bind(row.try_get::<i64, _>(0)?)
    .fetch_all(&mut **tx)
    .await?;
    for r in &merged {
        if of(r)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A complaint one of `find_thread`'s lookups found: the thread to join when the message
/// comes from its reporter, else `None`, the first such complaint kept in `refers_to`.
async fn joinable(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
    row: Option<AnyRow>,
    refers_to: &mut Option<i64>,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let Some(row) = row else { return Ok(None) };
    if by_reporter(tx, item, &row).await? {
        return Ok(Some((row.try_get(0)?, row.try_get(1)?)));
    }
    refers_to.get_or_insert(row.try_get::<i64, _>(0)?);
    Ok(None)
}

/// The complaint a message follows up on: a thread key it names, else a tracking number
/// it quotes, else its sender's open conversation; each only when the message comes
/// from that complaint's reporter. A thread key or a tracking number is no secret (a
/// reply under a public post names it, a number is read aloud and posted), so anyone
/// else's message becomes a complaint of its own: the second value is then the
/// complaint it replied to or quoted, for the admins to see beside it.
async fn find_thread(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
) -> Result<(Option<(i64, String)>, Option<i64>), sqlx::Error> {
    let mut refers_to = None;
    for r in &item.thread.refs {
        let row: Option<AnyRow> = sqlx::query(concat!(
            "SELECT ",
            thread_cols!(),
            " FROM thread_keys t JOIN complaints c ON c.id = t.complaint_id
             WHERE t.channel_name = $1 AND t.key = $2
             UNION ALL
             SELECT ",
            thread_cols!(),
            " FROM complaints c WHERE c.channel_name = $1 AND c.external_id = $2
             UNION ALL
             SELECT ",
            thread_cols!(),
            " FROM messages m JOIN complaints c ON c.id = m.complaint_id
             WHERE m.channel_name = $1 AND m.direction = 'in' AND m.external_id = $2
             LIMIT 1"
        ))
        .bind(item.channel_name.as_str())
        .bind(text(r))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(found) = joinable(tx, item, row, &mut refers_to).await? {
            return Ok((Some(found), None));
        }
    }
    if let Some(tid) = item
        .thread
        .tracking_hint
        .as_deref()
        .and_then(|h| TrackingId::parse(h).ok())
    {
        let row: Option<AnyRow> = sqlx::query(concat!(
            "SELECT ",
            thread_cols!(),
            " FROM complaints c WHERE c.tracking_id = $1"
        ))
        .bind(tid.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(found) = joinable(tx, item, row, &mut refers_to).await? {
            return Ok((Some(found), None));
        }
    }
    if let Some(sender) = &item.thread.sender {
        let window = i64::try_from(sender.window.as_micros()).unwrap_or(i64::MAX);
        let row: Option<AnyRow> = sqlx::query(concat!(
            "SELECT ",
            thread_cols!(),
            " FROM thread_keys t JOIN complaints c ON c.id = t.complaint_id
             WHERE t.channel_name = $1 AND t.key = $2 AND t.last_at >= $3
               AND c.status NOT IN ('closed', 'rejected', 'archived')"
        ))
        .bind(item.channel_name.as_str())
        .bind(text(&sender.key))
        .bind(micros(item.received_at).saturating_sub(window))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(found) = joinable(tx, item, row, &mut refers_to).await? {
            return Ok((Some(found), None));
        }
    }
    Ok((None, refers_to))
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
        self.ingest_fenced(batch, None).await
    }

    /// [`StoreSink::ingest`] for a batch polled under `fence`: refused whole with
    /// [`StoreError::LeaseLost`] when that lease was taken over.
    pub async fn ingest_fenced(
        &self,
        batch: Batch,
        fence: Option<Fence>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let blobs = self.store.blobs.clone();
        let items =
            tokio::task::spawn_blocking(move || -> Result<Vec<Prepared>, std::io::Error> {
                batch
                    .items
                    .into_iter()
                    .map(|item| {
                        let blob_hashes = match &item.kind {
                            InboundKind::Complaint(d) | InboundKind::Edited { draft: d, .. } => d
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
                fence,
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
                    Delivery::Committed {
                        outcome: Outcome::Revised,
                        ..
                    } => "revised",
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
