//! The answer: a unit drafts it, its liaison approves it (it goes to every reporter
//! it concerns) or returns it to the unit with a reason.

use aduan_kit::{OutboundKind, Recipient};
use sqlx::Row;

use super::{Acting, Change};
use crate::queue::error::QueueError;
use crate::queue::service::Queue;
use crate::queue::workflow::Refusal;
use crate::store::{flag, insert_outbound, NewOutbound};

pub(super) async fn draft(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    let body = cx
        .req
        .body
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Refusal::Invalid("answer: give the body".into()))?;
    sqlx::query(
        "INSERT INTO answers (complaint_id, unit, body, status, author_id, created_at)
         VALUES ($1, $2, $3, 'submitted', $4, $5)",
    )
    .bind(cx.row.id)
    .bind(cx.row.unit.as_deref())
    .bind(body)
    .bind(cx.actor.user_id)
    .bind(cx.now)
    .execute(conn)
    .await?;
    Ok(Change::default())
}

pub(super) async fn approve(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    let (answer_id, body) = decide(cx, conn, "approved").await?;
    deliver(cx.queue, conn, cx.row.id, answer_id, &body, cx.now).await?;
    let mut change = Change::default();
    change.recompute_due();
    Ok(change)
}

pub(super) async fn return_to_unit(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
) -> Result<Change, QueueError> {
    decide(cx, conn, "returned").await?;
    Ok(Change::default())
}

/// Records the liaison's decision on the answer waiting for it; its id and body.
async fn decide(
    cx: &Acting<'_>,
    conn: &mut sqlx::AnyConnection,
    status: &str,
) -> Result<(i64, String), QueueError> {
    let pending = sqlx::query(
        "SELECT id, body FROM answers WHERE complaint_id = $1 AND status = 'submitted'
         ORDER BY id DESC LIMIT 1",
    )
    .bind(cx.row.id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Refusal::Invalid("no answer is waiting for approval".into()))?;
    let answer_id: i64 = pending.try_get(0)?;
    let body: String = pending.try_get(1)?;
    sqlx::query(
        "UPDATE answers SET status = $1, approver_id = $2, reason = $3, decided_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(cx.actor.user_id)
    .bind(cx.reason)
    .bind(cx.now)
    .bind(answer_id)
    .execute(&mut *conn)
    .await?;
    Ok((answer_id, body))
}

/// Queues an approved answer to every reporter it concerns (the complaint's and
/// those of complaints merged into it), on the channel each came from, and shows it
/// on the public status page.
async fn deliver(
    queue: &Queue,
    conn: &mut sqlx::AnyConnection,
    complaint_id: i64,
    answer_id: i64,
    body: &str,
    now: i64,
) -> Result<(), QueueError> {
    let rows = sqlx::query(
        "SELECT id, tracking_id, channel, channel_name, external_id, title, reporter_name, reporter_email,
             reporter_user_id, confidential
         FROM complaints WHERE id = $1 OR merged_into = $1 ORDER BY id",
    )
    .bind(complaint_id)
    .fetch_all(&mut *conn)
    .await?;
    // A rahasia complaint's answer stays off every status page, including those of
    // the complaints merged into it: their reporters get it, the public does not.
    let mut survivor_confidential = false;
    for r in &rows {
        if r.try_get::<i64, _>("id")? == complaint_id {
            survivor_confidential = flag(r, "confidential")?;
        }
    }
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let tracking: String = r.try_get("tracking_id")?;
        let channel: String = r.try_get("channel")?;
        let channel_name: String = r.try_get("channel_name")?;
        let external_id: String = r.try_get("external_id")?;
        let title: String = r.try_get("title")?;
        let name: Option<String> = r.try_get("reporter_name")?;
        let email: Option<String> = r.try_get("reporter_email")?;
        let user_id: Option<String> = r.try_get("reporter_user_id")?;
        let confidential = flag(r, "confidential")?;
        sqlx::query(
            "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at, public)
             VALUES ($1, 'out', $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&channel)
        .bind(&channel_name)
        // One message per complaint: the ids of the copies for merged complaints
        // on the same channel must differ.
        .bind(if id == complaint_id {
            format!("answer:{answer_id}")
        } else {
            format!("answer:{answer_id}:{tracking}")
        })
        .bind(body)
        .bind(now)
        .bind(!(confidential || survivor_confidential))
        .execute(&mut *conn)
        .await?;
        // The same channel when it can carry answers; otherwise e-mail, when the
        // reporter gave an address.
        let Some((via, via_kind)) = queue.answer_channel(&channel_name, email.is_some()) else {
            continue;
        };
        // An e-mail answer goes where the receipt went (Reply-To honoured) and
        // threads under the citizen's first message.
        let (recipient, in_reply_to, refs) = if via_kind == "email" {
            let prior = sqlx::query(
                "SELECT recipient_address, recipient_name, in_reply_to, refs FROM outbox
                 WHERE complaint_id = $1 AND channel_name = $2 ORDER BY id LIMIT 1",
            )
            .bind(id)
            .bind(via.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            match (prior, &email) {
                (Some(p), _) => {
                    let refs: String = p.try_get(3)?;
                    (
                        Recipient {
                            address: p.try_get(0)?,
                            name: p.try_get(1)?,
                        },
                        p.try_get::<Option<String>, _>(2)?,
                        serde_json::from_str::<Vec<String>>(&refs).unwrap_or_default(),
                    )
                }
                (None, Some(addr)) => (
                    Recipient {
                        address: addr.clone(),
                        name: name.clone(),
                    },
                    (channel == "email").then(|| external_id.clone()),
                    if channel == "email" {
                        vec![external_id.clone()]
                    } else {
                        Vec::new()
                    },
                ),
                (None, None) => continue,
            }
        } else {
            // A provider's channel answers under the citizen's message, addressed
            // to their account id there (Messenger needs it).
            (
                Recipient {
                    address: user_id.unwrap_or_else(|| external_id.clone()),
                    name: name.clone(),
                },
                Some(external_id.clone()),
                Vec::new(),
            )
        };
        let m = NewOutbound {
            tracking_id: tracking.clone(),
            channel_name: via,
            kind: OutboundKind::Answer,
            idempotency_key: format!("answer:{answer_id}:{tracking}"),
            recipient,
            subject: Some(format!("Re: {title} [{tracking}]")),
            body: answer_message_body(body, &tracking, &via_kind),
            in_reply_to,
            references: refs,
        };
        insert_outbound(conn, id, &m).await?;
    }
    Ok(())
}

/// The text an approved answer goes out with (before the outbox fills in
/// `{status_url}` and a channel shortens it to its limit); the console previews it.
pub fn answer_message_body(body: &str, tracking_id: &str, via_kind: &str) -> String {
    if via_kind == "email" {
        format!(
            "{body}\n\n--\nLaporan {tracking_id}\nPerkembangannya:\n{{status_url}}\n\nBalas e-mail ini bila jawaban belum menyelesaikan masalah Anda."
        )
    } else {
        // Short, with the link last: a channel that shortens (X) keeps the number and
        // the link whole.
        format!("{body}\n\nLaporan {tracking_id}: {{status_url}}")
    }
}
