//! What the console reads besides the queue itself: a complaint's audit trail, its raw
//! original and attachments, the dashboard's counts and each channel's counters. Every
//! read that concerns complaints goes through the same visibility rule as the queue
//! ([`Actor::can_see`]): a unit role sees only its unit's complaints and numbers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::error::QueueError;
use super::service::Queue;
use super::workflow::{Actor, Refusal, Role};
use crate::store::{from_micros, now_micros, AttachmentMeta};

/// One event of a complaint's audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub at: DateTime<Utc>,
    /// `user:NAME`, `system:sla`, `citizen`, …
    pub actor: String,
    pub action: String,
    pub reason: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Complaints received on one channel kind on one day (Asia/Jakarta).
#[derive(Debug, Clone, Serialize)]
pub struct DayCount {
    pub channel: String,
    /// Days since 1970-01-01 in WIB.
    pub day: i64,
    pub count: i64,
}

/// A unit's record against the answer deadline over the last [`SLA_DAYS`] days:
/// complaints forwarded to it, and how many of them passed the deadline of the unit's
/// step (flagged by the SLA job, or open and past due now).
#[derive(Debug, Clone, Serialize)]
pub struct UnitSla {
    pub unit: String,
    pub total: i64,
    pub late: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    pub per_day: Vec<DayCount>,
    /// Current status → complaints in it.
    pub by_status: Vec<(String, i64)>,
    pub sla: Vec<UnitSla>,
}

/// Counters for one channel instance, from the store (they survive restarts and are the
/// same whichever daemon instance is asked).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelCounters {
    pub complaints: i64,
    pub last_day: i64,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub last_received: Option<DateTime<Utc>>,
    pub quarantined: i64,
    pub ignored: i64,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    pub outbox_sent: i64,
    /// The oldest answer or receipt still waiting to go out.
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub oldest_pending: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub cursor_updated: Option<DateTime<Utc>>,
}

/// The deadline record covers complaints received in this many days.
pub const SLA_DAYS: i64 = 90;

/// A message that did not become a complaint: quarantined (not understood) or ignored
/// (an auto-reply, an echo of our own post, a bounce).
#[derive(Debug, Clone, Serialize)]
pub struct IntakeReject {
    pub channel_name: String,
    pub external_id: String,
    pub disposition: String,
    pub reason: String,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub received_at: DateTime<Utc>,
    pub raw_content_type: String,
    /// The raw original, for operators only (it may carry a person's identity).
    pub raw: Option<Vec<u8>>,
}

/// WIB is UTC+7 all year.
const WIB_MICROS: i64 = 7 * 3600 * 1_000_000;
const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// Today's day number in WIB (days since 1970-01-01).
pub fn wib_day(at_micros: i64) -> i64 {
    (at_micros + WIB_MICROS).div_euclid(DAY_MICROS)
}

