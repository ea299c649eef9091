//! `mode = "polling"`: `getUpdates` with long polling, for a daemon without a public
//! address. The stream `updates` keeps the next offset (the newest `update_id` + 1); it
//! is committed in the same batch as the updates it covers, and only the next call,
//! which names it, lets Telegram forget them. A crash before the commit gets the same
//! updates again; one after it does not, and an update offered twice is a duplicate.

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{Batch, ConnectorError, Cursor, CursorUpdate, PullContext, PullSource};
use serde_json::{json, Value};

use crate::commands::{updates_in, Answers};

pub const STREAM: &str = "updates";

pub struct TelegramPoller {
    pub answers: Arc<Answers>,
    /// How long one `getUpdates` waits for updates.
    pub long_poll: Duration,
    /// The pause after an empty round.
    pub poll_interval: Duration,
}

/// What one `getUpdates` round did.
enum Round {
    /// This many updates were committed (0: none came).
    Read(usize),
    /// The store did not commit the batch, for this reason: the offset stays, and the
    /// same updates are read again after the pause.
    NotCommitted(String),
}

impl TelegramPoller {
    /// One `getUpdates` round.
    async fn round(&self, ctx: &PullContext) -> Result<Round, ConnectorError> {
        let normalizer = &self.answers.normalizer;
        let name = &normalizer.channel;
        let offset = ctx
            .sink
            .cursor(name, STREAM)
            .await
            .map_err(|e| ConnectorError::transient(name, e.0))?
            .and_then(|c| c.0.parse::<i64>().ok());
        let mut query = json!({
            "timeout": self.long_poll.as_secs(),
            "allowed_updates": ["message", "edited_message"],
        });
        if let Some(o) = offset {
            query["offset"] = Value::from(o);
        }
        // Only the wait is cut short at shutdown: a commit under way finishes.
        let answer = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(Round::Read(0)),
            a = self.answers.api.call_raw("getUpdates", &query, self.long_poll) => a?,
        };
        let updates = updates_in(&answer).map_err(|e| {
            ConnectorError::transient(name, format!("getUpdates: an answer without updates: {e}"))
        })?;
        if updates.is_empty() {
            return Ok(Round::Read(0));
        }
        let mut items = Vec::with_capacity(updates.len());
        let mut newest = offset.map(|o| o - 1);
        for (id, raw) in &updates {
            newest = newest.max(*id);
            items.push(match serde_json::from_slice::<Value>(raw) {
                Ok(v) => normalizer.update(&v, raw),
                Err(e) => normalizer.unreadable(raw, format!("an update that cannot be read: {e}")),
            });
        }
        let Some(newest) = newest else {
            return Err(ConnectorError::permanent(
                name,
                "getUpdates answered updates without update_id; the offset cannot move",
            ));
        };
        let items = self.answers.complete(items).await;
        let committed = ctx
            .sink
            .commit(Batch {
                items: items.clone(),
                cursor: Some(CursorUpdate {
                    channel_name: name.clone(),
                    stream: STREAM.into(),
                    cursor: Cursor((newest + 1).to_string()),
                }),
            })
            .await;
        // Not committed: the offset stays, so the next round reads the same updates.
        let deliveries = match committed {
            Ok(d) if d.iter().all(|d| d.is_committed()) => d,
            Ok(_) => return Ok(Round::NotCommitted("the store asked to retry".into())),
            Err(e) => return Ok(Round::NotCommitted(e.0)),
        };
        self.answers.answer(&items, &deliveries, &*ctx.sink).await;
        Ok(Round::Read(updates.len()))
    }
}

#[async_trait::async_trait]
impl PullSource for TelegramPoller {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            learned = self.answers.learn_username() => learned?,
        }
        loop {
            let n = match self.round(&ctx).await? {
                Round::Read(n) => {
                    ctx.health.ok();
                    n
                }
                // Telegram keeps the updates until the offset moves: they are offered
                // again after the pause, without a restart.
                Round::NotCommitted(why) => {
                    let e = ConnectorError::transient(
                        &self.answers.normalizer.channel,
                        format!("updates not committed, read again: {why}"),
                    );
                    tracing::warn!(channel = %e.channel, error = %e.message, "updates not committed");
                    ctx.health.error(&e);
                    0
                }
            };
            if ctx.shutdown.is_cancelled() {
                return Ok(());
            }
            if n > 0 {
                tracing::info!(channel = %self.answers.normalizer.channel, updates = n, "updates read");
                continue;
            }
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }
}
