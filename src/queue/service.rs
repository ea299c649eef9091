//! The queue's operations: list, show, claim, and the workflow actions, each in one
//! transaction with its audit event. Authorization and transitions come from
//! [`super::workflow`]; this module applies them.

use std::sync::Arc;

use aduan_kit::{ChannelName, OutboundKind, Recipient};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::workflow::{plan, ActionKind, Actor, Refusal, Status};
use crate::store::{
    flag, from_micros, insert_outbound, now_micros, Backend, Cols, ComplaintRecord, Lists,
    NewOutbound, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("claimed by {0} until their claim expires or is released")]
    ClaimedByOther(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

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

pub const CLASSIFICATIONS: [&str; 3] = ["pengaduan", "aspirasi", "permintaan_informasi"];

/// A complaint as the queue shows it: the public record plus the workflow's fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub record: ComplaintRecord,
    pub classification: Option<String>,
    pub claimed_by: Option<String>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub claim_until: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub merged_into: Option<String>,
    /// Another reporter's complaint whose thread this one's message replied in, or whose
    /// tracking number it quoted: it was filed apart, as only a complaint's reporter
    /// adds to it. Empty in lists.
    pub refers_to: Option<String>,
    /// The latest answer draft, for the liaison to approve.
    pub pending_answer: Option<String>,
    /// What the outbox holds for this complaint (receipts, answers) and how each fared:
    /// a refused send (say, a Messenger answer outside the 24-hour window) shows here
    /// with its reason, so the admins can answer another way. Empty in lists.
    pub deliveries: Vec<DeliveryState>,
}

/// One outgoing message of a complaint and where it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryState {
    pub channel_name: String,
    /// `acknowledgement` or `answer`.
    pub kind: String,
    /// `pending`, `sending`, `sent` or `failed` (given up: it needs another way).
    pub status: String,
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

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

/// The outcome of an action: the complaint as the actor now sees it, or only its new
/// status when the action took it out of the actor's scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Acted {
    pub tracking_id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<QueueItem>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<QueueItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Where approved answers go for complaints whose own channel cannot carry them.
#[derive(Debug, Clone, Default)]
pub struct AnswerRoutes {
    /// Channels with an outbound side, by name, with their kind.
    pub outbound: Vec<(ChannelName, String)>,
    /// The e-mail channel that carries answers to web-form reporters who gave an address.
    pub email_channel: Option<ChannelName>,
}

#[derive(Clone)]
pub struct Queue {
    store: Store,
    routes: Arc<AnswerRoutes>,
    /// The claim-next batcher, started on first use.
    claimer: Arc<std::sync::OnceLock<super::claims::Claimer>>,
    /// Token to user, for a moment (see `people::TOKEN_TTL`).
    pub(super) actors: Arc<super::people::ActorCache>,
    /// How long a claim lasts unless renewed.
    pub claim_lease_secs: i64,
}

const ROW_COLUMNS: &str = "c.id, c.tracking_id, c.channel, c.channel_name, c.external_id, c.status, c.title, c.body,
    c.category, c.unit, c.reporter_name, c.reporter_handle, c.reporter_email, c.reporter_phone, c.reporter_user_id,
    c.anonymous, c.confidential, c.received_at, c.occurred_on, c.location_text, c.location_lat, c.location_lon,
    c.classification, c.claimed_by, c.claim_until, c.due_at, c.overdue_at, c.merged_into, c.held_from,
    u.username AS claimed_by_name, m.tracking_id AS merged_into_tracking";

const ROW_FROM: &str = "complaints c LEFT JOIN users u ON u.id = c.claimed_by
    LEFT JOIN complaints m ON m.id = c.merged_into";

/// A complaint read whole (shown, claimed) has beside its row the complaint it refers
/// to; the lists do without.
const WHOLE_COLUMNS: &str = "r.tracking_id AS refers_to_tracking";
const WHOLE_FROM: &str = "LEFT JOIN complaints r ON r.id = c.refers_to";

/// One complaint row with what the workflow needs.
struct Row0 {
    id: i64,
    status: Status,
    held_from: Option<Status>,
    unit: Option<String>,
    claimed_by: Option<i64>,
    claim_until: Option<i64>,
    claimed_by_name: Option<String>,
}