impl Queue {
    /// The complaint's audit trail, oldest first.
    pub async fn audit_trail(
        &self,
        actor: &Actor,
        tracking_id: &str,
    ) -> Result<Vec<AuditEntry>, QueueError> {
        let id = self.visible_id(actor, tracking_id).await?;
        let rows = sqlx::query(
            "SELECT at, actor, action, reason, before_state, after_state FROM audit_events
             WHERE complaint_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(self.store().pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(AuditEntry {
                at: from_micros(r.try_get(0)?),
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                reason: r.try_get(3)?,
                before: r.try_get(4)?,
                after: r.try_get(5)?,
            });
        }
        Ok(out)
    }

    /// The complaint exactly as the provider sent it: operators only. It carries the
    /// reporter's identity, so an anonymous complaint's is read only with `reveal`, and
    /// that read is audited like any other view of the identity.
    pub async fn raw_original(
        &self,
        actor: &Actor,
        tracking_id: &str,
        reveal: bool,
    ) -> Result<(String, Vec<u8>), QueueError> {
        let id = self.visible_id(actor, tracking_id).await?;
        if actor.role != Role::Operator {
            return Err(Refusal::Forbidden {
                role: actor.role.as_str(),
                action: "read the raw original",
            }
            .into());
        }
        let r =
            sqlx::query("SELECT raw_content_type, raw, anonymous FROM complaints WHERE id = $1")
                .bind(id)
                .fetch_one(self.store().pool())
                .await?;
        if crate::store::flag(&r, "anonymous")? {
            if !reveal {
                return Err(Refusal::Forbidden {
                    role: actor.role.as_str(),
                    action:
                        "read an anonymous complaint's raw original without revealing the identity",
                }
                .into());
            }
            self.audit(
                id,
                actor,
                "view_identity",
                Some("raw original"),
                None,
                None,
                false,
            )
            .await?;
        }
        Ok((r.try_get(0)?, r.try_get(1)?))
    }

    /// The `index`th attachment of a complaint the actor may see, with its bytes.
    pub async fn attachment(
        &self,
        actor: &Actor,
        tracking_id: &str,
        index: usize,
    ) -> Result<(AttachmentMeta, Vec<u8>), QueueError> {
        self.attachment_where(actor, tracking_id, |i, _| i == index)
            .await
    }

    /// The attachment of the complaint whose content has the SHA-256 `sha256` (lowercase
    /// hex), with the same scoping as the complaint itself.
    pub async fn attachment_by_digest(
        &self,
        actor: &Actor,
        tracking_id: &str,
        sha256: &str,
    ) -> Result<(AttachmentMeta, Vec<u8>), QueueError> {
        self.attachment_where(actor, tracking_id, |_, m| m.sha256 == sha256)
            .await
    }

    async fn attachment_where(
        &self,
        actor: &Actor,
        tracking_id: &str,
        pick: impl Fn(usize, &AttachmentMeta) -> bool,
    ) -> Result<(AttachmentMeta, Vec<u8>), QueueError> {
        let item = self.show(actor, tracking_id, false).await?;
        let meta = item
            .record
            .attachments
            .into_iter()
            .enumerate()
            .find(|(i, m)| pick(*i, m))
            .map(|(_, m)| m)
            .ok_or(Refusal::NotVisible)?;
        let bytes = self.store().blobs().get(&meta.sha256).await?;
        Ok((meta, bytes))
    }

    /// The dashboard's numbers in the actor's scope: complaints per channel per day for
    /// the last `days` days, the current status of every complaint, and each unit's
    /// record against its answer deadline.
    pub async fn dashboard(&self, actor: &Actor, days: i64) -> Result<Dashboard, QueueError> {
        let now = now_micros();
        let (scope, unit) = if actor.role.is_central() {
            ("TRUE", String::new())
        } else {
            ("c.unit = $1", actor.unit.clone().unwrap_or_default())
        };
        // Every query binds the unit as $1, used or not, so the SQL stays one string.
        let guard = if actor.role.is_central() {
            " AND $1 = $1"
        } else {
            ""
        };
        let since = (wib_day(now) - days + 1) * DAY_MICROS - WIB_MICROS;
        let pool = self.store().pool();
        let per_day = sqlx::query(&format!(
            "SELECT c.channel, (c.received_at + {WIB_MICROS}) / {DAY_MICROS} AS day, COUNT(*) AS n
             FROM complaints c WHERE {scope}{guard} AND c.received_at >= $2
             GROUP BY c.channel, (c.received_at + {WIB_MICROS}) / {DAY_MICROS}
             ORDER BY 2, 1"
        ))
        .bind(&unit)
        .bind(since)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(DayCount {
                channel: r.try_get(0)?,
                day: r.try_get(1)?,
                count: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let by_status = sqlx::query(&format!(
            "SELECT c.status, COUNT(*) FROM complaints c WHERE {scope}{guard} GROUP BY c.status"
        ))
        .bind(&unit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let sla = sqlx::query(&format!(
            "SELECT c.unit, COUNT(*),
                    SUM(CASE WHEN EXISTS (SELECT 1 FROM audit_events a WHERE a.complaint_id = c.id
                                 AND a.action = 'overdue' AND a.before_state IN ('forwarded', 'in_progress'))
                              OR (c.status IN ('forwarded', 'in_progress') AND c.due_at < $2)
                        THEN 1 ELSE 0 END)
             FROM complaints c WHERE {scope}{guard} AND c.unit IS NOT NULL AND c.received_at >= $3
             GROUP BY c.unit ORDER BY c.unit"
        ))
        .bind(&unit)
        .bind(now)
        .bind(now - SLA_DAYS * DAY_MICROS)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(UnitSla {
                unit: r.try_get(0)?,
                total: r.try_get(1)?,
                late: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Dashboard {
            per_day,
            by_status,
            sla,
        })
    }

    /// Each channel instance's counters (operators and coordinators).
    pub async fn channel_counters(
        &self,
        actor: &Actor,
        channel_name: &str,
    ) -> Result<ChannelCounters, QueueError> {
        if !actor.role.is_central() {
            return Err(Refusal::Forbidden {
                role: actor.role.as_str(),
                action: "read channel health",
            }
            .into());
        }
        let pool = self.store().pool();
        let now = now_micros();
        let c = sqlx::query(
            "SELECT COUNT(*), SUM(CASE WHEN received_at >= $2 THEN 1 ELSE 0 END), MAX(received_at)
             FROM complaints WHERE channel_name = $1",
        )
        .bind(channel_name)
        .bind(now - DAY_MICROS)
        .fetch_one(pool)
        .await?;
        let r = sqlx::query(
            "SELECT SUM(CASE WHEN disposition = 'quarantined' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN disposition = 'ignored' THEN 1 ELSE 0 END)
             FROM intake_rejects WHERE channel_name = $1",
        )
        .bind(channel_name)
        .fetch_one(pool)
        .await?;
        let o = sqlx::query(
            "SELECT SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END),
                    SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),
                    MIN(CASE WHEN status IN ('pending', 'sending') THEN created_at END)
             FROM outbox WHERE channel_name = $1",
        )
        .bind(channel_name)
        .fetch_one(pool)
        .await?;
        let cursor: Option<i64> =
            sqlx::query_scalar("SELECT MAX(updated_at) FROM cursors WHERE channel_name = $1")
                .bind(channel_name)
                .fetch_one(pool)
                .await?;
        let n = |r: &sqlx::any::AnyRow, i: usize| -> Result<i64, sqlx::Error> {
            Ok(r.try_get::<Option<i64>, _>(i)?.unwrap_or(0))
        };
        Ok(ChannelCounters {
            complaints: n(&c, 0)?,
            last_day: n(&c, 1)?,
            last_received: c.try_get::<Option<i64>, _>(2)?.map(from_micros),
            quarantined: n(&r, 0)?,
            ignored: n(&r, 1)?,
            outbox_pending: n(&o, 0)?,
            outbox_failed: n(&o, 1)?,
            outbox_sent: n(&o, 2)?,
            oldest_pending: o.try_get::<Option<i64>, _>(3)?.map(from_micros),
            cursor_updated: cursor.map(from_micros),
        })
    }

    /// The latest messages that did not become complaints, newest first, optionally of
    /// one channel (operators and coordinators; the raw originals for operators only).
    pub async fn intake_rejects(
        &self,
        actor: &Actor,
        channel_name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<IntakeReject>, QueueError> {
        if !actor.role.is_central() {
            return Err(Refusal::Forbidden {
                role: actor.role.as_str(),
                action: "read quarantined messages",
            }
            .into());
        }
        let rows = sqlx::query(
            "SELECT channel_name, external_id, disposition, reason, received_at, raw_content_type, raw
             FROM intake_rejects WHERE ($1 = '' OR channel_name = $1)
             ORDER BY received_at DESC, id DESC LIMIT $2",
        )
        .bind(channel_name.unwrap_or_default())
        .bind(limit.clamp(1, 500))
        .fetch_all(self.store().pool())
        .await?;
        let operator = actor.role == Role::Operator;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(IntakeReject {
                channel_name: r.try_get(0)?,
                external_id: r.try_get(1)?,
                disposition: r.try_get(2)?,
                reason: r.try_get(3)?,
                received_at: from_micros(r.try_get(4)?),
                raw_content_type: r.try_get(5)?,
                raw: if operator { Some(r.try_get(6)?) } else { None },
            });
        }
        Ok(out)
    }

    /// The complaint's row id, if `actor` may see it ("not found" otherwise).
    async fn visible_id(&self, actor: &Actor, tracking_id: &str) -> Result<i64, QueueError> {
        let r = sqlx::query("SELECT id, unit FROM complaints WHERE tracking_id = $1")
            .bind(tracking_id)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or(Refusal::NotVisible)?;
        let unit: Option<String> = r.try_get(1)?;
        if !actor.can_see(unit.as_deref()) {
            return Err(Refusal::NotVisible.into());
        }
        Ok(r.try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wib_days_turn_at_midnight_in_jakarta() {
        // 2026-11-27 16:59:59 UTC is 23:59:59 WIB; a second later it is the 28th.
        let before = chrono::DateTime::parse_from_rfc3339("2026-11-27T16:59:59Z")
            .map(|t| crate::store::micros(t.with_timezone(&Utc)));
        let after = chrono::DateTime::parse_from_rfc3339("2026-11-27T17:00:00Z")
            .map(|t| crate::store::micros(t.with_timezone(&Utc)));
        let (Ok(before), Ok(after)) = (before, after) else {
            panic!("timestamps parse");
        };
        assert_eq!(wib_day(after) - wib_day(before), 1);
    }
}
