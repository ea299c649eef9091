//! Forwarding's tables (`forward_events`, `forwards`): every statement that writes them
//! is here. Events are recorded in the transaction that makes them (intake files a
//! complaint, [`super::audit_on`] records a status change or an approval); the
//! forwarding pump (`crate::forward`) fans each event out to the forwarders that want
//! it and delivers those rows with a lease, as the outbox delivers replies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::outbox::open_and_due;
use super::{complaint_from_row, from_micros, micros, now_micros, Store, StoreError};
use crate::store::ComplaintRecord;

/// What another system may be told.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum ForwardKind {
    #[serde(rename = "complaint.filed")]
    Filed,
    #[serde(rename = "complaint.status_changed")]
    StatusChanged,
    #[serde(rename = "answer.approved")]
    AnswerApproved,
}

impl ForwardKind {
    pub const ALL: [ForwardKind; 3] = [
        ForwardKind::Filed,
        ForwardKind::StatusChanged,
        ForwardKind::AnswerApproved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForwardKind::Filed => "complaint.filed",
            ForwardKind::StatusChanged => "complaint.status_changed",
            ForwardKind::AnswerApproved => "answer.approved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Records the event an audited action is, if it is one: an approved answer, or any
/// other change of status. Called by the audit trail's one writer, in the action's
/// transaction.
pub(crate) async fn record_change(
    conn: &mut sqlx::AnyConnection,
    complaint_id: i64,
    action: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), sqlx::Error> {
    let kind = if action == "approve" {
        ForwardKind::AnswerApproved
    } else if before.is_some() && after.is_some() && before != after {
        ForwardKind::StatusChanged
    } else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO forward_events (event_id, kind, complaint_id, status_from, status_to, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(format!("evt_{}", uuid::Uuid::new_v4().simple()))
    .bind(kind.as_str())
    .bind(complaint_id)
    .bind(before)
    .bind(after)
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records `complaint.filed` for the complaints just filed under `tracking_ids`, in
/// the transaction that files them: one statement for the whole group. The event id
/// is derived from the tracking number, which is never reused.
pub(crate) async fn record_filed(
    conn: &mut sqlx::AnyConnection,
    tracking_ids: &[&str],
) -> Result<(), sqlx::Error> {
    if tracking_ids.is_empty() {
        return Ok(());
    }
    let list = (0..tracking_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO forward_events (event_id, kind, complaint_id, status_from, status_to, at)
         SELECT 'evt_filed_' || tracking_id, 'complaint.filed', id, NULL, status, $1
         FROM complaints WHERE tracking_id IN ({list})
         ON CONFLICT (event_id) DO NOTHING"
    );
    let mut q = sqlx::query(&sql).bind(now_micros());
    for t in tracking_ids {
        q = q.bind(*t);
    }
    q.execute(conn).await?;
    Ok(())
}

/// An event waiting to be fanned out, with what the forwarders' filters look at.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event_id: String,
    pub kind: ForwardKind,
    pub complaint_id: i64,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub at: i64,
    pub category: Option<String>,
    pub unit: Option<String>,
    pub confidential: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForwardStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl ForwardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardStatus::Pending => "pending",
            ForwardStatus::Sending => "sending",
            ForwardStatus::Sent => "sent",
            ForwardStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One event for one forwarder.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForwardRow {
    pub id: i64,
    pub forwarder: String,
    pub event_id: String,
    pub event: ForwardKind,
    pub tracking_id: String,
    #[serde(skip)]
    pub complaint_id: i64,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    #[schema(value_type = String)]
    pub occurred_at: DateTime<Utc>,
    pub status: ForwardStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// What the other system calls it (an Open311 `service_request_id`).
    pub external_id: Option<String>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    #[schema(value_type = String)]
    pub next_attempt_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    #[schema(value_type = Option<String>)]
    pub sent_at: Option<DateTime<Utc>>,
}

const FORWARD_COLUMNS: &str = "f.id, f.forwarder, f.event_id, f.kind, c.tracking_id, f.complaint_id, f.status_from,
    f.status_to, f.occurred_at, f.status, f.attempts, f.last_error, f.external_id, f.next_attempt_at, f.sent_at";

fn row_to_forward(r: &AnyRow) -> Result<ForwardRow, StoreError> {
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    Ok(ForwardRow {
        id: r.try_get("id")?,
        forwarder: r.try_get("forwarder")?,
        event_id: r.try_get("event_id")?,
        event: ForwardKind::parse(&kind)
            .ok_or_else(|| StoreError::Invalid(format!("unknown forward event {kind}")))?,
        tracking_id: r.try_get("tracking_id")?,
        complaint_id: r.try_get("complaint_id")?,
        status_from: r.try_get("status_from")?,
        status_to: r.try_get("status_to")?,
        occurred_at: from_micros(r.try_get("occurred_at")?),
        status: ForwardStatus::parse(&status).unwrap_or(ForwardStatus::Pending),
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        last_error: r.try_get("last_error")?,
        external_id: r.try_get("external_id")?,
        next_attempt_at: from_micros(r.try_get("next_attempt_at")?),
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_micros),
    })
}

/// What became of one delivery.
#[derive(Debug, Clone)]
pub enum ForwardResult {
    /// The other system took it; `external_id` is what it calls it.
    Sent {
        id: i64,
        external_id: Option<String>,
    },
    /// Tried again at `retry_at`, or failed for good without one.
    Failed {
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Which deliveries an admin lists.
#[derive(Debug, Default, Clone)]
pub struct ForwardFilter {
    pub status: Option<ForwardStatus>,
    pub forwarder: Option<String>,
    pub tracking_id: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Fans out up to `limit` recorded events: for each, one delivery per forwarder
    /// `route` names, and the event is deleted, in one transaction. Two pumps never
    /// take the same event (PostgreSQL skips rows another pump has locked; SQLite has
    /// one writer). Returns how many events were taken.
    pub async fn fan_out_forward_events<F>(&self, limit: i64, route: F) -> Result<usize, StoreError>
    where
        F: Fn(&PendingEvent) -> Vec<String>,
    {
        // Most ticks find nothing: a read says so without taking SQLite's write lock.
        let any: Option<i64> = sqlx::query_scalar("SELECT id FROM forward_events LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if any.is_none() {
            return Ok(0);
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        // Deleting first makes this a writing transaction from its first statement
        // (SQLite then never has to upgrade a read to a write).
        let sql = format!(
            "DELETE FROM forward_events WHERE id IN (SELECT id FROM forward_events ORDER BY id LIMIT $1 {})
             RETURNING id, event_id, kind, complaint_id, status_from, status_to, at",
            self.backend.skip_locked()
        );
        let mut taken = sqlx::query(&sql).bind(limit).fetch_all(&mut *tx).await?;
        let n = taken.len();
        if n == 0 {
            return Ok(0);
        }
        // RETURNING gives no order: the events go out as they were recorded.
        taken.sort_by_key(|r| r.try_get::<i64, _>("id").unwrap_or_default());
        // What the filters look at, for all of them in one statement.
        let ids: Vec<i64> = taken
            .iter()
            .map(|r| r.try_get("complaint_id"))
            .collect::<Result<_, _>>()?;
        let (of, list) = self.id_list(&ids);
        let mut subjects = std::collections::HashMap::new();
        for c in sqlx::query(&format!(
            "SELECT id, category, unit, confidential FROM complaints WHERE id {of}"
        ))
        .bind(list)
        .fetch_all(&mut *tx)
        .await?
        {
            let subject: (Option<String>, Option<String>, bool) = (
                c.try_get("category")?,
                c.try_get("unit")?,
                super::flag(&c, "confidential")?,
            );
            subjects.insert(c.try_get::<i64, _>("id")?, subject);
        }
        let now = now_micros();
        for r in &taken {
            let kind: String = r.try_get("kind")?;
            let complaint_id: i64 = r.try_get("complaint_id")?;
            let (Some(kind), Some((category, unit, confidential))) =
                (ForwardKind::parse(&kind), subjects.get(&complaint_id))
            else {
                continue;
            };
            let event = PendingEvent {
                event_id: r.try_get("event_id")?,
                kind,
                complaint_id,
                status_from: r.try_get("status_from")?,
                status_to: r.try_get("status_to")?,
                at: r.try_get("at")?,
                category: category.clone(),
                unit: unit.clone(),
                confidential: *confidential,
            };
            for forwarder in route(&event) {
                sqlx::query(
                    "INSERT INTO forwards (forwarder, event_id, kind, complaint_id, status_from, status_to,
                         occurred_at, status, attempts, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)
                     ON CONFLICT (forwarder, event_id) DO NOTHING",
                )
                .bind(&forwarder)
                .bind(&event.event_id)
                .bind(event.kind.as_str())
                .bind(event.complaint_id)
                .bind(event.status_from.as_deref())
                .bind(event.status_to.as_deref())
                .bind(event.at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Takes up to `limit` due deliveries (pending and due, or sending with an expired
    /// lease: their pump died) and leases them until `lease_until`. A complaint's events
    /// reach a forwarder in the order they happened: a delivery waits while an earlier
    /// one of the same complaint to the same forwarder is still open (one given up as
    /// failed no longer holds the others back).
    pub async fn claim_forwards(
        &self,
        limit: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<ForwardRow>, StoreError> {
        let sql = format!(
            "UPDATE forwards SET status = 'sending', attempts = attempts + 1, lease_until = $1
             WHERE id IN (SELECT id FROM forwards
                          WHERE {}
                            AND NOT EXISTS (SELECT 1 FROM forwards e
                                            WHERE e.complaint_id = forwards.complaint_id AND e.forwarder = forwards.forwarder
                                              AND (e.occurred_at < forwards.occurred_at
                                                   OR (e.occurred_at = forwards.occurred_at AND e.id < forwards.id))
                                              AND e.status IN ('pending', 'sending'))
                          ORDER BY next_attempt_at, id LIMIT $3 {})
             RETURNING id",
            open_and_due("$2"),
            self.backend.skip_locked()
        );
        // Most ticks find nothing due: a read says so without taking SQLite's write lock.
        let now = now_micros();
        let due: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM forwards WHERE {} LIMIT 1",
            open_and_due("$1")
        ))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = {
            let _turn = self.write_turn().await;
            sqlx::query_scalar(&sql)
                .bind(micros(lease_until))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (of, list) = self.id_list(&ids);
        let sql = format!(
            "SELECT {FORWARD_COLUMNS} FROM forwards f JOIN complaints c ON c.id = f.complaint_id
             WHERE f.id {of} ORDER BY f.next_attempt_at, f.id"
        );
        sqlx::query(&sql)
            .bind(list)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_forward)
            .collect()
    }

    /// The complaint as a forwarder sends it (without its thread), and its latest
    /// approved answer with when it was approved.
    pub async fn forward_subject(
        &self,
        complaint_id: i64,
    ) -> Result<(ComplaintRecord, Option<(String, DateTime<Utc>)>), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM complaints WHERE id = $1",
            super::read::COMPLAINT_COLUMNS
        ))
        .bind(complaint_id)
        .fetch_one(&self.pool)
        .await?;
        let (_, rec) = complaint_from_row(&row)?;
        let answer = sqlx::query(
            "SELECT body, decided_at FROM answers WHERE complaint_id = $1 AND status = 'approved'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(complaint_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| -> Result<_, sqlx::Error> {
            let at: Option<i64> = r.try_get("decided_at")?;
            Ok((
                r.try_get("body")?,
                from_micros(at.unwrap_or_else(now_micros)),
            ))
        })
        .transpose()?;
        Ok((rec, answer))
    }

    /// Records what became of a round of deliveries, in one transaction (a commit per
    /// delivery would make the disk's flush the pace of forwarding).
    pub async fn record_forwards(&self, results: &[ForwardResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let now = now_micros();
        for r in results {
            match r {
                ForwardResult::Sent { id, external_id } => {
                    sqlx::query(
                        "UPDATE forwards SET status = 'sent', sent_at = $1, lease_until = NULL, last_error = NULL,
                             external_id = COALESCE($2, external_id)
                         WHERE id = $3",
                    )
                    .bind(now)
                    .bind(external_id.as_deref())
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
                }
                ForwardResult::Failed {
                    id,
                    error,
                    retry_at,
                } => {
                    // Without a time to try again, it is failed for good.
                    let (status, next) = match retry_at {
                        Some(at) => ("pending", micros(*at)),
                        None => ("failed", now),
                    };
                    sqlx::query(
                        "UPDATE forwards SET status = $1, next_attempt_at = $2, last_error = $3, lease_until = NULL
                         WHERE id = $4",
                    )
                    .bind(status)
                    .bind(next)
                    .bind(error.as_str())
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries, newest first.
    pub async fn forwards(&self, f: &ForwardFilter) -> Result<Vec<ForwardRow>, StoreError> {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(s) = f.status {
            binds.push(s.as_str().into());
            conds.push(format!("f.status = ${}", binds.len()));
        }
        if let Some(name) = &f.forwarder {
            binds.push(name.clone());
            conds.push(format!("f.forwarder = ${}", binds.len()));
        }
        if let Some(t) = &f.tracking_id {
            binds.push(t.clone());
            conds.push(format!("c.tracking_id = ${}", binds.len()));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {FORWARD_COLUMNS} FROM forwards f JOIN complaints c ON c.id = f.complaint_id
             {filter} ORDER BY f.id DESC LIMIT {}",
            f.limit.clamp(1, 500)
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_forward)
            .collect()
    }

    /// Puts a failed delivery back in line with a fresh count of attempts; false when
    /// there is no failed delivery `id`.
    pub async fn retry_forward(&self, id: i64) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let res = sqlx::query(
            "UPDATE forwards SET status = 'pending', attempts = 0, next_attempt_at = $1
             WHERE id = $2 AND status = 'failed'",
        )
        .bind(now_micros())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}
