//! The outbox dispatcher: delivers the messages queued in the outbox table
//! (`store::outbox`) through their channel's outbound side, with retries and
//! exponential backoff, ending in a visible `failed` state.
//!
//! A message is marked `sent` only after the channel confirmed it; a crash between the
//! two sends it again on restart (with the same idempotency key), but nothing marked
//! sent is ever sent twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{ErrorKind, OutboundSender};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::OutboxConfig;
use crate::registry::Channels;
use crate::store::{OutboxRow, Store};
use crate::supervisor::ChannelHealth;

pub struct Dispatcher {
    store: Store,
    senders: HashMap<String, Arc<dyn OutboundSender>>,
    health: ChannelHealth,
    cfg: OutboxConfig,
    wake: Arc<Notify>,
    public_url: String,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        channels: &Channels,
        health: ChannelHealth,
        cfg: OutboxConfig,
        wake: Arc<Notify>,
        public_url: &str,
    ) -> Self {
        let senders = channels
            .iter()
            .filter_map(|c| c.outbound.clone().map(|o| (c.name.to_string(), o)))
            .collect();
        Self {
            store,
            senders,
            health,
            cfg,
            wake,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Runs until `shutdown`; a send in progress is finished, not abandoned.
    pub async fn run(self, shutdown: CancellationToken) {
        rounds(
            "outbox",
            &shutdown,
            self.cfg.poll(),
            Some(&self.wake),
            || self.tick(),
        )
        .await
    }

    /// Claims and delivers one round of due messages; returns how many it handled.
    pub async fn tick(&self) -> Result<usize, crate::store::StoreError> {
        let rows = self
            .store
            .claim_outbound(16, self.cfg.lease_until())
            .await?;
        let n = rows.len();
        futures::future::join_all(rows.into_iter().map(|r| self.deliver(r))).await;
        Ok(n)
    }

    async fn deliver(&self, row: OutboxRow) {
        let channel = row.message.channel_name.to_string();
        let Some(sender) = self.senders.get(&channel) else {
            self.record_failure(
                &row,
                ErrorKind::Permanent,
                &format!("channel {channel} cannot send messages"),
                None,
            )
            .await;
            return;
        };
        let limit = self.cfg.send_limit();
        // Templates name the status page; its address is this daemon's to know.
        let mut message = row.message.clone();
        let status_url = format!("{}/laporan/{}", self.public_url, message.tracking_id);
        message.body = message.body.replace("{status_url}", &status_url);
        let result = tokio::time::timeout(limit, sender.send(&message)).await;
        match result {
            Ok(Ok(receipt)) => {
                // The thread shows what the citizen received, link filled in.
                let sent = OutboxRow { message, ..row };
                if let Err(e) = self
                    .store
                    .outbound_sent(&sent, receipt.external_id.as_deref())
                    .await
                {
                    // Sent but not recorded: the lease expires and it is sent again with the
                    // same idempotency key. Nothing else can be done without the database.
                    tracing::error!(outbox_id = row.id, error = %e, "outbox: sent but could not record it");
                    return;
                }
                metrics::counter!("aduan_outbound_total", "channel" => channel, "result" => "sent")
                    .increment(1);
                if let Some(h) = self.health.get(&sent.message.channel_name) {
                    h.ok();
                }
            }
            Ok(Err(e)) => {
                // A permanent error concerns this message (it stays failed, with its
                // reason, for the admins); the others concern the channel.
                if e.kind != ErrorKind::Permanent {
                    if let Some(h) = self.health.get(&row.message.channel_name) {
                        h.error(&e);
                    }
                }
                self.record_failure(&row, e.kind, &e.message, e.retry_after)
                    .await;
            }
            Err(_) => {
                self.record_failure(
                    &row,
                    ErrorKind::Transient,
                    &format!("no answer within {limit:?}"),
                    None,
                )
                .await
            }
        }
    }

    async fn record_failure(
        &self,
        row: &OutboxRow,
        kind: ErrorKind,
        error: &str,
        retry_after: Option<Duration>,
    ) {
        let retry_at = self.cfg.next_attempt(kind, row.attempts, retry_after);
        let channel = row.message.channel_name.to_string();
        let result = if retry_at.is_none() {
            "failed"
        } else {
            "retry"
        };
        tracing::warn!(outbox_id = row.id, channel = %channel, attempt = row.attempts, error = %error, result, "outbox: send failed");
        metrics::counter!("aduan_outbound_total", "channel" => channel, "result" => result)
            .increment(1);
        if let Err(e) = self.store.outbound_failed(row.id, error, retry_at).await {
            tracing::error!(outbox_id = row.id, error = %e, "outbox: could not record failure");
        }
    }
}

/// Runs `round` until `shutdown`: again at once after a round that did some work,
/// otherwise after `poll` or when `wake` is notified. A round in progress is finished.
pub(crate) async fn rounds<F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    poll: Duration,
    wake: Option<&Notify>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, crate::store::StoreError>>,
{
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let worked = match round().await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::error!(error = %e, "{what}: a round failed");
                false
            }
        };
        if !worked {
            let woken = async {
                match wake {
                    Some(w) => w.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = woken => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}
