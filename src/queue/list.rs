//! The queue's list: the complaints in the caller's scope, filtered, oldest first, a
//! page at a time (keyset pagination on the time of receipt).

use serde::{Deserialize, Serialize};

use super::error::QueueError;
use super::item::{hide_identity, item_from_row, QueueItem, ROW_COLUMNS, ROW_FROM};
use super::service::Queue;
use super::sql::{bind_all, Arg};
use super::workflow::{Actor, Refusal};
use crate::store::{now_micros, Backend, Cols, Lists};

/// Filters and keyset pagination for the list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub status: Option<String>,
    pub channel: Option<String>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub overdue: Option<bool>,
    /// A username.
    pub claimed_by: Option<String>,
    /// Full-text search over title and body.
    pub q: Option<String>,
    /// The `next` value of the previous page.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<QueueItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

impl Queue {
    /// The queue, in the caller's scope, oldest first, filtered, a page at a time.
    pub async fn list(&self, actor: &Actor, q: &ListQuery) -> Result<Page, QueueError> {
        let now = now_micros();
        let limit = q.limit.unwrap_or(50).clamp(1, 500);
        let mut args = Vec::new();
        let mut wh = vec![scope_sql(actor, &mut args)];
        fn push(wh: &mut Vec<String>, args: &mut Vec<Arg>, cond: &str, a: Arg) {
            args.push(a);
            wh.push(cond.replace('?', &format!("${}", args.len())));
        }
        if let Some(s) = &q.status {
            push(&mut wh, &mut args, "c.status = ?", Arg::Text(s.clone()));
        }
        if let Some(s) = &q.channel {
            push(&mut wh, &mut args, "c.channel = ?", Arg::Text(s.clone()));
        }
        if let Some(s) = &q.unit {
            push(&mut wh, &mut args, "c.unit = ?", Arg::Text(s.clone()));
        }
        if let Some(s) = &q.category {
            push(&mut wh, &mut args, "c.category = ?", Arg::Text(s.clone()));
        }
        if let Some(s) = &q.claimed_by {
            push(&mut wh, &mut args, "u.username = ?", Arg::Text(s.clone()));
            push(&mut wh, &mut args, "c.claim_until > ?", Arg::Int(now));
        }
        match q.overdue {
            Some(true) => {
                push(
                    &mut wh,
                    &mut args,
                    "(c.overdue_at IS NOT NULL OR c.due_at < ?)",
                    Arg::Int(now),
                );
                wh.push(
                    "c.status IN ('new', 'verified', 'forwarded', 'in_progress', 'not_authority', 'on_hold')"
                        .into(),
                );
            }
            Some(false) => push(
                &mut wh,
                &mut args,
                "(c.due_at IS NULL OR c.due_at >= ?)",
                Arg::Int(now),
            ),
            None => {}
        }
        let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if let Some(text) = search {
            match self.store().backend() {
                Backend::Sqlite => push(
                    &mut wh,
                    &mut args,
                    "c.id IN (SELECT rowid FROM complaints_fts WHERE complaints_fts MATCH ?)",
                    Arg::Text(fts5_query(text)),
                ),
                Backend::Postgres => push(
                    &mut wh,
                    &mut args,
                    "c.search @@ plainto_tsquery('simple', ?)",
                    Arg::Text(text.to_owned()),
                ),
            }
        }
        if let Some(after) = &q.after {
            let (at, id) = after
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(|| Refusal::Invalid("after: not a cursor from this API".into()))?;
            args.push(Arg::Int(at));
            let n = args.len();
            args.push(Arg::Int(id));
            wh.push(format!(
                "(c.received_at > ${n} OR (c.received_at = ${n} AND c.id > ${}))",
                n + 1
            ));
        }
        args.push(Arg::Int(limit + 1));
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM {ROW_FROM} WHERE {} ORDER BY c.received_at, c.id LIMIT ${}",
            wh.join(" AND "),
            args.len()
        );
        // The hottest read there is: on connections of its own (`store::Lists`). On
        // PostgreSQL they plan each execution, and the statement stays prepared: an
        // unnamed statement costs sqlx a second round trip.
        match &self.store().lists {
            Some(Lists::Postgres(lists)) => {
                let rows = crate::store::on_pg_list(lists, async |conn| {
                    bind_all(sqlx::query(&sql), &args).fetch_all(conn).await
                })
                .await?;
                page_from_rows(&rows, limit, now)
            }
            Some(Lists::Sqlite(lists)) => {
                let args = args
                    .into_iter()
                    .map(|a| match a {
                        Arg::Text(s) => rusqlite::types::Value::Text(s),
                        Arg::Int(i) => rusqlite::types::Value::Integer(i),
                    })
                    .collect();
                // A page along an index is short (about 60 steps of SQLite's machine a
                // row); a full-text search, or a page of hundreds, is not.
                let short = limit <= 200 && search.is_none();
                let items = lists
                    .rows(sql, args, short, move |r| item_from_row(r, now))
                    .await?;
                Ok(page_from_items(items, limit))
            }
            None => crate::store::on_reads!(&self.store().reads, pool => {
                let rows = bind_all(sqlx::query(&sql), &args).fetch_all(pool).await?;
                page_from_rows(&rows, limit, now)
            }),
        }
    }
}

fn scope_sql(actor: &Actor, args: &mut Vec<Arg>) -> String {
    if actor.role.is_central() {
        "TRUE".into()
    } else {
        args.push(Arg::Text(actor.unit.clone().unwrap_or_default()));
        format!("c.unit = ${}", args.len())
    }
}

/// A page of the queue from its rows (one more than `limit` when there is a next page).
fn page_from_rows(rows: &[impl Cols], limit: i64, now: i64) -> Result<Page, QueueError> {
    let items = rows
        .iter()
        .map(|r| item_from_row(r, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page_from_items(items, limit))
}

/// A page of the queue from its items (one more than `limit` when there is a next page).
fn page_from_items(rows: Vec<(i64, QueueItem)>, limit: i64) -> Page {
    let more = rows.len() as i64 > limit;
    let mut items = Vec::with_capacity(rows.len());
    let mut next = None;
    for (i, (id, mut item)) in rows.into_iter().enumerate() {
        if i as i64 == limit {
            break;
        }
        // Lists never carry an anonymous reporter, not even for central roles: that
        // takes an (audited) `show` with `reveal`.
        if item.record.anonymous {
            hide_identity(&mut item);
        }
        if i as i64 == limit - 1 && more {
            next = Some(format!(
                "{}.{id}",
                crate::store::micros(item.record.received_at)
            ));
        }
        items.push(item);
    }
    Page { items, next }
}

/// Every word as a quoted FTS5 term, so that user input is never FTS syntax. Whole
/// words, as PostgreSQL's `simple` configuration matches them: the same search finds
/// the same complaints on both back ends, and a prefix term (`"jalan"*`) made FTS5
/// merge every matching term's whole doclist, twice the time of the word itself.
fn fts5_query(text: &str) -> String {
    text.split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}
