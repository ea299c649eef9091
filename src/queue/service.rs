//! The queue and its operations on one complaint: show it, claim it (or the next one
//! waiting), release it. The list is in [`super::list`], the workflow actions in
//! [`super::actions`]; authorization and transitions come from [`super::workflow`].

use std::sync::Arc;

use aduan_kit::ChannelName;

use super::audit::actor_label;
use super::error::QueueError;
use super::item::{
    hide_identity, redact, row0, whole_item_from_row, with_threads, QueueItem, Row0, ROW_COLUMNS,
    ROW_FROM, WHOLE_COLUMNS, WHOLE_FROM,
};
use super::workflow::{Actor, Refusal};
use crate::store::{now_micros, Store, StoreError};

/// The path the store's intake writes its audit events by.
pub(crate) use super::audit::audit_on;

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
}