fn row0(r: &AnyRow) -> Result<Row0, QueueError> {
    let status: String = r.try_get("status")?;
    let held: Option<String> = r.try_get("held_from")?;
    Ok(Row0 {
        id: r.try_get("id")?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("unknown status {status:?}")))?,
        held_from: held.as_deref().and_then(Status::parse),
        unit: r.try_get("unit")?,
        claimed_by: r.try_get("claimed_by")?,
        claim_until: r.try_get("claim_until")?,
        claimed_by_name: r.try_get("claimed_by_name")?,
    })
}

fn item_from_row(r: &impl Cols, now: i64) -> Result<(i64, QueueItem), QueueError> {
    let claim_until: Option<i64> = r.col("claim_until")?;
    let live_claim = claim_until.is_some_and(|t| t > now);
    let due_at: Option<i64> = r.col("due_at")?;
    let flagged: Option<i64> = r.col("overdue_at")?;
    let (id, record) = crate::store::complaint_from_row(r)?;
    let open = Status::parse(&record.status).is_some_and(Status::is_open);
    Ok((
        id,
        QueueItem {
            record,
            classification: r.col("classification")?,
            claimed_by: if live_claim {
                r.col("claimed_by_name")?
            } else {
                None
            },
            claim_until: if live_claim {
                claim_until.map(from_micros)
            } else {
                None
            },
            due_at: due_at.map(from_micros),
            overdue: open && (flagged.is_some() || due_at.is_some_and(|d| d < now)),
            merged_into: r.col("merged_into_tracking")?,
            refers_to: None,
            pending_answer: None,
            deliveries: Vec::new(),
        },
    ))
}

/// [`item_from_row`] for a row read with [`WHOLE_COLUMNS`].
fn whole_item_from_row(r: &impl Cols, now: i64) -> Result<(i64, QueueItem), QueueError> {
    let (id, mut item) = item_from_row(r, now)?;
    item.refers_to = r.col("refers_to_tracking")?;
    Ok((id, item))
}

/// Removes who filed the complaint: the reporter and the provider's ids of its
/// messages, both ways (see [`ComplaintRecord::hide_identity`]).
fn hide_identity(item: &mut QueueItem) {
    item.record.hide_identity();
    // A provider's refusal may quote the address it refused.
    for d in &mut item.deliveries {
        d.last_error = None;
    }
}

