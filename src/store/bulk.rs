//! The fast path of group commit: the plain new complaints of a whole batch (no thread
//! references, no quoted tracking number) go into each table with one multi-row
//! statement, so a batch of a hundred reports costs a handful of round trips and one
//! commit instead of hundreds. Everything else in the batch (follow-ups, quarantine
//! and ignored records) then goes through the one-by-one path, in order.

use std::collections::{HashMap, HashSet};

use aduan_kit::{ComplaintDraft, Delivery, InboundKind, Outcome};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, Row, Transaction};

use super::ingest::{insert_item, text, Prepared};
use super::{micros, now_micros};
use crate::tracking::TrackingId;

/// A value to bind; owned so rows can be built before the statement.
pub(super) enum V {
    I(i64),
    Oi(Option<i64>),
    S(String),
    Os(Option<String>),
    B(bool),
    Of(Option<f64>),
    Bytes(Vec<u8>),
}

fn add(args: &mut AnyArguments<'static>, v: V) -> Result<(), sqlx::Error> {
    match v {
        V::I(x) => args.add(x),
        V::Oi(x) => args.add(x),
        V::S(x) => args.add(x),
        V::Os(x) => args.add(x),
        V::B(x) => args.add(x),
        V::Of(x) => args.add(x),
        V::Bytes(x) => args.add(x),
    }
    .map_err(sqlx::Error::Encode)
}

/// Rows per statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 64;

/// `INSERT INTO {head} VALUES (...), (...) {tail}` over `rows`, in chunks.
pub(super) async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    head: &str,
    rows: Vec<Vec<V>>,
    tail: &str,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut out = Vec::new();
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        // Chunks of 64, 32, ..., 1 rows: a handful of distinct statements per table, so
        // each is prepared once per connection and then only executed.
        let size = CHUNK.min(1 << left.ilog2());
        left -= size;
        let chunk: Vec<Vec<V>> = rows.by_ref().take(size).collect();
        let mut sql = format!("INSERT INTO {head} VALUES ");
        let mut args = AnyArguments::default();
        // SQLite looks a named parameter (`$n`) up by walking a list, once per bind, so
        // binding a many-row statement grows with the square of its parameters. Plain `?`
        // parameters bind by position.
        let positional = tx.backend_name() == "SQLite";
        let mut n = 0;
        for (r, row) in chunk.into_iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (c, v) in row.into_iter().enumerate() {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                if positional {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${n}"));
                }
                add(&mut args, v)?;
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        out.extend(sqlx::query_with(&sql, args).fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

pub(super) type Key = (String, String);

pub(super) fn key(p: &Prepared) -> Key {
    (p.item.channel_name.to_string(), text(&p.item.external_id))
}

pub(super) const COMPLAINTS: &str =
    "complaints (tracking_id, channel, channel_name, external_id, title, body,
    category, reporter_name, reporter_handle, reporter_email, reporter_phone, reporter_user_id,
    anonymous, confidential, received_at, occurred_on, location_text, location_lat, location_lon,
    raw_content_type, raw, created_at, updated_at)";
pub(super) const MESSAGES: &str =
    "messages (complaint_id, direction, channel, channel_name, external_id, body, at, raw_content_type, raw)";
pub(super) const ATTACHMENTS: &str =
    "attachments (complaint_id, message_id, filename, content_type, size, sha256)";
pub(super) const THREAD_KEYS: &str = "thread_keys (channel_name, key, complaint_id)";
const RETURNING_KEY: &str = "RETURNING id, channel_name, external_id";

fn draft(p: &Prepared) -> Result<&ComplaintDraft, sqlx::Error> {
    match &p.item.kind {
        InboundKind::Complaint(d) | InboundKind::Edited { draft: d, .. } => Ok(d),
        _ => Err(sqlx::Error::Protocol("not a complaint".into())),
    }
}

pub(super) fn complaint_row(
    p: &Prepared,
    tracking_id: &str,
    now: i64,
) -> Result<Vec<V>, sqlx::Error> {
    let d = draft(p)?;
    let (ch, ext) = key(p);
    let loc = d.location.clone().unwrap_or_default();
    Ok(vec![
        V::S(tracking_id.to_owned()),
        V::S(p.item.channel.to_owned()),
        V::S(ch),
        V::S(ext),
        V::S(text(&d.title)),
        V::S(text(&d.body)),
        V::Os(d.category.as_deref().map(text)),
        V::Os(d.reporter.name.as_deref().map(text)),
        V::Os(d.reporter.handle.as_deref().map(text)),
        V::Os(d.reporter.email.as_deref().map(text)),
        V::Os(d.reporter.phone.as_deref().map(text)),
        V::Os(d.reporter.user_id.as_deref().map(text)),
        V::B(d.anonymous),
        V::B(d.confidential),
        V::I(micros(p.item.received_at)),
        V::Os(d.occurred_on.map(|d| d.format("%Y-%m-%d").to_string())),
        V::Os(loc.text.as_deref().map(text)),
        V::Of(loc.lat),
        V::Of(loc.lon),
        V::S(text(&p.item.raw.content_type)),
        V::Bytes(p.item.raw.bytes.to_vec()),
        V::I(now),
        V::I(now),
    ])
}

/// A citizen's follow-up on a complaint.
pub(super) fn message_row(p: &Prepared, complaint_id: i64) -> Result<Vec<V>, sqlx::Error> {
    let (ch, ext) = key(p);
    Ok(vec![
        V::I(complaint_id),
        V::S("in".into()),
        V::S(p.item.channel.to_owned()),
        V::S(ch),
        V::S(ext),
        V::S(text(&draft(p)?.body)),
        V::I(micros(p.item.received_at)),
        V::S(text(&p.item.raw.content_type)),
        V::Bytes(p.item.raw.bytes.to_vec()),
    ])
}

/// `message_id` is `None` for the complaint's first message.
pub(super) fn attachment_rows(
    p: &Prepared,
    complaint_id: i64,
    message_id: Option<i64>,
) -> Result<Vec<Vec<V>>, sqlx::Error> {
    Ok(draft(p)?
        .attachments
        .iter()
        .zip(&p.blob_hashes)
        .map(|(a, hash)| {
            vec![
                V::I(complaint_id),
                V::Oi(message_id),
                V::S(text(&a.filename)),
                V::S(text(&a.content_type)),
                V::I(i64::try_from(a.bytes.len()).unwrap_or(i64::MAX)),
                V::S(hash.clone()),
            ]
        })
        .collect())
}

/// Extra keys that let later messages join (a message's own id is found through
/// `messages`).
pub(super) fn thread_key_rows(p: &Prepared, complaint_id: i64) -> Vec<Vec<V>> {
    let ch = p.item.channel_name.to_string();
    p.item
        .thread
        .keys
        .iter()
        .map(|k| vec![V::S(ch.clone()), V::S(text(k)), V::I(complaint_id)])
        .collect()
}

fn ids_by_key(rows: &[AnyRow]) -> Result<HashMap<Key, i64>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("channel_name")?, r.try_get("external_id")?),
                r.try_get("id")?,
            ))
        })
        .collect()
}

