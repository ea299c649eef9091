//! The outbox table: durable outbound messages. Every statement that writes the table
//! is here: intake queues receipts and the queue approved answers through the one
//! [`insert_outbound`]; the dispatcher (`crate::dispatch`) claims due rows with a
//! lease, sends them, and records the result here.

use aduan_kit::{ChannelName, OutboundKind, OutboundMessage, Recipient};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{from_micros, micros, now_micros, Backend, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl OutboxStatus {
    fn parse(s: &str) -> Self {
        match s {
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// What the workflow (or a connector's acknowledgement) queues.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub tracking_id: String,
    pub channel_name: ChannelName,
    pub kind: OutboundKind,
    /// Unique per logical message: queueing the same key twice queues it once.
    pub idempotency_key: String,
    pub recipient: Recipient,
    pub subject: Option<String>,
    pub body: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub external_id: Option<String>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub next_attempt_at: DateTime<Utc>,
    #[serde(skip)]
    pub complaint_id: i64,
    pub message: OutboundMessage,
}

const OUTBOX_COLUMNS: &str = "o.id, o.status, o.attempts, o.last_error, o.external_id, o.next_attempt_at, o.complaint_id,
    o.idempotency_key, o.channel_name, o.kind, c.tracking_id, o.recipient_address, o.recipient_name, o.subject, o.body,
    o.in_reply_to, o.refs,
    CASE WHEN c.channel_name = o.channel_name THEN c.received_at END AS first_in_at,
    (SELECT MAX(m.at) FROM messages m
     WHERE m.complaint_id = o.complaint_id AND m.direction = 'in' AND m.channel_name = o.channel_name) AS last_in_at";

fn row_to_outbox(r: &AnyRow) -> Result<OutboxRow, StoreError> {
    let attempts: i64 = r.try_get("attempts")?;
    let kind: String = r.try_get("kind")?;
    let channel: String = r.try_get("channel_name")?;
    let refs: String = r.try_get("refs")?;
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    Ok(OutboxRow {
        id: r.try_get("id")?,
        status: OutboxStatus::parse(&r.try_get::<String, _>("status")?),
        attempts,
        last_error: r.try_get("last_error")?,
        external_id: r.try_get("external_id")?,
        next_attempt_at: from_micros(r.try_get("next_attempt_at")?),
        complaint_id: r.try_get("complaint_id")?,
        message: OutboundMessage {
            idempotency_key: r.try_get("idempotency_key")?,
            channel_name: ChannelName::parse(&channel)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
            kind: match kind.as_str() {
                "answer" => OutboundKind::Answer,
                "notice" => OutboundKind::Notice,
                _ => OutboundKind::Acknowledgement,
            },
            tracking_id: r.try_get("tracking_id")?,
            recipient: Recipient {
                address: r.try_get("recipient_address")?,
                name: r.try_get("recipient_name")?,
            },
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            in_reply_to: r.try_get("in_reply_to")?,
            references: serde_json::from_str(&refs).unwrap_or_default(),
            // The attempt being made now is `attempts`; those before it:
            attempt: attempts.saturating_sub(1),
            last_inbound_at: r
                .try_get::<Option<i64>, _>("first_in_at")?
                .max(r.try_get::<Option<i64>, _>("last_in_at")?)
                .map(from_micros),
        },
    })
}

/// Queues `m` for the complaint `complaint_id` on an open connection or transaction:
/// intake queues a receipt in the transaction that files the complaint, the workflow an
/// approved answer in the transaction that approves it. Queueing the same key twice is
/// a no-op.
pub(crate) async fn insert_outbound(
    conn: &mut sqlx::AnyConnection,
    complaint_id: i64,
    m: &NewOutbound,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (complaint_id, channel_name, kind, idempotency_key, recipient_address, recipient_name,
            subject, body, in_reply_to, refs, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(complaint_id)
    .bind(m.channel_name.as_str())
    .bind(m.kind.as_str())
    .bind(&m.idempotency_key)
    .bind(&m.recipient.address)
    .bind(m.recipient.name.as_deref())
    .bind(m.subject.as_deref())
    .bind(&m.body)
    .bind(m.in_reply_to.as_deref())
    .bind(serde_json::to_string(&m.references).unwrap_or_else(|_| "[]".into()))
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails the sent delivery on `channel` the provider knows as `external_id` when the
/// provider reported that it could not deliver it (`delivery_reports`): intake calls it
/// as the report arrives, the dispatcher as it records the id, whichever is last.
pub(crate) async fn apply_failure_report(
    conn: &mut sqlx::AnyConnection,
    channel: &str,
    external_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed',
             last_error = (SELECT 'not delivered, the provider reports: ' || COALESCE(r.detail, 'no reason given')
                           FROM delivery_reports r
                           WHERE r.channel_name = $1 AND r.external_id = $2 AND r.status = 'failed')
         WHERE channel_name = $1 AND external_id = $2 AND status = 'sent'
           AND EXISTS (SELECT 1 FROM delivery_reports r
                       WHERE r.channel_name = $1 AND r.external_id = $2 AND r.status = 'failed')",
    )
    .bind(channel)
    .bind(external_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether intake may queue a receipt now (see [`receipt_room`]).
pub(crate) enum ReceiptRoom {
    Open,
    /// One went to the same recipient on the channel within its window.
    SentRecently,
    /// The channel queued this many receipts in the last hour already.
    CapReached(u32),
}

/// Whether a receipt on `channel` to `address` may be queued now: none went to that
/// recipient on the channel within `once_per`, and, with a cap, fewer than `per_hour`
/// were queued on the channel in the last hour, whoever they went to.
pub(crate) async fn receipt_room(
    conn: &mut sqlx::AnyConnection,
    channel: &str,
    address: &str,
    once_per: std::time::Duration,
    per_hour: Option<u32>,
) -> Result<ReceiptRoom, sqlx::Error> {
    let now = now_micros();
    let window = i64::try_from(once_per.as_micros()).unwrap_or(i64::MAX);
    let recent: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE channel_name = $1 AND recipient_address = $2 AND kind = 'acknowledgement'
         AND created_at > $3 LIMIT 1",
    )
    .bind(channel)
    .bind(address)
    .bind(now.saturating_sub(window))
    .fetch_optional(&mut *conn)
    .await?;
    if recent.is_some() {
        return Ok(ReceiptRoom::SentRecently);
    }
    if let Some(cap) = per_hour {
        let queued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE channel_name = $1 AND kind = 'acknowledgement' AND created_at > $2",
        )
        .bind(channel)
        .bind(now.saturating_sub(3_600_000_000))
        .fetch_one(&mut *conn)
        .await?;
        if queued >= i64::from(cap) {
            return Ok(ReceiptRoom::CapReached(cap));
        }
    }
    Ok(ReceiptRoom::Open)
}

/// The dispatcher's claim: the oldest open deliveries that are due, or whose lease ran
/// out. `status IN (...)` names the predicate of the `outbox_open` index, which holds
/// only the open rows (SQLite uses a partial index only for a query that repeats its
/// condition).
fn claim_outbound_sql(backend: Backend) -> String {
    format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1
         WHERE id IN (SELECT id FROM outbox WHERE {}
                      ORDER BY next_attempt_at, id LIMIT $3 {})
         RETURNING id",
        open_and_due("$2"),
        backend.skip_locked()
    )
}

/// The rows of a leased delivery table (`outbox`, `forwards`) that may be claimed at
/// the time bound as `now`: pending and due, or sending with an expired lease (their
/// dispatcher died).
pub(super) fn open_and_due(now: &str) -> String {
    format!(
        "status IN ('pending', 'sending')
           AND ((status = 'pending' AND next_attempt_at <= {now}) OR (status = 'sending' AND lease_until < {now}))"
    )
}

impl Store {
    /// Queues a message; returns its id. Idempotent on `idempotency_key`.
    pub async fn enqueue_outbound(&self, m: &NewOutbound) -> Result<i64, StoreError> {
        let complaint_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM complaints WHERE tracking_id = $1")
                .bind(&m.tracking_id)
                .fetch_optional(&self.pool)
                .await?;
        let complaint_id = complaint_id
            .ok_or_else(|| StoreError::Invalid(format!("no complaint {}", m.tracking_id)))?;
        let mut conn = self.pool.acquire().await?;
        insert_outbound(&mut conn, complaint_id, m).await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM outbox WHERE idempotency_key = $1")
                .bind(&m.idempotency_key)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Takes up to `limit` due messages (pending and due, or sending with an expired
    /// lease: its dispatcher died) and leases them until `lease_until`. Two dispatchers
    /// never get the same row: PostgreSQL skips rows another claim has locked, SQLite
    /// has one writer.
    pub async fn claim_outbound(
        &self,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let now = now_micros();
        let sql = claim_outbound_sql(self.backend);
        let ids: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(micros(lease_until))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.outbound(id).await? {
                rows.push(r);
            }
        }
        Ok(rows)
    }

    pub async fn outbound(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox o JOIN complaints c ON c.id = o.complaint_id WHERE o.id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(row_to_outbox)
            .transpose()
    }

    pub async fn outbound_for(&self, tracking_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o JOIN complaints c ON c.id = o.complaint_id WHERE c.tracking_id = $1 ORDER BY o.id"
        );
        sqlx::query(&sql)
            .bind(tracking_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_outbox)
            .collect()
    }

    /// Records a confirmed send: the row, the outgoing message in the thread and its
    /// provider id as a thread key commit together. Only a row still leased to us moves.
    pub async fn outbound_sent(
        &self,
        row: &OutboxRow,
        external_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, external_id = $2, lease_until = NULL, last_error = NULL WHERE id = $3 AND status = 'sending'")
            .bind(now)
            .bind(external_id)
            .bind(row.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 1 {
            let ext = external_id
                .map(str::to_owned)
                .unwrap_or_else(|| format!("outbox:{}", row.id));
            // An answer is public unless its complaint, or the one it was merged into,
            // is rahasia.
            let c = sqlx::query(
                "SELECT c.channel, c.confidential OR COALESCE(m.confidential, c.confidential) AS confidential
                 FROM complaints c LEFT JOIN complaints m ON m.id = c.merged_into WHERE c.id = $1",
            )
            .bind(row.complaint_id)
            .fetch_one(&mut *tx)
            .await?;
            let channel: String = c.try_get("channel")?;
            let public =
                row.message.kind == OutboundKind::Answer && !super::flag(&c, "confidential")?;
            sqlx::query(
                "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at, public)
                 VALUES ($1, 'out', $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(row.complaint_id)
            .bind(channel)
            .bind(row.message.channel_name.as_str())
            .bind(&ext)
            .bind(&row.message.body)
            .bind(now)
            .bind(public)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO thread_keys (channel_name, key, complaint_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(row.message.channel_name.as_str())
                .bind(&ext)
                .bind(row.complaint_id)
                .execute(&mut *tx)
                .await?;
            if let Some(ext) = external_id {
                // The provider may have reported a failure before the id was known here.
                apply_failure_report(&mut tx, row.message.channel_name.as_str(), ext).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: back to pending at `retry_at`, or failed for good.
    pub async fn outbound_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        match retry_at {
            Some(at) => sqlx::query("UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, lease_until = NULL WHERE id = $3 AND status = 'sending'")
                .bind(micros(at))
                .bind(error)
                .bind(id),
            None => sqlx::query("UPDATE outbox SET status = 'failed', last_error = $1, lease_until = NULL WHERE id = $2 AND status = 'sending'")
                .bind(error)
                .bind(id),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running daemon's outbox is nearly all sent receipts. Once ANALYZE has counted
    /// them, the dispatcher's poll must still read only the open rows: with an index
    /// led by `status`, SQLite's planner chose to scan the whole outbox instead.
    #[tokio::test]
    async fn the_dispatchers_poll_reads_only_open_rows_after_analyze() {
        let (_dir, store) = crate::store::tests::sqlite_store(2).await;
        let seed = [
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO complaints (tracking_id, channel, channel_name, external_id, status, title, body,
                 anonymous, confidential, received_at, raw_content_type, raw, created_at, updated_at)
             SELECT 'T-' || i, 'webform', 'web', 'e-' || i, 'closed', 't', 'b', 0, 0, i, 'text/plain', X'', 0, 0 FROM n",
            "INSERT INTO outbox (complaint_id, channel_name, kind, idempotency_key, recipient_address, body,
                 status, attempts, next_attempt_at, created_at, sent_at)
             SELECT id, 'web', 'acknowledgement', 'ack:' || id, 'w@contoh.id', 'diterima', 'sent', 1,
                 received_at, received_at, received_at FROM complaints",
            "ANALYZE",
        ];
        for sql in seed {
            sqlx::query(sql).execute(&store.pool).await.expect("seed");
        }
        let plan: Vec<String> = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN {}",
            claim_outbound_sql(Backend::Sqlite)
        ))
        .bind(1_i64)
        .bind(2_i64)
        .bind(10_i64)
        .fetch_all(&store.pool)
        .await
        .expect("explain")
        .iter()
        .map(|r| r.try_get::<String, _>("detail").expect("detail"))
        .collect();
        assert!(
            plan.iter().any(|l| l.contains("INDEX outbox_open")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.trim() == "SCAN outbox"),
            "the poll scans the whole outbox: {plan:?}"
        );
        store.close().await;
    }
}
