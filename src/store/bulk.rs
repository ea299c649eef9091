//! The fast path of group commit: the plain new complaints of a whole batch (no thread
//! references, no quoted tracking number) go into each table with one multi-row
//! statement, so a batch of a hundred reports costs a handful of round trips and one
//! commit instead of hundreds. Everything else in the batch (follow-ups, quarantine
//! and ignored records) then goes through the one-by-one path, in order.

use std::collections::{HashMap, HashSet};

use aduan_kit::{Delivery, InboundKind, Outcome};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, Row, Transaction};

use super::ingest::{insert_item, text, Prepared};
use super::{micros, now_micros};
use crate::tracking::TrackingId;

/// A value to bind; owned so rows can be built before the statement.
enum V {
    I(i64),
    S(String),
    Os(Option<String>),
    B(bool),
    Of(Option<f64>),
    Bytes(Vec<u8>),
}

fn add(args: &mut AnyArguments<'static>, v: V) -> Result<(), sqlx::Error> {
    match v {
        V::I(x) => args.add(x),
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
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    head: &str,
    rows: Vec<Vec<V>>,
    tail: &str,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<V>> = rows.by_ref().take(CHUNK).collect();
        let mut sql = format!("INSERT INTO {head} VALUES ");
        let mut args = AnyArguments::default();
        let mut n = 0;
        for (r, row) in chunk.into_iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (c, v) in row.into_iter().enumerate() {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
                add(&mut args, v)?;
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        // Chunk sizes vary: these statements are not worth a slot in the statement cache.
        out.extend(
            sqlx::query_with(&sql, args)
                .persistent(false)
                .fetch_all(&mut **tx)
                .await?,
        );
    }
    Ok(out)
}

type Key = (String, String);

fn key_of(row: &AnyRow) -> Result<(i64, Key), sqlx::Error> {
    Ok((
        row.try_get("id")?,
        (row.try_get("channel_name")?, row.try_get("external_id")?),
    ))
}

fn key(p: &Prepared) -> Key {
    (p.item.channel_name.to_string(), text(&p.item.external_id))
}

pub(super) async fn insert_batch(
    tx: &mut Transaction<'static, Any>,
    items: &[&Prepared],
) -> Result<Vec<Delivery>, sqlx::Error> {
    let now = now_micros();
    let mut out: Vec<Option<Delivery>> = vec![None; items.len()];

    // Plain complaints, first occurrence of each key; repeats within the batch; the rest.
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    let mut plain = Vec::new();
    let mut repeats = Vec::new();
    let mut rest = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let is_plain = matches!(p.item.kind, InboundKind::Complaint(_))
            && p.item.thread.refs.is_empty()
            && p.item.thread.tracking_hint.is_none();
        if !is_plain {
            rest.push(i);
        } else if let Some(&f) = first_of.get(&key(p)) {
            repeats.push((i, f));
        } else {
            first_of.insert(key(p), i);
            plain.push(i);
        }
    }

    // The ledger decides what is new; its unique key also makes a concurrent writer of the
    // same message wait for this transaction.
    let fresh: HashSet<Key> = insert_rows(
        tx,
        "inbound_keys (channel_name, external_id, at)",
        plain
            .iter()
            .map(|&i| vec![V::S(key(items[i]).0), V::S(key(items[i]).1), V::I(now)])
            .collect(),
        "ON CONFLICT DO NOTHING RETURNING channel_name, external_id",
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("channel_name")?, r.try_get("external_id")?)))
    .collect::<Result<_, sqlx::Error>>()?;

    let mut new = Vec::new();
    for &i in &plain {
        let k = key(items[i]);
        if fresh.contains(&k) {
            new.push(i);
        } else {
            let tracking: Option<String> = sqlx::query_scalar(
                "SELECT c.tracking_id FROM messages m JOIN complaints c ON c.id = m.complaint_id
                 WHERE m.channel_name = $1 AND m.direction = 'in' AND m.external_id = $2",
            )
            .bind(&k.0)
            .bind(&k.1)
            .fetch_optional(&mut **tx)
            .await?;
            out[i] = Some(Delivery::Committed {
                outcome: Outcome::Duplicate,
                tracking_id: tracking,
            });
        }
    }

    if !new.is_empty() {
        let raw_ids: HashMap<Key, i64> = insert_rows(
            tx,
            "raw_originals (channel_name, external_id, content_type, body, received_at)",
            new.iter()
                .map(|&i| {
                    let it = &items[i].item;
                    let (ch, ext) = key(items[i]);
                    vec![
                        V::S(ch),
                        V::S(ext),
                        V::S(text(&it.raw.content_type)),
                        V::Bytes(it.raw.bytes.to_vec()),
                        V::I(micros(it.received_at)),
                    ]
                })
                .collect(),
            "RETURNING id, channel_name, external_id",
        )
        .await?
        .iter()
        .map(|r| key_of(r).map(|(id, k)| (k, id)))
        .collect::<Result<_, sqlx::Error>>()?;

        // A colliding tracking number (one in 2^35) fails the statement; the careful
        // path then checks each number before using it.
        let tids: HashMap<Key, String> = new
            .iter()
            .map(|&i| (key(items[i]), TrackingId::generate().to_string()))
            .collect();
        let mut rows = Vec::with_capacity(new.len());
        for &i in &new {
            let it = &items[i].item;
            let InboundKind::Complaint(d) = &it.kind else {
                continue;
            };
            let k = key(items[i]);
            let loc = d.location.clone().unwrap_or_default();
            rows.push(vec![
                V::S(tids[&k].clone()),
                V::S(it.channel.to_owned()),
                V::S(k.0.clone()),
                V::S(k.1.clone()),
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
                V::I(micros(it.received_at)),
                V::Os(d.occurred_on.map(|d| d.format("%Y-%m-%d").to_string())),
                V::Os(loc.text.as_deref().map(text)),
                V::Of(loc.lat),
                V::Of(loc.lon),
                V::I(
                    raw_ids
                        .get(&k)
                        .copied()
                        .ok_or_else(|| sqlx::Error::Protocol("raw original not returned".into()))?,
                ),
                V::I(now),
                V::I(now),
            ]);
        }
        let complaint_ids: HashMap<Key, i64> = insert_rows(
            tx,
            "complaints (tracking_id, channel, channel_name, external_id, title, body, category,
                reporter_name, reporter_handle, reporter_email, reporter_phone, reporter_user_id,
                anonymous, confidential, received_at, occurred_on, location_text, location_lat, location_lon,
                raw_id, created_at, updated_at)",
            rows,
            "RETURNING id, channel_name, external_id",
        )
        .await?
        .iter()
        .map(|r| key_of(r).map(|(id, k)| (k, id)))
        .collect::<Result<_, sqlx::Error>>()?;
        let cid = |k: &Key| {
            complaint_ids
                .get(k)
                .copied()
                .ok_or_else(|| sqlx::Error::Protocol("complaint not returned".into()))
        };

        let mut rows = Vec::with_capacity(new.len());
        for &i in &new {
            let it = &items[i].item;
            let InboundKind::Complaint(d) = &it.kind else {
                continue;
            };
            let k = key(items[i]);
            rows.push(vec![
                V::I(cid(&k)?),
                V::S("in".into()),
                V::S(it.channel.to_owned()),
                V::S(k.0.clone()),
                V::S(k.1.clone()),
                V::S(text(&d.body)),
                V::I(micros(it.received_at)),
                V::I(raw_ids[&k]),
            ]);
        }
        let message_ids: HashMap<Key, i64> = insert_rows(
            tx,
            "messages (complaint_id, direction, channel, channel_name, external_id, body, at, raw_id)",
            rows,
            "RETURNING id, channel_name, external_id",
        )
        .await?
        .iter()
        .map(|r| key_of(r).map(|(id, k)| (k, id)))
        .collect::<Result<_, sqlx::Error>>()?;

        let mut files = Vec::new();
        let mut thread_keys = Vec::new();
        for &i in &new {
            let p = items[i];
            let InboundKind::Complaint(d) = &p.item.kind else {
                continue;
            };
            let k = key(p);
            for (a, hash) in d.attachments.iter().zip(&p.blob_hashes) {
                files.push(vec![
                    V::I(cid(&k)?),
                    V::I(
                        message_ids
                            .get(&k)
                            .copied()
                            .ok_or_else(|| sqlx::Error::Protocol("message not returned".into()))?,
                    ),
                    V::S(text(&a.filename)),
                    V::S(text(&a.content_type)),
                    V::I(i64::try_from(a.bytes.len()).unwrap_or(i64::MAX)),
                    V::S(hash.clone()),
                ]);
            }
            for tk in &p.item.thread.keys {
                thread_keys.push(vec![V::S(k.0.clone()), V::S(text(tk)), V::I(cid(&k)?)]);
            }
        }
        insert_rows(
            tx,
            "attachments (complaint_id, message_id, filename, content_type, size, sha256)",
            files,
            "",
        )
        .await?;
        insert_rows(
            tx,
            "thread_keys (channel_name, key, complaint_id)",
            thread_keys,
            "ON CONFLICT DO NOTHING",
        )
        .await?;

        for &i in &new {
            out[i] = Some(Delivery::Committed {
                outcome: Outcome::Created,
                tracking_id: Some(tids[&key(items[i])].clone()),
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
