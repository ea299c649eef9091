//! The fast path of group commit: the plain new complaints of a whole batch (no thread
//! references, no quoted tracking number) go into each table with one multi-row
//! statement, so a batch of a hundred reports costs a handful of round trips and one
//! commit instead of hundreds. Everything else in the batch (follow-ups, quarantine
//! and ignored records) then goes through the one-by-one path, in order.

use std::collections::{HashMap, HashSet};

use aduan_kit::{Delivery, InboundKind, Outcome};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::item::{duplicate, insert_item, queue_receipt};
use super::rows::{
    attachment_rows, blob_contents, complaint_row, insert_rows, key, thread_key_rows, Key,
    Prepared, ATTACHMENTS, COMPLAINTS, THREAD_KEYS, V,
};
use crate::store::{now_micros, BlobStore};
use crate::tracking::TrackingId;

const RETURNING_KEY: &str = "RETURNING id, channel_name, external_id";

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

        let (mut contents, mut files, mut thread_keys) = (Vec::new(), Vec::new(), Vec::new());
        for &i in &new {
            let k = &keys[i];
            let cid = lookup(&complaint_ids, k, "complaint")?;
            contents.extend(blob_contents(items[i])?);
            files.extend(attachment_rows(items[i], cid, None)?);
            thread_keys.extend(thread_key_rows(items[i], cid));
        }
        BlobStore::write_in(tx, contents, now).await?;
        insert_rows(tx, ATTACHMENTS, files, "").await?;
        // A key already claimed is a reply to it filed first by another writer (or a
        // twin in this batch): the careful path looks again, one item at a time.
        let wanted = thread_keys.len();
        let claimed = insert_rows(
            tx,
            THREAD_KEYS,
            thread_keys,
            "ON CONFLICT DO NOTHING RETURNING key",
        )
        .await?;
        if claimed.len() < wanted {
            return Err(sqlx::Error::Protocol(
                "a thread key was claimed by another message meanwhile".into(),
            ));
        }
        for &i in &new {
            let k = &keys[i];
            queue_receipt(
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
