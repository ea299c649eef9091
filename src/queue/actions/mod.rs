//! The workflow actions. [`Queue::act`] is the one way in, and every action takes the
//! same path: the complaint is locked, [`plan`] decides whether the actor may take the
//! action from its status, the action's own function does its work and says what else
//! the row gets, and the new status, that change and the audit event commit together.
//!
//! One function per action, in a module per concern: `verify`, `route` (forward,
//! not_authority), `hold` (hold, resume), `merge` and `answer` (draft, approve,
//! return). Archive, reject and close have no function: they change the status only.

mod answer;
mod hold;
mod merge;
mod route;
mod verify;

use serde::{Deserialize, Serialize};

pub use answer::answer_message_body;
pub use verify::CLASSIFICATIONS;

use super::audit::{actor_label, audit_on};
use super::error::QueueError;
use super::item::{row0, QueueItem, Row0, ROW_COLUMNS, ROW_FROM};
use super::service::Queue;
use super::sql::{bind_all, Arg};
use super::workflow::{plan, ActionKind, Actor, Refusal, Status};
use crate::store::{now_micros, Backend, StoreError};

/// What an action carries; which fields matter depends on the action.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Why (required for hold, not_authority, archive, reject and return).
    pub reason: Option<String>,
    /// verify: `pengaduan`, `aspirasi` or `permintaan_informasi`.
    pub classification: Option<String>,
    /// verify: a category code.
    pub category: Option<String>,
    /// verify: the title rewritten by the verifier.
    pub title: Option<String>,
    /// verify: the reporter's wish, as confirmed by the verifier.
    pub anonymous: Option<bool>,
    pub confidential: Option<bool>,
    /// forward: the unit's code.
    pub unit: Option<String>,
    /// merge: the tracking number of the complaint this one duplicates.
    pub into: Option<String>,
    /// answer: the unit's answer to the citizen.
    pub body: Option<String>,
}

/// The outcome of an action: the complaint as the actor now sees it, or only its new
/// status when the action took it out of the actor's scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Acted {
    pub tracking_id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<QueueItem>>,
}

/// What an action's function is given: who asks what, and the complaint as locked.
struct Acting<'a> {
    queue: &'a Queue,
    actor: &'a Actor,
    req: &'a ActionRequest,
    /// The reason given, trimmed; `None` when there is none.
    reason: Option<&'a str>,
    row: &'a Row0,
    now: i64,
}

/// What an action writes besides the status, and what its audit event adds.
#[derive(Default)]
struct Change {
    sets: Vec<Set>,
    /// Appended to the audit event's reason, e.g. `unit=dpupr`.
    detail: Option<String>,
    /// Lifting anonymity shows the reporter to the unit from then on: it is recorded
    /// as an event of its own, like any other way to the identity.
    anonymity: Option<&'static str>,
}

