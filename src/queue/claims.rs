//! Claim-next as group commit. Claim-next is a write, and a durable commit costs far
//! more than the statements around it: fifty admins pressing "next" at once used to
//! queue fifty commits behind one another. Here the requests waiting at the same moment
//! are served together by one task, in one transaction with one commit. Requests with
//! the same scope share one probe per waiting status; the oldest candidates go to them
//! in arrival order, and one UPDATE records every claim of the batch, so a batch costs
//! a handful of statements however many it serves. No complaint goes to two of them.
//!
//! On PostgreSQL a batch is one statement in one round trip: the probes lock their
//! candidates with `FOR UPDATE SKIP LOCKED` (so several daemons, each with its own
//! batcher, walk past each other) and the UPDATE that records the claims returns who got
//! what. Round trips are what a batch cost there: under fifty claimers on two cores each
//! took a millisecond or more, and a transaction of probes, UPDATE and COMMIT took seven.
//! On SQLite, where a statement costs no round trip, the batch holds the write lock from
//! its first statement (`BEGIN IMMEDIATE`) over a probe per status and one UPDATE;
//! SQLite's UPDATE cannot return columns of the rows it joins, which the one statement
//! needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Any, Row, Transaction};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::error::QueueError;
use super::item::{load_items, QueueItem};
use super::sql::{bind_all, Arg};
use super::workflow::{Actor, Role};
use crate::store::{now_micros, Backend, Store};

/// At most this many claims share a commit.
const MAX_BATCH: usize = 64;

struct Job {
    actor: Actor,
    until: i64,
    reply: oneshot::Sender<Result<Option<Claimed>, QueueError>>,
}

/// A complaint handed out by claim-next.
pub(crate) struct Claimed {
    pub id: i64,
    pub tracking_id: String,
    /// The complaint whole, as the batch read it (`None` if that read failed).
    pub item: Option<QueueItem>,
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

    /// Claims the oldest unclaimed complaint in `actor`'s scope until `until`; `None`
    /// when nothing waits.
    pub(crate) async fn next(
        &self,
        actor: &Actor,
        until: i64,
    ) -> Result<Option<Claimed>, QueueError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            actor: actor.clone(),
            until,
            reply,
        };
        let stopped = || {
            QueueError::Store(crate::store::StoreError::Unavailable(
                "the claim task stopped",
            ))
        };
        self.tx.send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Leases that ran out are freed at least this often, and as soon as the soonest lease
/// this claimer handed out ends. Not before every batch: under load that one statement
/// would run with every batch for little gain, and a lease abandoned a few seconds ago
/// can wait those seconds. Leases taken by a direct claim or another daemon wait for the
/// timer.
const RELEASE_EVERY: Duration = Duration::from_secs(5);

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    // On PostgreSQL two batches may run at once (their probes skip each other's locked
    // rows), so a request that arrives during a batch does not wait for it to end. On
    // SQLite the write lock takes them in turn anyway.
    let lanes = match store.backend() {
        Backend::Postgres => crate::store::PG_CLAIM_LANES as usize,
        Backend::Sqlite => 1,
    };
    let lanes = Arc::new(Semaphore::new(lanes));
    let soonest_lease = Arc::new(AtomicI64::new(i64::MAX));
    let mut released: Option<Instant> = None;
    while let Some(first) = rx.recv().await {
        let Ok(lane) = lanes.clone().acquire_owned().await else {
            return;
        };
        // What arrived meanwhile joins the batch, up to its share.
        let share = batch_share(rx.len() + 1, lanes.available_permits() + 1);
        let mut jobs = vec![first];
        while jobs.len() < share {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now = now_micros();
        if released.is_none_or(|t| t.elapsed() >= RELEASE_EVERY)
            || now >= soonest_lease.load(Ordering::Relaxed)
        {
            soonest_lease.store(i64::MAX, Ordering::Relaxed);
            match release_expired_claims(&store, now, claimable(Role::Operator)).await {
                Ok(_) => released = Some(Instant::now()),
                Err(e) => tracing::warn!(error = %e, "expired claims not released"),
            }
        }
        let (store, soonest_lease) = (store.clone(), soonest_lease.clone());
        tokio::spawn(async move {
            if let Some(until) = jobs.iter().map(|j| j.until).min() {
                soonest_lease.fetch_min(until, Ordering::Relaxed);
            }
            serve(&store, jobs, lane).await;
        });
    }
}

