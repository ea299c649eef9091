//! One inbound item at a time: a new complaint or a follow-up, an edit or a removal,
//! a quarantined or ignored item, and the receipt a new complaint gets. The batch's
//! fast path sends here whatever is not a plain new complaint, and the careful path
//! every item.

use std::collections::HashSet;

use aduan_kit::{Delivery, DeliveryStatus, InboundKind, OutboundKind, Outcome, Recipient};
use sqlx::{Any, Row, Transaction};

use super::rows::{
    complaint_row, draft, insert_attachments, insert_rows, message_row, text, thread_key_rows,
    Prepared, COMPLAINTS, MESSAGES, THREAD_KEYS, V,
};
use super::threads::find_thread;
use crate::store::outbox::{self, NewOutbound, ReceiptRoom};
use crate::store::{micros, now_micros};
use crate::tracking::TrackingId;

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

    // A provider's report on a message the daemon sent is recorded on its delivery.
    if let (None, InboundKind::Status { of, status, detail }) = (&force_quarantine, &item.kind) {
        return record_status(tx, ch, of, *status, detail.as_deref(), received).await;
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
        (None, InboundKind::Status { .. }) => None,
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
    let mut lost_claims = 0;
    let (tracking_id, outcome) = loop {
        let thread = find_thread(tx, item, lost_claims > 0).await?;
        if let Some(found) = thread.found {
            let (id, tid) = follow_up(tx, p, found, now).await?;
            follow_sender(tx, p, id).await?;
            break (tid, Outcome::FollowUp);
        }
        // Filed in a savepoint: when another writer claimed one of its thread keys since
        // the lookup, the complaint is undone and the lookup goes again (it now sees the
        // other's committed rows); after a few rounds it stays as it is.
        sqlx::query("SAVEPOINT thread").execute(&mut **tx).await?;
        let (id, tid) = file_new(tx, p, careful, thread.refers_to, now).await?;
        let lost = claim_keys(tx, p, id, &thread.held).await?
            | claim_sender(tx, p, id, thread.sender_seen).await?;
        if lost && lost_claims < CLAIM_ROUNDS {
            sqlx::query("ROLLBACK TO SAVEPOINT thread")
                .execute(&mut **tx)
                .await?;
            sqlx::query("RELEASE SAVEPOINT thread")
                .execute(&mut **tx)
                .await?;
            metrics::counter!("aduan_ingest_thread_claims_lost_total").increment(1);
            lost_claims += 1;
            continue;
        }
        sqlx::query("RELEASE SAVEPOINT thread")
            .execute(&mut **tx)
            .await?;
        break (tid, Outcome::Created);
    };
    Ok(Delivery::Committed {
        outcome,
        tracking_id: Some(tracking_id),
    })
}

/// How often a new complaint goes back to its lookup after losing a thread key's claim.
const CLAIM_ROUNDS: u32 = 3;