/// One column of the complaint an action writes.
enum Set {
    To(&'static str, Arg),
    /// Bound as a number: PostgreSQL's BOOLEAN takes no BIGINT.
    Flag(&'static str, bool),
    Null(&'static str),
}

impl Change {
    fn set(&mut self, col: &'static str, value: Arg) {
        self.sets.push(Set::To(col, value));
    }

    /// Clears the deadline: the SLA job computes it again from the calendar for the
    /// new status.
    fn recompute_due(&mut self) {
        self.sets.push(Set::Null("due_at"));
        self.sets.push(Set::Null("overdue_at"));
    }
}

impl Queue {
    /// Takes a workflow action; everything it changes commits together with its audit.
    /// A transaction that lost a race for the database (SQLite busy, a PostgreSQL
    /// deadlock) is retried; its checks run again on what the winner left.
    pub async fn act(
        &self,
        actor: &Actor,
        tracking_id: &str,
        action: ActionKind,
        req: &ActionRequest,
    ) -> Result<Acted, QueueError> {
        let mut attempt = 0u64;
        loop {
            match self.act_once(actor, tracking_id, action, req).await {
                Err(QueueError::Store(StoreError::Db(e)))
                    if attempt < 5 && crate::store::is_transient(&e) =>
                {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "workflow action retried");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn act_once(
        &self,
        actor: &Actor,
        tracking_id: &str,
        action: ActionKind,
        req: &ActionRequest,
    ) -> Result<Acted, QueueError> {
        let turn = self.store().write_turn().await;
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if action.needs_reason() && reason.is_none() {
            return Err(Refusal::Invalid(format!("{}: give a reason", action.as_str())).into());
        }
        let mut tx = self.store().pool().begin().await?;
        let lock = if self.store().backend() == Backend::Postgres {
            " FOR UPDATE OF c"
        } else {
            ""
        };
        let sql = format!("SELECT {ROW_COLUMNS} FROM {ROW_FROM} WHERE c.tracking_id = $1{lock}");
        let r = sqlx::query(&sql)
            .bind(tracking_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Refusal::NotVisible)?;
        let row = row0(&r)?;
        let now = now_micros();
        let step = plan(
            actor,
            action,
            row.status,
            row.held_from,
            row.unit.as_deref(),
        )?;
        if let (Some(by), Some(until)) = (row.claimed_by, row.claim_until) {
            if by != actor.user_id && until > now {
                return Err(QueueError::ClaimedByOther(
                    row.claimed_by_name.clone().unwrap_or_default(),
                ));
            }
        }
        let cx = Acting {
            queue: self,
            actor,
            req,
            reason,
            row: &row,
            now,
        };
        let conn = &mut *tx;
        let change = match action {
            ActionKind::Verify => verify::verify(&cx, conn).await?,
            ActionKind::Forward => route::forward(&cx, conn).await?,
            ActionKind::NotAuthority => route::not_authority(&cx),
            ActionKind::Hold => hold::hold(&cx),
            ActionKind::Resume => hold::resume(),
            ActionKind::Merge => merge::merge(&cx, conn).await?,
            ActionKind::DraftAnswer => answer::draft(&cx, conn).await?,
            ActionKind::ApproveAnswer => answer::approve(&cx, conn).await?,
            ActionKind::ReturnAnswer => answer::return_to_unit(&cx, conn).await?,
            // The status is all these change (and `plan` refuses a reopening: that is
            // the citizen's, through ingest).
            ActionKind::Archive | ActionKind::Reject | ActionKind::Close | ActionKind::Reopen => {
                Change::default()
            }
        };
        let mut sets = vec![
            "status = $1".to_owned(),
            "status_changed_at = $2".to_owned(),
        ];
        let mut args = vec![Arg::Text(step.to.as_str().into()), Arg::Int(now)];
        for set in change.sets {
            match set {
                Set::To(col, value) => {
                    args.push(value);
                    sets.push(format!("{col} = ${}", args.len()));
                }
                Set::Flag(col, value) => {
                    args.push(Arg::Int(i64::from(value)));
                    sets.push(format!("{col} = (${} <> 0)", args.len()));
                }
                Set::Null(col) => sets.push(format!("{col} = NULL")),
            }
        }
        // A claim ends when the complaint is finished or passes to another role's queue
        // (the unit after forwarding, the liaison after a draft, back to the unit).
        if matches!(
            step.to,
            Status::Closed | Status::Archived | Status::Rejected | Status::Merged
        ) || matches!(
            action,
            ActionKind::Forward
                | ActionKind::NotAuthority
                | ActionKind::DraftAnswer
                | ActionKind::ApproveAnswer
                | ActionKind::ReturnAnswer
        ) {
            sets.push("claimed_by = NULL".into());
            sets.push("claim_until = NULL".into());
        }
        args.push(Arg::Int(row.id));
        let id_n = args.len();
        args.push(Arg::Text(step.from.as_str().into()));
        let from_n = args.len();
        let sql = format!(
            "UPDATE complaints SET {} WHERE id = ${id_n} AND status = ${from_n}",
            sets.join(", ")
        );
        let res = bind_all(sqlx::query(&sql), &args).execute(&mut *tx).await?;
        if res.rows_affected() != 1 {
            return Err(Refusal::Conflict {
                action: action.as_str(),
                status: "changed meanwhile",
            }
            .into());
        }
        let reason_text = match (reason, change.detail) {
            (Some(r), Some(d)) => Some(format!("{r} ({d})")),
            (Some(r), None) => Some(r.to_owned()),
            (None, d) => d,
        };
        audit_on(
            &mut tx,
            row.id,
            &actor_label(actor),
            action.as_str(),
            reason_text.as_deref(),
            Some(step.from.as_str()),
            Some(step.to.as_str()),
            step.from != step.to,
        )
        .await?;
        if let Some(event) = change.anonymity {
            audit_on(
                &mut tx,
                row.id,
                &actor_label(actor),
                event,
                reason,
                None,
                None,
                false,
            )
            .await?;
        }
        tx.commit().await?;
        drop(turn);
        // The action may have taken the complaint out of the actor's scope (a unit
        // saying "not ours"): then only the outcome is returned.
        let item = match self.show(actor, tracking_id, false).await {
            Ok(i) => Some(Box::new(i)),
            Err(QueueError::Refused(Refusal::NotVisible)) => None,
            Err(e) => return Err(e),
        };
        Ok(Acted {
            tracking_id: tracking_id.to_owned(),
            status: step.to.as_str(),
            item,
        })
    }
}
