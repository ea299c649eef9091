//! Which complaint an inbound message follows up on, if any.

use std::collections::HashSet;

use aduan_kit::{Inbound, InboundKind};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::rows::text;
use crate::store::{flag, micros};
use crate::tracking::TrackingId;

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
/// comes from its reporter, else `None`, the first such complaint kept in `refers_to`
/// unless it only `named` the key (see [`Thread::held`]).
async fn joinable(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
    row: Option<AnyRow>,
    named: bool,
    refers_to: &mut Option<i64>,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let Some(row) = row else { return Ok(None) };
    if by_reporter(tx, item, &row).await? {
        return Ok(Some((row.try_get(0)?, row.try_get(1)?)));
    }
    if !named {
        refers_to.get_or_insert(row.try_get::<i64, _>(0)?);
    }
    Ok(None)
}

/// What [`find_thread`] found for a message.
pub(super) struct Thread {
    /// The complaint it follows up on: id and tracking number.
    pub(super) found: Option<(i64, String)>,
    /// Else the complaint it replied to or quoted, by someone else.
    pub(super) refers_to: Option<i64>,
    /// The keys looked up that are already some complaint's. The others a new complaint
    /// claims in `thread_keys`, its references too ("named" claims): a writer that finds
    /// one claimed meanwhile (its original committed by another writer, or a reply to it
    /// filed first) looks again and joins that complaint. A named claim only leads the
    /// message it names (the original, when its reporter's reply was filed first), and
    /// makes no complaint refer to another.
    pub(super) held: HashSet<String>,
    /// When the sender's conversation (`Threading::sender`) was last written, as the
    /// lookup saw it: a new complaint takes it over only if it is still so.
    pub(super) sender_seen: Option<i64>,
}

impl Thread {
    fn joins(found: (i64, String)) -> Self {
        Self {
            found: Some(found),
            refers_to: None,
            held: HashSet::new(),
            sender_seen: None,
        }
    }
}

/// The complaint a message follows up on: a thread key it names, else a tracking number
/// it quotes, else its sender's open conversation; each only when the message comes
/// from that complaint's reporter. A thread key or a tracking number is no secret (a
/// reply under a public post names it, a number is read aloud and posted), so anyone
/// else's message becomes a complaint of its own, naming the complaint it replied to or
/// quoted, for the admins to see beside it. `recheck` (after a lost claim) also looks up
/// the message's own keys: a reply to it may have been filed first.
pub(super) async fn find_thread(
    tx: &mut Transaction<'static, Any>,
    item: &Inbound,
    recheck: bool,
) -> Result<Thread, sqlx::Error> {
    let mut refers_to = None;
    let mut held = HashSet::new();
    // A reference to the message itself (a Facebook comment names its own id) is an
    // own key too.
    let (keys, refs) = (&item.thread.keys, &item.thread.refs);
    let own = keys
        .iter()
        .filter(|k| recheck && !refs.contains(k))
        .map(|k| (k, true));
    let refs = refs.iter().map(|r| (r, keys.contains(r)));
    for (r, own) in refs.chain(own) {
        let r = text(r);
        if held.contains(&r) {
            continue;
        }
        // Every complaint the key leads to, in turn: a named claim can come before the
        // row of the message the key is.
        let rows: Vec<AnyRow> = sqlx::query(concat!(
            "SELECT ",
            thread_cols!(),
            ", t.named FROM thread_keys t JOIN complaints c ON c.id = t.complaint_id
             WHERE t.channel_name = $1 AND t.key = $2
             UNION ALL
             SELECT ",
            thread_cols!(),
            ", FALSE FROM complaints c WHERE c.channel_name = $1 AND c.external_id = $2
             UNION ALL
             SELECT ",
            thread_cols!(),
            ", FALSE FROM messages m JOIN complaints c ON c.id = m.complaint_id
             WHERE m.channel_name = $1 AND m.direction = 'in' AND m.external_id = $2"
        ))
        .bind(item.channel_name.as_str())
        .bind(&r)
        .fetch_all(&mut **tx)
        .await?;
        if !rows.is_empty() {
            held.insert(r);
        }
        for row in rows {
            // A named key leads only to the message it names: the original filed after
            // its reply. Another message naming the same key is not led by it.
            let named = flag(&row, "named")?;
            if named && !own {
                continue;
            }
            if let Some(f) = joinable(tx, item, Some(row), named, &mut refers_to).await? {
                return Ok(Thread::joins(f));
            }
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
        if let Some(f) = joinable(tx, item, row, false, &mut refers_to).await? {
            return Ok(Thread::joins(f));
        }
    }
    let mut sender_seen = None;
    if let Some(sender) = &item.thread.sender {
        let window = i64::try_from(sender.window.as_micros()).unwrap_or(i64::MAX);
        let row: Option<AnyRow> = sqlx::query(concat!(
            "SELECT ",
            thread_cols!(),
            ", t.last_at, c.status FROM thread_keys t JOIN complaints c ON c.id = t.complaint_id
             WHERE t.channel_name = $1 AND t.key = $2"
        ))
        .bind(item.channel_name.as_str())
        .bind(text(&sender.key))
        .fetch_optional(&mut **tx)
        .await?;
        let mut open = None;
        if let Some(r) = row {
            let last_at: Option<i64> = r.try_get("last_at")?;
            let status: String = r.try_get("status")?;
            sender_seen = last_at;
            let since = micros(item.received_at).saturating_sub(window);
            if last_at.is_some_and(|l| l >= since)
                && !matches!(status.as_str(), "closed" | "rejected" | "archived")
            {
                open = Some(r);
            }
        }
        if let Some(f) = joinable(tx, item, open, false, &mut refers_to).await? {
            return Ok(Thread::joins(f));
        }
    }
    Ok(Thread {
        found: None,
        refers_to,
        held,
        sender_seen,
    })
}
