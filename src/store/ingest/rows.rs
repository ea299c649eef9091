//! The rows an inbound item becomes, and inserting many rows in one statement.

use aduan_kit::{ComplaintDraft, Inbound, InboundKind};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, Transaction};

use crate::store::{micros, BlobStore};

/// One inbound item with its attachments' digests; their content is written to the
/// blob store already, or goes in with the transaction (`content_in_tx`).
pub(super) struct Prepared {
    pub(super) item: Inbound,
    pub(super) blob_hashes: Vec<String>,
    pub(super) content_in_tx: bool,
}

/// PostgreSQL text cannot hold NUL; SQLite would but nothing downstream wants it.
pub(super) fn text(s: &str) -> String {
    s.replace('\0', "")
}

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

pub(super) fn draft(p: &Prepared) -> Result<&ComplaintDraft, sqlx::Error> {
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

/// The attachments' content (digest, bytes) the transaction must write: none unless the
/// blob store keeps it in the database.
pub(super) fn blob_contents(p: &Prepared) -> Result<Vec<(&str, &[u8])>, sqlx::Error> {
    if !p.content_in_tx {
        return Ok(Vec::new());
    }
    Ok(draft(p)?
        .attachments
        .iter()
        .zip(&p.blob_hashes)
        .map(|(a, hash)| (hash.as_str(), &a.bytes[..]))
        .collect())
}

/// An item's attachments: their content (see [`blob_contents`]), then their rows.
pub(super) async fn insert_attachments(
    tx: &mut Transaction<'static, Any>,
    p: &Prepared,
    complaint_id: i64,
    message_id: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    BlobStore::write_in(tx, blob_contents(p)?, now).await?;
    insert_rows(
        tx,
        ATTACHMENTS,
        attachment_rows(p, complaint_id, message_id)?,
        "",
    )
    .await?;
    Ok(())
}

/// Extra keys that let later messages join (a message's own id is found through
/// `messages`), each once.
pub(super) fn thread_key_rows(p: &Prepared, complaint_id: i64) -> Vec<Vec<V>> {
    let ch = p.item.channel_name.to_string();
    let mut keys: Vec<String> = p.item.thread.keys.iter().map(|k| text(k)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| vec![V::S(ch.clone()), V::S(k), V::I(complaint_id)])
        .collect()
}
