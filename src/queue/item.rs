//! A complaint as the queue shows it ([`QueueItem`]), read from its row: the columns
//! every queue read selects, the row decoded, what a role may not see taken out, and
//! the thread and deliveries read beside it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::QueueError;
use super::workflow::{Actor, Status};
use crate::store::{flag, from_micros, now_micros, Cols, ComplaintRecord, Store, StoreError};

/// A complaint as the queue shows it: the public record plus the workflow's fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub record: ComplaintRecord,
    pub classification: Option<String>,
    pub claimed_by: Option<String>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub claim_until: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub merged_into: Option<String>,
    /// Another reporter's complaint whose thread this one's message replied in, or whose
    /// tracking number it quoted: it was filed apart, as only a complaint's reporter
    /// adds to it. Empty in lists.
    pub refers_to: Option<String>,
    /// The latest answer draft, for the liaison to approve.
    pub pending_answer: Option<String>,
    /// What the outbox holds for this complaint (receipts, answers) and how each fared:
    /// a refused send (say, a Messenger answer outside the 24-hour window) shows here
    /// with its reason, so the admins can answer another way. Empty in lists.
    pub deliveries: Vec<DeliveryState>,
}

/// One outgoing message of a complaint and where it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryState {
    pub channel_name: String,
    /// `acknowledgement` or `answer`.
    pub kind: String,
    /// `pending`, `sending`, `sent` or `failed` (given up: it needs another way).
    pub status: String,
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// What the provider last reported of a sent message, where it reports delivery:
    /// `sent`, `delivered`, `read` or `failed`.
    pub reported: Option<String>,
}

pub(super) const ROW_COLUMNS: &str = "c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking";

pub(super) const ROW_FROM: &str = "complaints c LEFT JOIN users u ON u.id = c.claimed_by
    LEFT JOIN complaints m ON m.id = c.merged_into";

/// A complaint read whole (shown, claimed) has beside its row the complaint it refers
/// to; the lists do without.
pub(super) const WHOLE_COLUMNS: &str = "r.tracking_id AS refers_to_tracking";
pub(super) const WHOLE_FROM: &str = "LEFT JOIN complaints r ON r.id = c.refers_to";

/// One complaint row with what the workflow needs.
pub(super) struct Row0 {
    pub id: i64,
    pub status: Status,
    pub held_from: Option<Status>,
    pub unit: Option<String>,
    /// The reporter's wish as the row stands.
    pub anonymous: bool,
    pub claimed_by: Option<i64>,
    pub claim_until: Option<i64>,
    pub claimed_by_name: Option<String>,
}

pub(super) fn row0(r: &AnyRow) -> Result<Row0, QueueError> {
    let status: String = r.try_get("status")?;
    let held: Option<String> = r.try_get("held_from")?;
    Ok(Row0 {
        id: r.try_get("id")?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("unknown status {status:?}")))?,
        held_from: held.as_deref().and_then(Status::parse),
        unit: r.try_get("unit")?,
        anonymous: flag(r, "anonymous")?,
        claimed_by: r.try_get("claimed_by")?,
        claim_until: r.try_get("claim_until")?,
        claimed_by_name: r.try_get("claimed_by_name")?,
    })
}

pub(super) fn item_from_row(r: &impl Cols, now: i64) -> Result<(i64, QueueItem), QueueError> {
    let claim_until: Option<i64> = r.col("claim_until")?;
    let live_claim = claim_until.is_some_and(|t| t > now);
    let due_at: Option<i64> = r.col("due_at")?;
    let flagged: Option<i64> = r.col("overdue_at")?;
    let (id, record) = crate::store::complaint_from_row(r)?;
    let open = Status::parse(&record.status).is_some_and(Status::is_open);
    Ok((
        id,
        QueueItem {
            record,
            classification: r.col("classification")?,
            claimed_by: if live_claim {
                r.col("claimed_by_name")?
            } else {
                None
            },
            claim_until: if live_claim {
                claim_until.map(from_micros)
            } else {
                None
            },
            due_at: due_at.map(from_micros),
            overdue: open && (flagged.is_some() || due_at.is_some_and(|d| d < now)),
            merged_into: r.col("merged_into_tracking")?,
            refers_to: None,
            pending_answer: None,
            deliveries: Vec::new(),
        },
    ))
}

/// [`item_from_row`] for a row read with [`WHOLE_COLUMNS`].
pub(super) fn whole_item_from_row(r: &impl Cols, now: i64) -> Result<(i64, QueueItem), QueueError> {
    let (id, mut item) = item_from_row(r, now)?;
    item.refers_to = r.col("refers_to_tracking")?;
    Ok((id, item))
}

/// Removes who filed the complaint: the reporter and the provider's ids of its
/// messages, both ways (see [`ComplaintRecord::hide_identity`]).
pub(super) fn hide_identity(item: &mut QueueItem) {
    item.record.hide_identity();
    // A provider's refusal may quote the address it refused.
    for d in &mut item.deliveries {
        d.last_error = None;
    }
}

/// Removes what `actor` may not see of who filed the complaint.
pub(super) fn redact(actor: &Actor, item: &mut QueueItem) {
    if !actor.can_see_identity(item.record.anonymous) {
        hide_identity(item);
    }
}

/// Complaints by id, whole (row, thread, deliveries, answer draft) and before any
/// caller's view is applied, in two statements however many: the claim-next batch opens
/// what it handed out this way. Ids not found are left out.
pub(super) async fn load_items(
    store: &Store,
    ids: &[i64],
) -> Result<Vec<(i64, QueueItem)>, QueueError> {
    let now = now_micros();
    let (of, list) = store.id_list(ids);
    let sql = format!(
        "SELECT {ROW_COLUMNS}, {WHOLE_COLUMNS} FROM {ROW_FROM} {WHOLE_FROM} WHERE c.id {of}"
    );
    let mut items = crate::store::on_reads!(&store.reads, pool => {
        sqlx::query(&sql)
            .bind(list)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| whole_item_from_row(r, now))
            .collect::<Result<Vec<_>, _>>()?
    });
    with_threads(store, &mut items).await?;
    Ok(items)
}

/// Reads the threads of `items` and what the queue shows beside them, in one statement.
pub(super) async fn with_threads(
    store: &Store,
    items: &mut [(i64, QueueItem)],
) -> Result<(), QueueError> {
    let mut records: Vec<(i64, &mut ComplaintRecord)> = items
        .iter_mut()
        .map(|(id, item)| (*id, &mut item.record))
        .collect();
    let sides = store.fill_threads_for_queue(&mut records).await?;
    for ((_, item), side) in items.iter_mut().zip(sides) {
        item.deliveries = side
            .deliveries
            .into_iter()
            .map(|d| DeliveryState {
                channel_name: d.channel_name,
                kind: d.kind,
                status: d.status,
                attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
                last_error: d.last_error,
                reported: d.reported,
            })
            .collect();
        item.pending_answer = side.pending_answer;
    }
    Ok(())
}
