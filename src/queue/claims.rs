//! Claim-next as group commit. Claim-next is a write, and a durable commit costs far
//! more than the statements around it: fifty admins pressing "next" at once used to
//! queue fifty commits behind one another. Here the requests waiting at the same moment
//! are served together by one task, in one transaction with one commit; each still gets
//! the oldest complaint in its own scope, and no complaint goes to two of them (the
//! later ones in the batch see the earlier ones' claims).
//!
//! On PostgreSQL the candidates are locked with `FOR UPDATE SKIP LOCKED`, so several
//! daemons (each with its own batcher) walk past each other. On SQLite the batch holds
//! the write lock from its first statement (`BEGIN IMMEDIATE`).

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
    let mut out = Vec::with_capacity(requests.len());
    for (actor, until) in requests {
        out.push(claim_one(&mut tx, actor, now, *until, pg).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// The oldest unclaimed complaint in `actor`'s scope, claimed. Each waiting status is
/// probed through the partial index of unclaimed rows (one ORDER BY over several
/// statuses would sort every waiting row).
async fn claim_one(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    now: i64,
    until: i64,
    pg: bool,
) -> Result<Option<String>, QueueError> {
    let liaison = if actor.role == Role::Liaison {
        " AND EXISTS (SELECT 1 FROM answers a WHERE a.complaint_id = c.id AND a.status = 'submitted')"
    } else {
        ""
    };
    let (scope, unit) = if actor.role.is_central() {
        ("", None)
    } else {
        (
            " AND c.unit = $2",
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
         ORDER BY c.received_at, c.id LIMIT 1{lock}"
    );
    let mut best: Option<(i64, String, i64)> = None;
    for status in claimable(actor.role) {
        let mut q = sqlx::query(&sql).bind(*status);
        if let Some(u) = &unit {
            q = q.bind(u.as_str());
        }
        if let Some(r) = q.fetch_optional(&mut **tx).await? {
            let cand: (i64, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if best.as_ref().is_none_or(|b| (cand.2, cand.0) < (b.2, b.0)) {
                best = Some(cand);
            }
        }
    }
    let Some((id, tracking, _)) = best else {
        return Ok(None);
    };
    let done = sqlx::query(
        "UPDATE complaints SET claimed_by = $1, claim_until = $2
         WHERE id = $3 AND (claimed_by IS NULL OR claim_until <= $4)",
    )
    .bind(actor.user_id)
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok((done == 1).then_some(tracking))
}