fn lookup(map: &HashMap<Key, i64>, k: &Key, what: &str) -> Result<i64, sqlx::Error> {
    map.get(k)
        .copied()
        .ok_or_else(|| sqlx::Error::Protocol(format!("{what} not returned by its insert")))
}

pub(super) async fn insert_batch(
    tx: &mut Transaction<'static, Any>,
    items: &[&Prepared],
) -> Result<Vec<Delivery>, sqlx::Error> {
    let now = now_micros();
    let keys: Vec<Key> = items.iter().map(|p| key(p)).collect();
    let mut out: Vec<Option<Delivery>> = vec![None; items.len()];

    // Plain complaints (first occurrence of each key), repeats within the batch, the rest.
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    let (mut plain, mut repeats, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in items.iter().enumerate() {
        let is_plain = matches!(p.item.kind, InboundKind::Complaint(_))
            && p.item.thread.refs.is_empty()
            && p.item.thread.tracking_hint.is_none()
            && p.item.thread.sender.is_none();
        if !is_plain {
            rest.push(i);
        } else if let Some(&f) = first_of.get(&keys[i]) {
            repeats.push((i, f));
        } else {
            first_of.insert(keys[i].clone(), i);
            plain.push(i);
        }
    }

    // The ledger decides what is new; its unique key also makes a concurrent writer of the
    // same message wait for this transaction.
    let ledger = plain.iter().map(|&i| {
        let (ch, ext) = keys[i].clone();
        vec![V::S(ch), V::S(ext), V::I(now)]
    });
    let fresh: HashSet<Key> = insert_rows(
        tx,
        "inbound_keys (channel_name, external_id, at)",
        ledger.collect(),
        "ON CONFLICT DO NOTHING RETURNING channel_name, external_id",
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("channel_name")?, r.try_get("external_id")?)))
    .collect::<Result<_, sqlx::Error>>()?;

    let mut new = Vec::new();
    for &i in &plain {
        let (ch, ext) = keys[i].clone();
        if fresh.contains(&(ch.clone(), ext.clone())) {
            new.push(i);
        } else {
            out[i] = Some(duplicate(tx, &ch, &ext).await?);
        }
    }

    if !new.is_empty() {
        // A colliding tracking number (one in 2^35) fails the statement; the careful path
        // then checks each number before using it.
        let tids: HashMap<Key, String> = new
            .iter()
            .map(|&i| (keys[i].clone(), TrackingId::generate().to_string()))
            .collect();
        let rows = new
            .iter()
            .map(|&i| {
                let k = &keys[i];
                complaint_row(items[i], &tids[k], now)
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let complaint_ids = ids_by_key(&insert_rows(tx, COMPLAINTS, rows, RETURNING_KEY).await?)?;

        let (mut files, mut thread_keys) = (Vec::new(), Vec::new());
        for &i in &new {
            let k = &keys[i];
            let cid = lookup(&complaint_ids, k, "complaint")?;
            files.extend(attachment_rows(items[i], cid, None)?);
            thread_keys.extend(thread_key_rows(items[i], cid));
        }
        insert_rows(tx, ATTACHMENTS, files, "").await?;
        insert_rows(tx, THREAD_KEYS, thread_keys, "ON CONFLICT DO NOTHING").await?;
        for &i in &new {
            let k = &keys[i];
            queue_ack(
                tx,
                items[i],
                lookup(&complaint_ids, k, "complaint")?,
                &tids[k],
            )
            .await?;
        }

        for &i in &new {
            let tracking_id = Some(tids[&keys[i]].clone());
            out[i] = Some(Delivery::Committed {
                outcome: Outcome::Created,
                tracking_id,
            });
        }
    }

    for (i, f) in repeats {
        let tracking_id = match &out[f] {
            Some(Delivery::Committed { tracking_id, .. }) => tracking_id.clone(),
            _ => None,
        };
        out[i] = Some(Delivery::Committed {
            outcome: Outcome::Duplicate,
            tracking_id,
        });
    }
    for i in rest {
        out[i] = Some(insert_item(tx, items[i], None, false).await?);
    }
    out.into_iter()
        .map(|d| d.ok_or_else(|| sqlx::Error::Protocol("batch item left unanswered".into())))
        .collect()
}

/// Queues the receipt of a new complaint in the complaint's own transaction, so there is
/// never one without the other; skipped when the same recipient got one on this channel
/// within the connector's window.
pub(super) async fn queue_ack(
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
    let now = now_micros();
    let window = i64::try_from(a.once_per.as_micros()).unwrap_or(i64::MAX);
    let recent: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE channel_name = $1 AND recipient_address = $2 AND kind = 'acknowledgement'
         AND created_at > $3 LIMIT 1",
    )
    .bind(channel)
    .bind(&a.recipient.address)
    .bind(now.saturating_sub(window))
    .fetch_optional(&mut **tx)
    .await?;
    if recent.is_some() {
        return Ok(());
    }
    if let Some(cap) = a.per_hour {
        let queued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE channel_name = $1 AND kind = 'acknowledgement' AND created_at > $2",
        )
        .bind(channel)
        .bind(now.saturating_sub(3_600_000_000))
        .fetch_one(&mut **tx)
        .await?;
        if queued >= i64::from(cap) {
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
    let refs = format!(
        "[{}]",
        a.references
            .iter()
            .map(|r| format!("\"{}\"", r.replace(['"', '\\'], "")))
            .collect::<Vec<_>>()
            .join(",")
    );
    sqlx::query(
        "INSERT INTO outbox (complaint_id, channel_name, kind, idempotency_key, recipient_address, recipient_name,
            subject, body, in_reply_to, refs, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, 'acknowledgement', $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(complaint_id)
    .bind(channel)
    .bind(format!("ack:{channel}:{}", text(&p.item.external_id)))
    .bind(text(&a.recipient.address))
    .bind(a.recipient.name.as_deref().map(text))
    .bind(a.subject.as_deref().map(fill))
    .bind(fill(&a.body))
    .bind(a.in_reply_to.as_deref().map(text))
    .bind(refs)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
