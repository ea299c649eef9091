//! Scheduled work that keeps the working-day deadlines: computing each step's due date,
//! flagging what is overdue, closing answered complaints nobody replied to; and the
//! collection of attachment content nothing references (`BlobStore::collect_garbage`).
//!
//! Every job is a set of conditional updates, so running it twice, or on two daemons
//! at once, changes nothing the second time.

use chrono::NaiveDate;
use sqlx::Row;

use super::audit::audit_on;
use super::calendar::{official_holidays, Calendar};
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

/// Where the escalation digest goes out, and when.
pub struct DigestRoute {
    pub schedule: String,
    pub sender: std::sync::Arc<dyn aduan_kit::OutboundSender>,
    pub channel: aduan_kit::ChannelName,
    pub public_url: String,
}

/// When content no attachment references is collected (see `BlobStore::collect_garbage`).
pub struct BlobGc {
    pub schedule: String,
    pub grace: std::time::Duration,
}

/// Runs [`sla_pass`] on `schedule` (cron with seconds, UTC), the digest on its own, and
/// the collection of unreferenced attachment content.
pub async fn start_scheduler(
    store: Store,
    schedule: &str,
    digest: Option<DigestRoute>,
    blob_gc: BlobGc,
) -> Result<tokio_cron_scheduler::JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let sched = JobScheduler::new().await?;
    {
        let store = store.clone();
        let grace = blob_gc.grace;
        let job = Job::new_async(blob_gc.schedule.as_str(), move |_id, _l| {
            let store = store.clone();
            Box::pin(async move {
                let result = store.blobs().collect_garbage(grace).await;
                let outcome = if result.is_ok() { "ok" } else { "error" };
                metrics::counter!("aduan_attachment_gc_runs_total", "result" => outcome)
                    .increment(1);
                match result {
                    Ok(p) if p.removed > 0 => {
                        metrics::counter!("aduan_attachment_gc_removed_total").increment(p.removed);
                        tracing::info!(
                            removed = p.removed,
                            "unreferenced attachment content removed"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "attachment collection failed; it runs again on schedule")
                    }
                }
            })
        })?;
        sched.add(job).await?;
    }
    if let Some(d) = digest {
        let store = store.clone();
        let d = std::sync::Arc::new(d);
        let job = Job::new_async(d.schedule.clone().as_str(), move |_id, _l| {
            let store = store.clone();
            let d = d.clone();
            Box::pin(async move {
                match digest_pass(
                    &store,
                    d.sender.as_ref(),
                    &d.channel,
                    &d.public_url,
                    crate::store::now_micros(),
                )
                .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sent = n, "escalation digests sent"),
                    Err(e) => tracing::warn!(error = %e, "escalation digest failed"),
                }
            })
        })?;
        sched.add(job).await?;
    }
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

/// The escalation digest: once per working day, every coordinator and operator with an
/// address gets the overdue complaints waiting for verification or forwarding (and the
/// count of everything overdue), every unit admin and liaison their unit's overdue
/// complaints. Tracking numbers, titles, statuses and deadlines only: no reporter.
///
/// Each (day, recipient) is claimed in `job_runs` before the mail is sent, so two
/// daemons never send it twice; a failed send gives the claim back for the next run.
pub async fn digest_pass(
    store: &Store,
    sender: &dyn aduan_kit::OutboundSender,
    channel: &aduan_kit::ChannelName,
    public_url: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let day = Calendar::local_date(now);
    let cal = calendar(store).await?;
    if !cal.is_working_day(day) {
        return Ok(0);
    }
    let people = sqlx::query(
        "SELECT username, display_name, email, role, unit FROM users
         WHERE active = $1 AND email IS NOT NULL AND email <> '' ORDER BY id",
    )
    .bind(true)
    .fetch_all(store.pool())
    .await?;
    let mut sent = 0;
    for p in people {
        let username: String = p.try_get(0)?;
        let name: String = p.try_get(1)?;
        let email: String = p.try_get(2)?;
        let role: String = p.try_get(3)?;
        let unit: Option<String> = p.try_get(4)?;
        let central = matches!(role.as_str(), "operator" | "coordinator");
        let rows = if central {
            sqlx::query(
                "SELECT tracking_id, title, status, due_at FROM complaints
                 WHERE overdue_at IS NOT NULL AND status IN ('new', 'verified', 'not_authority')
                 ORDER BY due_at, id LIMIT 200",
            )
            .fetch_all(store.pool())
            .await?
        } else {
            sqlx::query(
                "SELECT tracking_id, title, status, due_at FROM complaints
                 WHERE overdue_at IS NOT NULL AND status IN ('forwarded', 'in_progress') AND unit = $1
                 ORDER BY due_at, id LIMIT 200",
            )
            .bind(unit.as_deref().unwrap_or(""))
            .fetch_all(store.pool())
            .await?
        };
        let all_overdue: i64 = if central {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM complaints WHERE overdue_at IS NOT NULL
                 AND status IN ('new', 'verified', 'not_authority', 'forwarded', 'in_progress', 'on_hold')",
            )
            .fetch_one(store.pool())
            .await?
        } else {
            0
        };
        if rows.is_empty() && all_overdue == 0 {
            continue;
        }
        let key = format!("{day}:{username}");
        let claimed = sqlx::query(
            "INSERT INTO job_runs (job, run_key, at) VALUES ('digest', $1, $2) ON CONFLICT (job, run_key) DO NOTHING",
        )
        .bind(&key)
        .bind(now)
        .execute(store.pool())
        .await?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let mut body =
            format!("Yth. {name},\n\nBerikut laporan yang melewati batas waktu per {day}:\n\n");
        for r in &rows {
            let t: String = r.try_get(0)?;
            let title: String = r.try_get(1)?;
            let status: String = r.try_get(2)?;
            let due: Option<i64> = r.try_get(3)?;
            let due = due
                .map(|d| Calendar::local_date(d).to_string())
                .unwrap_or_default();
            body.push_str(&format!(
                "- {t}  {}  (batas {due})\n  {title}\n  {}/laporan/{t}\n",
                crate::store::status_label(&status),
                public_url.trim_end_matches('/')
            ));
        }
        if rows.is_empty() {
            body.push_str("(tidak ada laporan yang menunggu verifikasi)\n");
        }
        if central {
            body.push_str(&format!(
                "\nSeluruh laporan yang terlambat, semua unit: {all_overdue}.\n"
            ));
        }
        body.push_str("\nPesan ini dikirim otomatis oleh aduan.");
        let msg = aduan_kit::OutboundMessage {
            idempotency_key: format!("digest:{key}"),
            channel_name: channel.clone(),
            kind: aduan_kit::OutboundKind::Notice,
            tracking_id: String::new(),
            recipient: aduan_kit::Recipient {
                address: email.clone(),
                name: Some(name.clone()),
            },
            subject: Some(format!(
                "[aduan] {} laporan melewati batas waktu ({day})",
                if central {
                    all_overdue.max(rows.len() as i64)
                } else {
                    rows.len() as i64
                }
            )),
            body,
            in_reply_to: None,
            references: Vec::new(),
            attempt: 0,
            last_inbound_at: None,
        };
        match sender.send(&msg).await {
            Ok(_) => sent += 1,
            Err(e) => {
                tracing::warn!(user = %username, error = %e, "escalation digest not sent; retried on the next run");
                sqlx::query("DELETE FROM job_runs WHERE job = 'digest' AND run_key = $1")
                    .bind(&key)
                    .execute(store.pool())
                    .await?;
            }
        }
    }
    Ok(sent)
}