/// Appends a follow-up to the complaint `found` (or the one it was merged into), which
/// opens again when it was answered or closed. Returns the complaint it went to.
async fn follow_up(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    (id, tid): (i64, String),
    now: i64,
) -> Result<(i64, String), sqlx::Error> {
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
        crate::store::audit_on(
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
    insert_attachments(tx, p, id, Some(message_id), now).await?;
    insert_rows(
        tx,
        THREAD_KEYS,
        thread_key_rows(p, id),
        "ON CONFLICT DO NOTHING",
    )
    .await?;
    Ok((id, tid))
}

/// Files `p` as a new complaint with its attachments and receipt.
async fn file_new(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    careful: bool,
    refers_to: Option<i64>,
    now: i64,
) -> Result<(i64, String), sqlx::Error> {
    // The unique index catches the (2^-35) collision; the careful path then picks a
    // number it checked first.
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
    insert_attachments(tx, p, id, None, now).await?;
    if let Some(other) = refers_to {
        sqlx::query("UPDATE complaints SET refers_to = $1 WHERE id = $2")
            .bind(other)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    queue_receipt(tx, p, id, &tid).await?;
    Ok((id, tid))
}

/// Claims a new complaint's thread keys: its own, and the references its lookup found
/// nobody's (named claims, see `Thread::held`). True when one not in `held` was taken
/// by another writer meanwhile: PostgreSQL makes the insert wait for that writer's
/// commit, and the next lookup sees it.
async fn claim_keys(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    complaint_id: i64,
    held: &HashSet<String>,
) -> Result<bool, sqlx::Error> {
    let ch = p.item.channel_name.to_string();
    let thread = &p.item.thread;
    let own = thread.keys.iter().map(|k| (text(k), false));
    let named = thread.refs.iter().map(|r| (text(r), true));
    let mut claims: Vec<(String, bool)> = Vec::new();
    for (key, named) in own.chain(named) {
        if !claims.iter().any(|(k, _)| *k == key) {
            claims.push((key, named));
        }
    }
    let wanted: Vec<&String> = claims
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !held.contains(*k))
        .collect();
    let rows = claims
        .iter()
        .map(|(k, named)| {
            vec![
                V::S(ch.clone()),
                V::S(k.clone()),
                V::I(complaint_id),
                V::B(*named),
            ]
        })
        .collect();
    let claimed: HashSet<String> = insert_rows(
        tx,
        "thread_keys (channel_name, key, complaint_id, named)",
        rows,
        "ON CONFLICT DO NOTHING RETURNING key",
    )
    .await?
    .iter()
    .map(|r| r.try_get("key"))
    .collect::<Result<_, _>>()?;
    Ok(wanted.into_iter().any(|k| !claimed.contains(k)))
}

/// The sender's conversation (Messenger's) now leads to this complaint, unless a newer
/// message of theirs was filed first.
async fn follow_sender(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    complaint_id: i64,
) -> Result<(), sqlx::Error> {
    let Some(sender) = &p.item.thread.sender else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO thread_keys (channel_name, key, complaint_id, last_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel_name, key) DO UPDATE SET complaint_id = excluded.complaint_id, last_at = excluded.last_at
         WHERE thread_keys.last_at IS NULL OR thread_keys.last_at <= excluded.last_at",
    )
    .bind(p.item.channel_name.as_str())
    .bind(text(&sender.key))
    .bind(complaint_id)
    .bind(micros(p.item.received_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims the sender's conversation for a new complaint, as [`follow_sender`] does,
/// but only while it is as the lookup saw it (`seen`). True when another message of
/// theirs was filed meanwhile (PostgreSQL makes the claim wait for that commit).
async fn claim_sender(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    complaint_id: i64,
    seen: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let Some(sender) = &p.item.thread.sender else {
        return Ok(false);
    };
    let ch = p.item.channel_name.as_str();
    let key = text(&sender.key);
    let claimed = sqlx::query(
        "INSERT INTO thread_keys (channel_name, key, complaint_id, last_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel_name, key) DO UPDATE SET complaint_id = excluded.complaint_id, last_at = excluded.last_at
         WHERE thread_keys.last_at = $5 AND thread_keys.last_at <= excluded.last_at
         RETURNING key",
    )
    .bind(ch)
    .bind(&key)
    .bind(complaint_id)
    .bind(micros(p.item.received_at))
    .bind(seen)
    .fetch_optional(&mut **tx)
    .await?;
    if claimed.is_some() {
        return Ok(false);
    }
    // Not taken: changed since the lookup, or already naming a newer message of theirs.
    let now: Option<i64> =
        sqlx::query_scalar("SELECT last_at FROM thread_keys WHERE channel_name = $1 AND key = $2")
            .bind(ch)
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
    Ok(now != seen)
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
    crate::store::audit_on(
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

/// Records what the provider reports of the message it knows as `of` (kept even when
/// no delivery carries that id yet: the dispatcher may not have recorded it), and fails
/// the delivery visibly when the provider could not deliver it. Answered with the
/// complaint's tracking number when the delivery is known.
async fn record_status(
    tx: &mut Transaction<'static, Any>,
    channel: &str,
    of: &str,
    status: DeliveryStatus,
    detail: Option<&str>,
    at: i64,
) -> Result<Delivery, sqlx::Error> {
    let of = text(of);
    sqlx::query(
        "INSERT INTO delivery_reports (channel_name, external_id, status, detail, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(channel)
    .bind(&of)
    .bind(status.as_str())
    .bind(detail.map(text))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    if status == DeliveryStatus::Failed {
        outbox::apply_failure_report(tx, channel, &of).await?;
    }
    let tracking_id: Option<String> = sqlx::query_scalar(
        "SELECT c.tracking_id FROM outbox o JOIN complaints c ON c.id = o.complaint_id
         WHERE o.channel_name = $1 AND o.external_id = $2 LIMIT 1",
    )
    .bind(channel)
    .bind(&of)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(Delivery::Committed {
        outcome: Outcome::Status,
        tracking_id,
    })
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

/// Queues the receipt of a new complaint in the complaint's own transaction, so there is
/// never one without the other; skipped when the same recipient got one on this channel
/// within the connector's window, or the channel's hourly cap is reached.
pub(super) async fn queue_receipt(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    complaint_id: i64,
    tracking_id: &str,
) -> Result<(), sqlx::Error> {
    let Some(a) = &p.item.acknowledge else {
        return Ok(());
    };
    let title = draft(p)?.title.clone();
    let channel = p.item.channel_name.as_str();
    match outbox::receipt_room(tx, channel, &a.recipient.address, a.once_per, a.per_hour).await? {
        ReceiptRoom::Open => {}
        ReceiptRoom::SentRecently => return Ok(()),
        ReceiptRoom::CapReached(cap) => {
            tracing::warn!(
                channel,
                tracking_id,
                cap,
                "no receipt: this channel's hourly cap of receipts is reached"
            );
            metrics::counter!("aduan_receipts_capped_total", "channel" => channel.to_owned())
                .increment(1);
            return Ok(());
        }
    }
    let fill = |t: &str| {
        text(
            &t.replace("{tracking_id}", tracking_id)
                .replace("{title}", &title),
        )
    };
    let receipt = NewOutbound {
        tracking_id: tracking_id.to_owned(),
        channel_name: p.item.channel_name.clone(),
        kind: OutboundKind::Acknowledgement,
        idempotency_key: format!("ack:{channel}:{}", text(&p.item.external_id)),
        recipient: Recipient {
            address: text(&a.recipient.address),
            name: a.recipient.name.as_deref().map(text),
        },
        subject: a.subject.as_deref().map(fill),
        body: fill(&a.body),
        in_reply_to: a.in_reply_to.as_deref().map(text),
        // Without quotes and backslashes, as a receipt's references have always been kept.
        references: a
            .references
            .iter()
            .map(|r| r.replace(['"', '\\'], ""))
            .collect(),
    };
    outbox::insert_outbound(tx, complaint_id, &receipt).await
}

/// The answer for a message already stored: the complaint it went to, if any.
pub(super) async fn duplicate(
    tx: &mut Transaction<'static, Any>,
    channel: &str,
    external_id: &str,
) -> Result<Delivery, sqlx::Error> {
    let tracking_id: Option<String> = sqlx::query_scalar(
        "SELECT tracking_id FROM complaints WHERE channel_name = $1 AND external_id = $2
         UNION ALL
         SELECT c.tracking_id FROM messages m JOIN complaints c ON c.id = m.complaint_id
         WHERE m.channel_name = $1 AND m.direction = 'in' AND m.external_id = $2
         LIMIT 1",
    )
    .bind(channel)
    .bind(external_id)
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    Ok(Delivery::Committed {
        outcome: Outcome::Duplicate,
        tracking_id,
    })
}
