//! The public list of complaints that Open311 clients read: what the public status page
//! shows of each, for many at once. No personal data: no reporter, no body, no
//! location (a complaint's location is often the reporter's home), and rahasia
//! complaints, or those merged into one, are not listed at all.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_micros, micros, Store, StoreError};

/// The statuses Open311 calls `closed`: the work unit has answered, or the complaint
/// ended without an answer. Every other status is `open`.
pub const CLOSED_STATUSES: &[&str] = &["answered", "closed", "rejected", "archived", "merged"];

/// Filters of the public list. Times are inclusive of `start`, exclusive of `end`.
#[derive(Debug, Clone)]
pub struct PublicListFilter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `Some(true)`: only closed ones; `Some(false)`: only open ones.
    pub closed: Option<bool>,
    pub category: Option<String>,
    /// Only these tracking numbers (Open311's `service_request_id=a,b`).
    pub tracking_ids: Vec<String>,
    pub limit: i64,
}

/// One complaint as the public may see it in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicListed {
    pub tracking_id: String,
    pub status: String,
    pub title: String,
    pub category: Option<String>,
    /// The name of the work unit (Satker / OPD) the complaint is with.
    pub unit_name: Option<String>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the work unit's answer is due, while the complaint is open.
    pub due_at: Option<DateTime<Utc>>,
    /// The latest public answer, if any.
    pub latest_answer: Option<String>,
}

impl Store {
    /// Non-rahasia complaints received in the filter's window, newest first.
    pub async fn public_list(&self, f: &PublicListFilter) -> Result<Vec<PublicListed>, StoreError> {
        let closed_list = CLOSED_STATUSES
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = String::from(
            "SELECT c.tracking_id, c.status, c.title, c.category, un.name, c.received_at,
                    c.updated_at, c.due_at,
                    (SELECT m.body FROM messages m
                      WHERE m.complaint_id = c.id AND m.direction = 'out' AND m.public = TRUE
                      ORDER BY m.at DESC, m.id DESC LIMIT 1)
             FROM complaints c
             LEFT JOIN units un ON un.code = c.unit
             LEFT JOIN complaints mt ON mt.id = c.merged_into
             WHERE c.confidential = FALSE
               AND (mt.id IS NULL OR mt.confidential = FALSE)
               AND c.received_at >= $1 AND c.received_at < $2",
        );
        match f.closed {
            Some(true) => sql.push_str(&format!(" AND c.status IN ({closed_list})")),
            Some(false) => sql.push_str(&format!(" AND c.status NOT IN ({closed_list})")),
            None => {}
        }
        let mut n = 2;
        if f.category.is_some() {
            n += 1;
            sql.push_str(&format!(" AND c.category = ${n}"));
        }
        if !f.tracking_ids.is_empty() {
            let marks: Vec<String> = (0..f.tracking_ids.len())
                .map(|i| format!("${}", n + 1 + i))
                .collect();
            n += f.tracking_ids.len();
            sql.push_str(&format!(" AND c.tracking_id IN ({})", marks.join(", ")));
        }
        sql.push_str(&format!(
            " ORDER BY c.received_at DESC, c.id DESC LIMIT ${}",
            n + 1
        ));
        let mut q = sqlx::query(&sql).bind(micros(f.start)).bind(micros(f.end));
        if let Some(c) = &f.category {
            q = q.bind(c.clone());
        }
        for t in &f.tracking_ids {
            q = q.bind(t.clone());
        }
        let rows = q.bind(f.limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(1)?;
                let open = !CLOSED_STATUSES.contains(&status.as_str());
                let due: Option<i64> = r.try_get(7)?;
                Ok(PublicListed {
                    tracking_id: r.try_get(0)?,
                    title: r.try_get(2)?,
                    category: r.try_get(3)?,
                    unit_name: r.try_get(4)?,
                    received_at: from_micros(r.try_get(5)?),
                    updated_at: from_micros(r.try_get(6)?),
                    due_at: due.filter(|_| open).map(from_micros),
                    latest_answer: r.try_get(8)?,
                    status,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
