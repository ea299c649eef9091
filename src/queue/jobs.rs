//! Scheduled work that keeps the working-day deadlines: computing each step's due date,
//! flagging what is overdue, closing answered complaints nobody replied to.
//!
//! Every job is a set of conditional updates, so running it twice, or on two daemons
//! at once, changes nothing the second time.

use chrono::NaiveDate;
use sqlx::Row;

use super::calendar::{official_holidays, Calendar};
use super::service::audit_on;
use crate::store::{Store, StoreError};

/// Working days allowed per step (SP4N-LAPOR!).
pub const VERIFY_DAYS: u32 = 3;
pub const ANSWER_DAYS: u32 = 5;
pub const AUTO_CLOSE_DAYS: u32 = 10;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlaPass {
    pub scheduled: u64,
    pub flagged_overdue: u64,
    pub closed: u64,
}

/// Seeds the holiday table with the official dates once per database (a deleted
/// holiday stays deleted).
pub async fn seed_holidays(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let first = sqlx::query(
        "INSERT INTO job_runs (job, run_key, at) VALUES ('seed', 'holidays-2026-2027', $1)
         ON CONFLICT (job, run_key) DO NOTHING",
    )
    .bind(crate::store::now_micros())
    .execute(&mut *tx)
    .await?;
    if first.rows_affected() == 1 {
        for h in official_holidays() {
            sqlx::query(
                "INSERT INTO holidays (day, name, kind) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING",
            )
            .bind(h.date.to_string())
            .bind(&h.name)
            .bind(h.kind.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn calendar(store: &Store) -> Result<Calendar, StoreError> {
    let days: Vec<String> = sqlx::query_scalar("SELECT day FROM holidays")
        .fetch_all(store.pool())
        .await?;
    Ok(Calendar::new(days.iter().filter_map(|d| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
    })))
}

/// One pass at time `now` (microseconds; tests pass their own clock).
pub async fn sla_pass(store: &Store, now: i64) -> Result<SlaPass, StoreError> {
    let cal = calendar(store).await?;
    let mut pass = SlaPass::default();

    // 1. Due dates for steps that have none yet.
    let rows = sqlx::query(
        "SELECT id, status, received_at, status_changed_at FROM complaints
         WHERE due_at IS NULL AND status IN ('new', 'verified', 'not_authority', 'forwarded', 'in_progress', 'answered')
         LIMIT 5000",
    )
    .fetch_all(store.pool())
    .await?;
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        let status: String = r.try_get(1)?;
        let received: i64 = r.try_get(2)?;
        let changed: Option<i64> = r.try_get(3)?;
        let due = match status.as_str() {
            "new" | "verified" | "not_authority" => cal.add_working_days(received, VERIFY_DAYS),
            "forwarded" | "in_progress" => {
                cal.add_working_days(changed.unwrap_or(received), ANSWER_DAYS)
            }
            _ => cal.add_working_days(changed.unwrap_or(received), AUTO_CLOSE_DAYS),
        };
        let res = sqlx::query(
            "UPDATE complaints SET due_at = $1 WHERE id = $2 AND due_at IS NULL AND status = $3",
        )
        .bind(due)
        .bind(id)
        .bind(&status)
        .execute(store.pool())
        .await?;
        pass.scheduled += res.rows_affected();
    }

    // 2. Overdue: flagged once per step, with an audit event.
    let late: Vec<(i64, String)> = sqlx::query(
        "SELECT id, status FROM complaints WHERE overdue_at IS NULL AND due_at < $1
         AND status IN ('new', 'verified', 'not_authority', 'forwarded', 'in_progress')",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for (id, status) in late {
        let mut tx = store.pool().begin().await?;
        let res = sqlx::query(
            "UPDATE complaints SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL AND due_at < $1",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            audit_on(
                &mut tx,
                id,
                "system:sla",
                "overdue",
                Some("the working-day deadline of this step has passed"),
                Some(&status),
                Some(&status),
                false,
            )
            .await?;
            pass.flagged_overdue += 1;
        }
        tx.commit().await?;
    }

    // 3. Answered, no reply within the allowed working days: closed.
    let ripe: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM complaints WHERE status = 'answered' AND due_at < $1")
            .bind(now)
            .fetch_all(store.pool())
            .await?;
    for id in ripe {
        let mut tx = store.pool().begin().await?;
        let res = sqlx::query(
            "UPDATE complaints SET status = 'closed', status_changed_at = $1, due_at = NULL,
                 claimed_by = NULL, claim_until = NULL
             WHERE id = $2 AND status = 'answered' AND due_at < $1",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 1 {
            audit_on(
                &mut tx,
                id,
                "system:auto-close",
                "close",
                Some("no reply from the reporter within 10 working days of the answer"),
                Some("answered"),
                Some("closed"),
                true,
            )
            .await?;
            pass.closed += 1;
        }
        tx.commit().await?;
    }
    Ok(pass)
}

/// Runs [`sla_pass`] on `schedule` (cron with seconds, UTC).
pub async fn start_scheduler(
    store: Store,
    schedule: &str,
) -> Result<tokio_cron_scheduler::JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let sched = JobScheduler::new().await?;
    let job = Job::new_async(schedule, move |_id, _l| {
        let store = store.clone();
        Box::pin(async move {
            match sla_pass(&store, crate::store::now_micros()).await {
                Ok(p) if p != SlaPass::default() => tracing::info!(
                    scheduled = p.scheduled,
                    overdue = p.flagged_overdue,
                    closed = p.closed,
                    "deadlines kept"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "deadline job failed; it runs again on schedule")
                }
            }
        })
    })?;
    sched.add(job).await?;
    sched.start().await?;
    Ok(sched)
}