/// Frees claims whose lease ran out, so that claim-next, which reads only unclaimed
/// rows (a partial index), sees them again. Cheap when there are none: the claimed rows
/// with an expired lease are found through `claim_until`.
pub(crate) async fn release_expired_claims(
    store: &Store,
    now: i64,
    statuses: &[&str],
) -> Result<u64, QueueError> {
    // On SQLite an UPDATE takes the write lock even when it changes nothing: look first.
    // On PostgreSQL the look would be one more round trip for the same index scan.
    if store.backend() == Backend::Sqlite {
        let list = statuses
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let expired: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM complaints WHERE claim_until <= $1 AND claimed_by IS NOT NULL AND status IN ({list}) LIMIT 1"
        ))
        .bind(now)
        .fetch_optional(store.pool())
        .await?;
        if expired.is_none() {
            return Ok(0);
        }
    }
    let res = sqlx::query(
        "UPDATE complaints SET claimed_by = NULL, claim_until = NULL WHERE claim_until <= $1 AND claimed_by IS NOT NULL",
    )
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(res.rows_affected())
}

/// How many of `waiting` requests the batch about to start takes when `free` lanes
/// (its own included) are idle: an even share, so that the idle lanes take the rest at
/// once. Fifty requests arriving together used to go to one lane whole and come back
/// together to do it again, while the other lane idled: the claims of one batch are
/// one statement, which one PostgreSQL process runs on one core.
fn batch_share(waiting: usize, free: usize) -> usize {
    waiting.div_ceil(free.max(1)).clamp(1, MAX_BATCH)
}

/// Claims for `jobs` in one batch, reads what they got (two statements for the whole
/// batch, not two per claim), and answers each. The lane is free again once the claims
/// are made: the next batch need not wait for this one's reads.
async fn serve(store: &Store, jobs: Vec<Job>, lane: OwnedSemaphorePermit) {
    let requests: Vec<(&Actor, i64)> = jobs.iter().map(|j| (&j.actor, j.until)).collect();
    let claimed: Vec<Result<Option<(i64, String)>, QueueError>> =
        match claim_batch(store, &requests).await {
            Ok(claimed) => claimed.into_iter().map(Ok).collect(),
            Err(e) if requests.len() == 1 => vec![Err(e)],
            // One failure must not fail the others: each goes again on its own, and gets
            // its own answer (the caller retries what is transient).
            Err(_) => {
                let mut each = Vec::with_capacity(requests.len());
                for r in &requests {
                    each.push(
                        claim_batch(store, &[*r])
                            .await
                            .map(|mut v| v.pop().flatten()),
                    );
                }
                each
            }
        };
    drop(lane);
    let ids: Vec<i64> = claimed
        .iter()
        .filter_map(|c| c.as_ref().ok()?.as_ref().map(|(id, _)| *id))
        .collect();
    let mut items: HashMap<i64, QueueItem> = HashMap::new();
    if !ids.is_empty() {
        match load_items(store, &ids).await {
            Ok(loaded) => items.extend(loaded),
            // Each caller reads its own instead.
            Err(e) => tracing::warn!(error = %e, "claimed complaints not read in one go"),
        }
    }
    for (job, c) in jobs.into_iter().zip(claimed) {
        let answer = c.map(|c| {
            c.map(|(id, tracking_id)| Claimed {
                id,
                tracking_id,
                item: items.remove(&id),
            })
        });
        let _ = job.reply.send(answer);
    }
}

