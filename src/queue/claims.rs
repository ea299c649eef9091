//! Claim-next as group commit. Claim-next is a write, and a durable commit costs far
//! more than the statements around it: fifty admins pressing "next" at once used to
//! queue fifty commits behind one another. Here the requests waiting at the same moment
//! are served together by one task, in one transaction with one commit. Requests with
//! the same scope share one probe per waiting status; the oldest candidates go to them
//! in arrival order, and one UPDATE records every claim of the batch, so a batch costs
//! a handful of statements however many it serves. No complaint goes to two of them.
//!
//! On PostgreSQL the candidates are locked with `FOR UPDATE SKIP LOCKED`, so several
//! daemons (each with its own batcher) walk past each other. On SQLite the batch holds
//! the write lock from its first statement (`BEGIN IMMEDIATE`).

use std::collections::BTreeMap;

use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::service::QueueError;
use super::workflow::{Actor, Role};
use crate::store::{now_micros, Backend, Store};

/// At most this many claims share a commit.
const MAX_BATCH: usize = 64;

struct Job {
    actor: Actor,
    until: i64,
    reply: oneshot::Sender<Result<Option<String>, QueueError>>,
}

/// The handle requests use; the task behind it ends when every handle is gone.
#[derive(Clone)]
pub(crate) struct Claimer {
    tx: mpsc::Sender<Job>,
}

/// The statuses `role` claims from, in the order their complaints wait.
pub(crate) fn claimable(role: Role) -> &'static [&'static str] {
    match role {
        Role::Coordinator => &["new", "verified", "not_authority"],
        Role::UnitAdmin => &["forwarded", "in_progress"],
        Role::Liaison => &["in_progress"],
        Role::Operator => &[
            "new",
            "verified",
            "not_authority",
            "forwarded",
            "in_progress",
        ],
    }
}

impl Claimer {
    pub(crate) fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Claims the oldest unclaimed complaint in `actor`'s scope until `until`; its
    /// tracking number, or `None` when nothing waits.
    pub(crate) async fn next(
        &self,
        actor: &Actor,
        until: i64,
    ) -> Result<Option<String>, QueueError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            actor: actor.clone(),
            until,
            reply,
        };
        let stopped = || {
            QueueError::Store(crate::store::StoreError::Invalid(
                "the claim task stopped".into(),
            ))
        };
        self.tx.send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Claims whose lease ran out are free again (once per batch, for every status).
        if let Err(e) =
            super::service::release_expired_claims(&store, now_micros(), claimable(Role::Operator))
                .await
        {
            tracing::warn!(error = %e, "expired claims not released");
        }
        let requests: Vec<(&Actor, i64)> = jobs.iter().map(|j| (&j.actor, j.until)).collect();
        match claim_batch(&store, &requests).await {
            Ok(claimed) => {
                for (job, c) in jobs.into_iter().zip(claimed) {
                    let _ = job.reply.send(Ok(c));
                }
            }
            // One failure must not fail the others: each goes again on its own, and
            // gets its own answer (the caller retries what is transient).
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(_) => {
                for job in jobs {
                    let r = claim_batch(&store, &[(&job.actor, job.until)])
                        .await
                        .map(|mut v| v.pop().flatten());
                    let _ = job.reply.send(r);
                }
            }
        }
    }
}