/// Removes what `actor` may not see of who filed the complaint.
fn redact(actor: &Actor, item: &mut QueueItem) {
    if !actor.can_see_identity(item.record.anonymous) {
        hide_identity(item);
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

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(String),
    Int(i64),
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

/// Binds `args` in order, on any driver (`Any` or a back end's own).
pub(super) fn bind_all<'q, DB: sqlx::Database>(
    mut q: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// Complaints by id, whole (row, thread, deliveries, answer draft) and before any
/// caller's view is applied, in two statements however many: the claim-next batch opens
/// what it handed out this way. Ids not found are left out.
pub(super) async fn load_items(
    store: &Store,
    ids: &[i64],
) -> Result<Vec<(i64, QueueItem)>, QueueError> {
    let now = now_micros();
    let (of, list) = store.id_list(ids);
    let sql = format!(
        "SELECT {ROW_COLUMNS}, {WHOLE_COLUMNS} FROM {ROW_FROM} {WHOLE_FROM} WHERE c.id {of}"
    );
    let mut items = crate::store::on_reads!(&store.reads, pool => {
        sqlx::query(&sql)
            .bind(list)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| whole_item_from_row(r, now))
            .collect::<Result<Vec<_>, _>>()?
    });
    with_threads(store, &mut items).await?;
    Ok(items)
}

/// Reads the threads of `items` and what the queue shows beside them, in one statement.
async fn with_threads(store: &Store, items: &mut [(i64, QueueItem)]) -> Result<(), QueueError> {
    let mut records: Vec<(i64, &mut ComplaintRecord)> = items
        .iter_mut()
        .map(|(id, item)| (*id, &mut item.record))
        .collect();
    let sides = store.fill_threads_for_queue(&mut records).await?;
    for ((_, item), side) in items.iter_mut().zip(sides) {
        item.deliveries = side
            .deliveries
            .into_iter()
            .map(|d| DeliveryState {
                channel_name: d.channel_name,
                kind: d.kind,
                status: d.status,
                attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
                last_error: d.last_error,
            })
            .collect();
        item.pending_answer = side.pending_answer;
    }
    Ok(())
}

impl Queue {
    pub fn new(store: Store, routes: AnswerRoutes) -> Self {
        Self {
            store,
            routes: Arc::new(routes),
            claimer: Arc::default(),
            actors: Arc::default(),
            claim_lease_secs: 15 * 60,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The channel (name and kind) that carries an approved answer to a reporter who
    /// wrote on `channel_name`: the same channel when it can send, otherwise e-mail when
    /// the reporter gave an address; `None` when the answer is only on the status page.
    pub fn answer_channel(
        &self,
        channel_name: &str,
        reporter_has_email: bool,
    ) -> Option<(ChannelName, String)> {
        let own = self
            .routes
            .outbound
            .iter()
            .find(|(n, _)| n.as_str() == channel_name)
            .map(|(n, k)| (n.clone(), k.clone()));
        match (own, &self.routes.email_channel) {
            (Some(o), _) => Some(o),
            (None, Some(e)) if reporter_has_email => Some((e.clone(), "email".to_owned())),
            _ => None,
        }
    }

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
            match self.store.backend() {
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
        match &self.store.lists {
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
            None => crate::store::on_reads!(&self.store.reads, pool => {
                let rows = bind_all(sqlx::query(&sql), &args).fetch_all(pool).await?;
                page_from_rows(&rows, limit, now)
            }),
        }
    }

    /// One complaint with its whole thread. Identity of an anonymous reporter is shown
    /// to central roles only when `reveal` is set, and that view is audited.
    pub async fn show(
        &self,
        actor: &Actor,
        tracking_id: &str,
        reveal: bool,
    ) -> Result<QueueItem, QueueError> {
        let now = now_micros();
        let sql = format!(
            "SELECT {ROW_COLUMNS}, {WHOLE_COLUMNS} FROM {ROW_FROM} {WHOLE_FROM} WHERE c.tracking_id = $1"
        );
        let found = crate::store::on_reads!(&self.store.reads, pool => {
            match sqlx::query(&sql).bind(tracking_id).fetch_optional(pool).await? {
                Some(row) => Some(whole_item_from_row(&row, now)?),
                None => None,
            }
        });
        let (id, item) = found.ok_or(Refusal::NotVisible)?;
        if !actor.can_see(item.record.unit.as_deref()) {
            return Err(Refusal::NotVisible.into());
        }
        let mut items = [(id, item)];
        with_threads(&self.store, &mut items).await?;
        let [(id, item)] = items;
        self.present(actor, id, item, reveal).await
    }

    /// What `actor` is shown of a complaint read whole: an anonymous reporter is hidden
    /// from central roles unless `reveal` is set (and that view is audited), and what the
    /// role may not see is taken out.
    async fn present(
        &self,
        actor: &Actor,
        id: i64,
        mut item: QueueItem,
        reveal: bool,
    ) -> Result<QueueItem, QueueError> {
        if item.record.anonymous && actor.role.is_central() {
            if reveal {
                self.audit(id, actor, "view_identity", None, None, None, false)
                    .await?;
            } else {
                hide_identity(&mut item);
            }
        }
        redact(actor, &mut item);
        Ok(item)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn audit(
        &self,
        complaint_id: i64,
        actor: &Actor,
        action: &str,
        reason: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
        public: bool,
    ) -> Result<(), QueueError> {
        let mut conn = self.store.pool().acquire().await?;
        audit_on(
            &mut conn,
            complaint_id,
            &actor_label(actor),
            action,
            reason,
            before,
            after,
            public,
        )
        .await?;
        Ok(())
    }

    /// Claims a complaint for `actor` (renews an own claim). Two admins never hold the
    /// same complaint: the claim is one conditional UPDATE.
    pub async fn claim(&self, actor: &Actor, tracking_id: &str) -> Result<QueueItem, QueueError> {
        let now = now_micros();
        let (row, _) = self.load(actor, tracking_id).await?;
        let until = now + self.claim_lease_secs * 1_000_000;
        let turn = self.store.write_turn().await;
        let res = sqlx::query(
            "UPDATE complaints SET claimed_by = $1, claim_until = $2
             WHERE id = $3 AND (claimed_by IS NULL OR claim_until <= $4 OR claimed_by = $1)",
        )
        .bind(actor.user_id)
        .bind(until)
        .bind(row.id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        drop(turn);
        if res.rows_affected() == 0 {
            let (row, _) = self.load(actor, tracking_id).await?;
            return Err(QueueError::ClaimedByOther(
                row.claimed_by_name.unwrap_or_default(),
            ));
        }
        self.show(actor, tracking_id, false).await
    }

    /// Gives up an own claim (operators and coordinators may release anyone's).
    pub async fn release(&self, actor: &Actor, tracking_id: &str) -> Result<(), QueueError> {
        let (row, _) = self.load(actor, tracking_id).await?;
        let sql = if actor.role.is_central() {
            "UPDATE complaints SET claimed_by = NULL, claim_until = NULL WHERE id = $1 AND ($2 = $2)"
        } else {
            "UPDATE complaints SET claimed_by = NULL, claim_until = NULL WHERE id = $1 AND claimed_by = $2"
        };
        sqlx::query(sql)
            .bind(row.id)
            .bind(actor.user_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Claims the oldest unclaimed complaint in the caller's scope and returns it, or
    /// `None` when nothing waits. Concurrent requests share one transaction and one
    /// commit (`queue::claims`); expired claims are released first, once per batch.
    pub async fn next(&self, actor: &Actor) -> Result<Option<QueueItem>, QueueError> {
        let claimer = self
            .claimer
            .get_or_init(|| super::claims::Claimer::spawn(self.store.clone()))
            .clone();
        let mut attempt = 0u64;
        loop {
            let until = now_micros() + self.claim_lease_secs * 1_000_000;
            match claimer.next(actor, until).await {
                // The batch read what it handed out; if that read failed, read it here.
                Ok(Some(c)) => {
                    return match c.item {
                        Some(item) if actor.can_see(item.record.unit.as_deref()) => {
                            self.present(actor, c.id, item, false).await.map(Some)
                        }
                        _ => self.show(actor, &c.tracking_id, false).await.map(Some),
                    }
                }
                Ok(None) => return Ok(None),
                Err(QueueError::Store(StoreError::Db(e)))
                    if attempt < 5 && crate::store::is_transient(&e) =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn load(&self, actor: &Actor, tracking_id: &str) -> Result<(Row0, i64), QueueError> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM {ROW_FROM} WHERE c.tracking_id = $1");
        let r = sqlx::query(&sql)
            .bind(tracking_id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(Refusal::NotVisible)?;
        let row = row0(&r)?;
        if !actor.can_see(row.unit.as_deref()) {
            return Err(Refusal::NotVisible.into());
        }
        Ok((row, now_micros()))
    }

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
        let turn = self.store.write_turn().await;
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if action.needs_reason() && reason.is_none() {
            return Err(Refusal::Invalid(format!("{}: give a reason", action.as_str())).into());
        }
        let mut tx = self.store.pool().begin().await?;
        let lock = if self.store.backend() == Backend::Postgres {
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
                    row.claimed_by_name.unwrap_or_default(),
                ));
            }
        }
        let mut extra: Vec<(&str, Arg)> = Vec::new();
        let mut detail = None;
        // Lifting anonymity shows the reporter to the unit from then on: it is recorded
        // on its own, like any other way to the identity.
        let mut anonymity_change = None;
        match action {
            ActionKind::Verify => {
                if let Some(c) = &req.classification {
                    if !CLASSIFICATIONS.contains(&c.as_str()) {
                        return Err(Refusal::Invalid(format!(
                            "classification: one of {}",
                            CLASSIFICATIONS.join(", ")
                        ))
                        .into());
                    }
                    extra.push(("classification", Arg::Text(c.clone())));
                }
                if let Some(c) = &req.category {
                    let known: Option<i64> =
                        sqlx::query_scalar("SELECT 1 FROM categories WHERE code = $1")
                            .bind(c)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if known.is_none() {
                        return Err(Refusal::Invalid(format!("category: no category {c:?}")).into());
                    }
                    extra.push(("category", Arg::Text(c.clone())));
                }
                if let Some(t) = req
                    .title
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                {
                    extra.push(("title", Arg::Text(t.to_owned())));
                }
                if let Some(a) = req.anonymous {
                    if a != flag(&r, "anonymous")? {
                        anonymity_change = Some(if a {
                            "anonymity_set"
                        } else {
                            "anonymity_lifted"
                        });
                    }
                    extra.push(("anonymous", Arg::Int(i64::from(a))));
                }
                if let Some(c) = req.confidential {
                    extra.push(("confidential", Arg::Int(i64::from(c))));
                }
                extra.push(("due_at", Arg::Int(0)));
            }
            ActionKind::Forward => {
                let unit = req
                    .unit
                    .as_deref()
                    .ok_or_else(|| Refusal::Invalid("forward: give the unit".into()))?;
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM units WHERE code = $1")
                    .bind(unit)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(Refusal::Invalid(format!("forward: no unit {unit:?}")).into());
                }
                extra.push(("unit", Arg::Text(unit.to_owned())));
                detail = Some(format!("unit={unit}"));
            }
            ActionKind::Hold => {
                extra.push(("held_from", Arg::Text(row.status.as_str().into())));
            }
            ActionKind::NotAuthority => {
                detail = row.unit.clone().map(|u| format!("unit={u}"));
            }
            ActionKind::Merge => {
                let into = req
                    .into
                    .as_deref()
                    .ok_or_else(|| Refusal::Invalid("merge: give `into`".into()))?;
                let target =
                    sqlx::query("SELECT id, status, unit FROM complaints WHERE tracking_id = $1")
                        .bind(into)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| Refusal::Invalid(format!("merge: no complaint {into}")))?;
                let target_id: i64 = target.try_get(0)?;
                let target_status: String = target.try_get(1)?;
                if target_id == row.id
                    || matches!(target_status.as_str(), "merged" | "rejected" | "archived")
                {
                    return Err(Refusal::Invalid(format!(
                        "merge: {into} cannot take other complaints ({target_status})"
                    ))
                    .into());
                }
                // The thread follows: later replies to this complaint join the survivor.
                sqlx::query("UPDATE thread_keys SET complaint_id = $1 WHERE complaint_id = $2")
                    .bind(target_id)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                // Its messages move to the survivor: the first one (the complaint itself,
                // with its raw original and attachments) becomes a message there, without
                // the provider's id when its reporter chose to be anonymous; its other
                // messages keep theirs (later edits and duplicates are found by them) but
                // are marked, so that no reader of the survivor's thread sees them.
                let first_id: i64 = sqlx::query_scalar(
                    "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at,
                         raw_content_type, raw, public, anonymous)
                     SELECT $1, 'in', channel, channel_name,
                         CASE WHEN anonymous THEN 'merged:' || tracking_id ELSE external_id END,
                         title || '\n\n' || body, received_at,
                         raw_content_type, raw, $2, anonymous
                     FROM complaints WHERE id = $3 RETURNING id",
                )
                .bind(target_id)
                .bind(false)
                .bind(row.id)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE attachments SET complaint_id = $1, message_id = $2 WHERE complaint_id = $3 AND message_id IS NULL",
                )
                .bind(target_id)
                .bind(first_id)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE attachments SET complaint_id = $1 WHERE complaint_id = $2")
                    .bind(target_id)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE message_revisions SET complaint_id = $1, message_id = COALESCE(message_id, $2) WHERE complaint_id = $3",
                )
                .bind(target_id)
                .bind(first_id)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(if flag(&r, "anonymous")? {
                    "UPDATE messages SET complaint_id = $1, anonymous = TRUE WHERE complaint_id = $2 AND id <> $3"
                } else {
                    "UPDATE messages SET complaint_id = $1 WHERE complaint_id = $2 AND id <> $3"
                })
                .bind(target_id)
                .bind(row.id)
                .bind(first_id)
                .execute(&mut *tx)
                .await?;
                extra.push(("merged_into", Arg::Int(target_id)));
                detail = Some(format!("into={into}"));
            }
            ActionKind::DraftAnswer => {
                let body = req
                    .body
                    .as_deref()
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| Refusal::Invalid("answer: give the body".into()))?;
                sqlx::query(
                    "INSERT INTO answers (complaint_id, unit, body, status, author_id, created_at)
                     VALUES ($1, $2, $3, 'submitted', $4, $5)",
                )
                .bind(row.id)
                .bind(row.unit.as_deref())
                .bind(body)
                .bind(actor.user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            ActionKind::ApproveAnswer | ActionKind::ReturnAnswer => {
                let pending = sqlx::query(
                    "SELECT id, body FROM answers WHERE complaint_id = $1 AND status = 'submitted'
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Refusal::Invalid("no answer is waiting for approval".into()))?;
                let answer_id: i64 = pending.try_get(0)?;
                let body: String = pending.try_get(1)?;
                let approve = action == ActionKind::ApproveAnswer;
                sqlx::query(
                    "UPDATE answers SET status = $1, approver_id = $2, reason = $3, decided_at = $4 WHERE id = $5",
                )
                .bind(if approve { "approved" } else { "returned" })
                .bind(actor.user_id)
                .bind(reason)
                .bind(now)
                .bind(answer_id)
                .execute(&mut *tx)
                .await?;
                if approve {
                    self.deliver_answer(&mut tx, row.id, answer_id, &body, now)
                        .await?;
                    extra.push(("due_at", Arg::Int(0)));
                }
            }
            ActionKind::Resume => {
                extra.push(("held_from", Arg::Text(String::new())));
            }
            _ => {}
        }
        // `due_at` 0 means "recompute": the SLA job fills it from the calendar.
        let mut sets = vec![
            "status = $1".to_owned(),
            "status_changed_at = $2".to_owned(),
        ];
        let mut args = vec![Arg::Text(step.to.as_str().into()), Arg::Int(now)];
        for (col, val) in extra {
            let v = match (col, val) {
                ("due_at", _) => {
                    sets.push("due_at = NULL".into());
                    sets.push("overdue_at = NULL".into());
                    continue;
                }
                ("held_from", Arg::Text(s)) if s.is_empty() => {
                    sets.push("held_from = NULL".into());
                    continue;
                }
                (_, v) => v,
            };
            args.push(v);
            if matches!(col, "anonymous" | "confidential") {
                // Flags are bound as numbers: PostgreSQL's BOOLEAN takes no BIGINT.
                sets.push(format!("{col} = (${} <> 0)", args.len()));
            } else {
                sets.push(format!("{col} = ${}", args.len()));
            }
        }
        if step.to != step.from && action != ActionKind::Hold {
            if let ActionKind::Forward | ActionKind::NotAuthority = action {
                sets.push("due_at = NULL".into());
                sets.push("overdue_at = NULL".into());
            }
        }
        if action == ActionKind::NotAuthority {
            sets.push("unit = NULL".into());
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
        let reason_text = match (reason, detail) {
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
        if let Some(change) = anonymity_change {
            audit_on(
                &mut tx,
                row.id,
                &actor_label(actor),
                change,
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

    /// Queues an approved answer to every reporter it concerns (the complaint's and
    /// those of complaints merged into it), on the channel each came from, and shows it
    /// on the public status page.
    async fn deliver_answer(
        &self,
        tx: &mut Transaction<'static, Any>,
        complaint_id: i64,
        answer_id: i64,
        body: &str,
        now: i64,
    ) -> Result<(), QueueError> {
        let rows = sqlx::query(
            "SELECT id, tracking_id, channel, channel_name, external_id, title, reporter_name, reporter_email,
                 reporter_user_id, confidential
             FROM complaints WHERE id = $1 OR merged_into = $1 ORDER BY id",
        )
        .bind(complaint_id)
        .fetch_all(&mut **tx)
        .await?;
        // A rahasia complaint's answer stays off every status page, including those of
        // the complaints merged into it: their reporters get it, the public does not.
        let mut survivor_confidential = false;
        for r in &rows {
            if r.try_get::<i64, _>("id")? == complaint_id {
                survivor_confidential = flag(r, "confidential")?;
            }
        }
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let tracking: String = r.try_get("tracking_id")?;
            let channel: String = r.try_get("channel")?;
            let channel_name: String = r.try_get("channel_name")?;
            let external_id: String = r.try_get("external_id")?;
            let title: String = r.try_get("title")?;
            let name: Option<String> = r.try_get("reporter_name")?;
            let email: Option<String> = r.try_get("reporter_email")?;
            let user_id: Option<String> = r.try_get("reporter_user_id")?;
            let confidential = flag(r, "confidential")?;
            sqlx::query(
                "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at, public)
                 VALUES ($1, 'out', $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(&channel)
            .bind(&channel_name)
            // One message per complaint: the ids of the copies for merged complaints
            // on the same channel must differ.
            .bind(if id == complaint_id {
                format!("answer:{answer_id}")
            } else {
                format!("answer:{answer_id}:{tracking}")
            })
            .bind(body)
            .bind(now)
            .bind(!(confidential || survivor_confidential))
            .execute(&mut **tx)
            .await?;
            // The same channel when it can carry answers; otherwise e-mail, when the
            // reporter gave an address.
            let Some((via, via_kind)) = self.answer_channel(&channel_name, email.is_some()) else {
                continue;
            };
            // An e-mail answer goes where the receipt went (Reply-To honoured) and
            // threads under the citizen's first message.
            let (recipient, in_reply_to, refs) = if via_kind == "email" {
                let prior = sqlx::query(
                    "SELECT recipient_address, recipient_name, in_reply_to, refs FROM outbox
                     WHERE complaint_id = $1 AND channel_name = $2 ORDER BY id LIMIT 1",
                )
                .bind(id)
                .bind(via.as_str())
                .fetch_optional(&mut **tx)
                .await?;
                match (prior, &email) {
                    (Some(p), _) => {
                        let refs: String = p.try_get(3)?;
                        (
                            Recipient {
                                address: p.try_get(0)?,
                                name: p.try_get(1)?,
                            },
                            p.try_get::<Option<String>, _>(2)?,
                            serde_json::from_str::<Vec<String>>(&refs).unwrap_or_default(),
                        )
                    }
                    (None, Some(addr)) => (
                        Recipient {
                            address: addr.clone(),
                            name: name.clone(),
                        },
                        (channel == "email").then(|| external_id.clone()),
                        if channel == "email" {
                            vec![external_id.clone()]
                        } else {
                            Vec::new()
                        },
                    ),
                    (None, None) => continue,
                }
            } else {
                // A provider's channel answers under the citizen's message, addressed
                // to their account id there (Messenger needs it).
                (
                    Recipient {
                        address: user_id.unwrap_or_else(|| external_id.clone()),
                        name: name.clone(),
                    },
                    Some(external_id.clone()),
                    Vec::new(),
                )
            };
            let m = NewOutbound {
                tracking_id: tracking.clone(),
                channel_name: via,
                kind: OutboundKind::Answer,
                idempotency_key: format!("answer:{answer_id}:{tracking}"),
                recipient,
                subject: Some(format!("Re: {title} [{tracking}]")),
                body: answer_message_body(body, &tracking, &via_kind),
                in_reply_to,
                references: refs,
            };
            insert_outbound(tx, id, &m).await?;
        }
        Ok(())
    }
}

/// The text an approved answer goes out with (before the outbox fills in
/// `{status_url}` and a channel shortens it to its limit); the console previews it.
pub fn answer_message_body(body: &str, tracking_id: &str, via_kind: &str) -> String {
    if via_kind == "email" {
        format!(
            "{body}\n\n--\nLaporan {tracking_id}\nPerkembangannya:\n{{status_url}}\n\nBalas e-mail ini bila jawaban belum menyelesaikan masalah Anda."
        )
    } else {
        // Short, with the link last: a channel that shortens (X) keeps the number and
        // the link whole.
        format!("{body}\n\nLaporan {tracking_id}: {{status_url}}")
    }
}

/// Frees claims whose lease ran out, so that claim-next, which reads only unclaimed
/// rows (a partial index), sees them again. Cheap when there are none: the claimed rows
/// with an expired lease are found through `claim_until`.
pub async fn release_expired_claims(
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

fn actor_label(actor: &Actor) -> String {
    format!("user:{}", actor.username)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit_on(
    conn: &mut sqlx::AnyConnection,
    complaint_id: i64,
    actor: &str,
    action: &str,
    reason: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
    public: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (complaint_id, actor, action, reason, before_state, after_state, public, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(complaint_id)
    .bind(actor)
    .bind(action)
    .bind(reason)
    .bind(before)
    .bind(after)
    .bind(public)
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(())
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