/// Requests with the same scope are served together: one probe per waiting status for
/// the whole group, the oldest candidates handed out in arrival order. The groups, each
/// as the indices of its requests.
fn scope_groups(requests: &[(&Actor, i64)]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<(&'static str, Option<&str>), Vec<usize>> = BTreeMap::new();
    for (i, (actor, _)) in requests.iter().enumerate() {
        let unit = (!actor.role.is_central()).then(|| actor.unit.as_deref().unwrap_or(""));
        groups
            .entry((actor.role.as_str(), unit))
            .or_default()
            .push(i);
    }
    groups.into_values().collect()
}

/// What restricts a probe to `actor`'s scope, after `c.status = ...`: its unit (bound as
/// `$unit`), and for a liaison an answer waiting for approval.
fn scope_clause(actor: &Actor, unit: &str) -> String {
    let mut sql = String::new();
    if !actor.role.is_central() {
        sql.push_str(&format!(" AND c.unit = {unit}"));
    }
    if actor.role == Role::Liaison {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM answers a WHERE a.complaint_id = c.id AND a.status = 'submitted')",
        );
    }
    sql
}

async fn claim_batch(
    store: &Store,
    requests: &[(&Actor, i64)],
) -> Result<Vec<Option<(i64, String)>>, QueueError> {
    if store.backend() == Backend::Postgres {
        return claim_batch_pg(store, requests).await;
    }
    // The in-process writers take turns; the batch is one turn.
    let _turn = store.write_turn().await;
    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await?;
    let now = now_micros();
    let mut out: Vec<Option<(i64, String)>> = vec![None; requests.len()];
    // Scopes overlap (an operator claims what a coordinator claims): a later group
    // passes over what an earlier one took.
    let mut taken = HashSet::new();
    for members in scope_groups(requests) {
        let actor = requests[members[0]].0;
        let found = candidates(&mut tx, actor, members.len() + taken.len()).await?;
        let free: Vec<(i64, String)> = found
            .into_iter()
            .filter(|(id, _)| !taken.contains(id))
            .collect();
        for (&i, c) in members.iter().zip(free) {
            taken.insert(c.0);
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
            // Cannot happen: the write lock is held. Roll back rather than hand out what
            // was not claimed.
            return Err(QueueError::Store(crate::store::StoreError::Invalid(
                format!("claimed {done} of {} complaints", claimed.len()),
            )));
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// The `n` oldest unclaimed complaints in `actor`'s scope, oldest first (SQLite). Each
/// waiting status is probed through the partial index of unclaimed rows (one ORDER BY
/// over several statuses would sort every waiting row).
async fn candidates(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    n: usize,
) -> Result<Vec<(i64, String)>, QueueError> {
    let sql = format!(
        "SELECT c.id, c.tracking_id, c.received_at FROM complaints c
         WHERE c.status = $1 AND c.claimed_by IS NULL{}
         ORDER BY c.received_at, c.id LIMIT $2",
        scope_clause(actor, "$3")
    );
    let unit = (!actor.role.is_central()).then(|| actor.unit.clone().unwrap_or_default());
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

/// A batch on PostgreSQL, as one statement (autocommit, so one round trip). For each
/// scope group `g`: one probe over the statuses the scope claims from (`w{g}`, through
/// that scope's partial index, its rows locked, skipping what another daemon holds), the
/// candidates numbered oldest first (`g{g}`), and the group's requests numbered in
/// arrival order (`r{g}`); the UPDATE gives candidate `k` to request `k` and returns each
/// request's complaint. The statuses are written out, not bound: the planner matches a
/// partial index's predicate only against what it can read in the query.
///
/// The text depends only on which scopes the batch holds, not on how many requests: the
/// requests travel as comma-separated lists and the probe's size as a parameter. So
/// PostgreSQL soon keeps one plan for it instead of planning a new text for every batch
/// size.
async fn claim_batch_pg(
    store: &Store,
    requests: &[(&Actor, i64)],
) -> Result<Vec<Option<(i64, String)>>, QueueError> {
    let mut args: Vec<Arg> = Vec::new();
    let param = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    let list = |values: &mut dyn Iterator<Item = i64>| {
        Arg::Text(values.map(|v| v.to_string()).collect::<Vec<_>>().join(","))
    };
    let mut ctes: Vec<String> = Vec::new();
    let mut picks: Vec<String> = Vec::new();
    for (g, members) in scope_groups(requests).into_iter().enumerate() {
        let actor = requests[members[0]].0;
        let unit = if actor.role.is_central() {
            String::new()
        } else {
            param(&mut args, Arg::Text(actor.unit.clone().unwrap_or_default()))
        };
        let statuses = claimable(actor.role)
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // Scopes overlap (an operator claims what a coordinator claims), and a row this
        // statement locked is not skipped by its own later probes: leave out what the
        // earlier groups took.
        let taken = (0..g)
            .map(|e| format!(" AND c.id NOT IN (SELECT id FROM w{e})"))
            .collect::<String>();
        let size = param(&mut args, Arg::Int(members.len() as i64));
        ctes.push(format!(
            "w{g} AS (SELECT c.id, c.received_at FROM complaints c
             WHERE c.status IN ({statuses}) AND c.claimed_by IS NULL{}{taken}
             ORDER BY c.received_at, c.id LIMIT {size} FOR UPDATE OF c SKIP LOCKED)",
            scope_clause(actor, &unit),
        ));
        // FOR UPDATE and a window function cannot share a SELECT.
        ctes.push(format!(
            "g{g} AS (SELECT id, row_number() OVER (ORDER BY received_at, id) AS rn FROM w{g})"
        ));
        let req = param(&mut args, list(&mut members.iter().map(|&i| i as i64)));
        let holder = param(
            &mut args,
            list(&mut members.iter().map(|&i| requests[i].0.user_id)),
        );
        let lease = param(&mut args, list(&mut members.iter().map(|&i| requests[i].1)));
        ctes.push(format!(
            "r{g} AS (SELECT * FROM unnest(string_to_array({req}, ',')::bigint[],
                 string_to_array({holder}, ',')::bigint[], string_to_array({lease}, ',')::bigint[])
             WITH ORDINALITY AS r (req, holder, lease, rn))"
        ));
        picks.push(format!(
            "SELECT r{g}.req, g{g}.id, r{g}.holder, r{g}.lease FROM g{g} JOIN r{g} ON r{g}.rn = g{g}.rn"
        ));
    }
    let now = param(&mut args, Arg::Int(now_micros()));
    let sql = format!(
        "WITH {}, pick AS ({})
         UPDATE complaints SET claimed_by = pick.holder, claim_until = pick.lease FROM pick
         WHERE complaints.id = pick.id AND (complaints.claimed_by IS NULL OR complaints.claim_until <= {now})
         RETURNING pick.req, complaints.id, complaints.tracking_id",
        ctes.join(",\n"),
        picks.join(" UNION ALL ")
    );
    // The claims pool keeps the statement's generic plan (see `PG_CLAIM_LANES`).
    let pool = store
        .claims
        .as_ref()
        .ok_or(crate::store::StoreError::Unavailable(
            "no claims pool: not a PostgreSQL store",
        ))?;
    let mut out = vec![None; requests.len()];
    for r in bind_all(sqlx::query(&sql), &args).fetch_all(pool).await? {
        let req: i64 = r.try_get(0)?;
        if let Some(slot) = usize::try_from(req).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some((r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_requests_are_shared_among_the_idle_lanes() {
        // (waiting, idle lanes) -> what this batch takes.
        for (waiting, free, share) in [
            (50, 2, 25),
            (51, 2, 26),
            (1, 2, 1),
            (2, 2, 1),
            (50, 1, 50),
            // Never more than a batch holds, never nothing.
            (200, 1, MAX_BATCH),
            (200, 2, MAX_BATCH),
            (0, 2, 1),
            (5, 0, 5),
        ] {
            assert_eq!(
                batch_share(waiting, free),
                share,
                "{waiting} waiting, {free} idle"
            );
        }
    }
}