async fn claim_batch(
    store: &Store,
    requests: &[(&Actor, i64)],
) -> Result<Vec<Option<String>>, QueueError> {
    let pg = store.backend() == Backend::Postgres;
    // On SQLite the in-process writers take turns; the batch is one turn.
    let _turn = if pg {
        None
    } else {
        Some(store.write_turn().await)
    };
    let mut tx = if pg {
        store.pool().begin().await?
    } else {
        store.pool().begin_with("BEGIN IMMEDIATE").await?
    };
    let now = now_micros();
    // Requests with the same scope are served together: one probe per waiting status
    // for the whole group, the oldest candidates handed out in arrival order.
    let mut groups: BTreeMap<(&'static str, Option<&str>), Vec<usize>> = BTreeMap::new();
    for (i, (actor, _)) in requests.iter().enumerate() {
        let unit = (!actor.role.is_central()).then(|| actor.unit.as_deref().unwrap_or(""));
        groups
            .entry((actor.role.as_str(), unit))
            .or_default()
            .push(i);
    }
    let mut out: Vec<Option<(i64, String)>> = vec![None; requests.len()];
    for members in groups.values() {
        let actor = requests[members[0]].0;
        let found = candidates(&mut tx, actor, members.len(), pg).await?;
        for (&i, c) in members.iter().zip(found) {
            out[i] = Some(c);
        }
    }
    // Every assignment in one statement.
    let claimed: Vec<(i64, i64, i64)> = out
        .iter()
        .zip(requests)
        .filter_map(|(c, (actor, until))| c.as_ref().map(|(id, _)| (*id, actor.user_id, *until)))
        .collect();
    if !claimed.is_empty() {
        let mut who = String::new();
        let mut when = String::new();
        let mut ids = Vec::new();
        let mut n = 0;
        let mut args: Vec<i64> = Vec::new();
        for (id, user, until) in &claimed {
            who.push_str(&format!(" WHEN ${} THEN ${}", n + 1, n + 2));
            when.push_str(&format!(" WHEN ${} THEN ${}", n + 1, n + 3));
            ids.push(format!("${}", n + 1));
            args.extend([*id, *user, *until]);
            n += 3;
        }
        let sql = format!(
            "UPDATE complaints SET claimed_by = CASE id{who} END, claim_until = CASE id{when} END
             WHERE id IN ({}) AND (claimed_by IS NULL OR claim_until <= ${})",
            ids.join(", "),
            n + 1
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(*a);
        }
        let done = q.bind(now).execute(&mut *tx).await?.rows_affected();
        if done != claimed.len() as u64 {
            // Cannot happen: the rows are locked (PostgreSQL) or the write lock is held
            // (SQLite). Roll back rather than hand out what was not claimed.
            return Err(QueueError::Store(crate::store::StoreError::Invalid(
                format!("claimed {done} of {} complaints", claimed.len()),
            )));
        }
    }
    tx.commit().await?;
    Ok(out.into_iter().map(|c| c.map(|(_, t)| t)).collect())
}

/// The `n` oldest unclaimed complaints in `actor`'s scope, oldest first. Each waiting
/// status is probed through the partial index of unclaimed rows (one ORDER BY over
/// several statuses would sort every waiting row); on PostgreSQL the rows are locked,
/// skipping those another daemon holds.
async fn candidates(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    n: usize,
    pg: bool,
) -> Result<Vec<(i64, String)>, QueueError> {
    let liaison = if actor.role == Role::Liaison {
        " AND EXISTS (SELECT 1 FROM answers a WHERE a.complaint_id = c.id AND a.status = 'submitted')"
    } else {
        ""
    };
    let (scope, unit) = if actor.role.is_central() {
        ("", None)
    } else {
        (
            " AND c.unit = $3",
            Some(actor.unit.clone().unwrap_or_default()),
        )
    };
    let lock = if pg {
        " FOR UPDATE OF c SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.id, c.tracking_id, c.received_at FROM complaints c
         WHERE c.status = $1{scope} AND c.claimed_by IS NULL{liaison}
         ORDER BY c.received_at, c.id LIMIT $2{lock}"
    );
    let mut all: Vec<(i64, i64, String)> = Vec::new();
    for status in claimable(actor.role) {
        let mut q = sqlx::query(&sql).bind(*status).bind(n as i64);
        if let Some(u) = &unit {
            q = q.bind(u.as_str());
        }
        for r in q.fetch_all(&mut **tx).await? {
            all.push((r.try_get(2)?, r.try_get(0)?, r.try_get(1)?));
        }
    }
    all.sort_by_key(|(at, id, _)| (*at, *id));
    all.truncate(n);
    Ok(all.into_iter().map(|(_, id, t)| (id, t)).collect())
}
