//! One poller per pull channel across every instance on the database: a channel is
//! polled only while this instance holds its lease (see `store::lease`). The lease is
//! renewed well inside its time; when a renewal fails or finds it taken over, the
//! channel's poll loop is stopped at once and the instance goes back to trying to take
//! it, as every other instance does meanwhile. Every batch the channel commits carries
//! the lease's generation, so one committed after the lease was lost is refused.

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    Batch, ChannelName, ConnectorError, Cursor, Delivery, HealthHandle, PublicStatus, PullSource,
    Sink, SinkError, TrackingId,
};
use tokio_util::sync::CancellationToken;

use crate::config::{LeaseTimings, SupervisorConfig};
use crate::store::{Fence, Store, StoreSink};

/// What the supervisor needs to hold leases: the store, who this instance is, and how
/// long a lease lasts.
#[derive(Clone)]
pub struct Leasing {
    store: Store,
    instance: Arc<str>,
    timings: LeaseTimings,
}

impl Leasing {
    pub fn new(store: Store, instance: Arc<str>, timings: LeaseTimings) -> Self {
        Self {
            store,
            instance,
            timings,
        }
    }

    /// Tries to take `name`'s lease until it has it (its generation) or `shutdown`.
    async fn acquire(
        &self,
        name: &ChannelName,
        health: &HealthHandle,
        shutdown: &CancellationToken,
    ) -> Option<i64> {
        let mut waiting = false;
        loop {
            let attempt = tokio::time::timeout(
                self.timings.retry_every,
                self.store
                    .acquire_lease(name, &self.instance, self.timings.ttl),
            );
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return None,
                outcome = attempt => outcome,
            };
            match outcome {
                Ok(Ok(Some(generation))) => return Some(generation),
                Ok(Ok(None)) => {
                    if !waiting {
                        tracing::info!(channel = %name, instance = %self.instance,
                            "another instance polls this channel; standing by");
                        health.standby();
                        waiting = true;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(channel = %name, error = %e, "cannot take the channel's lease");
                    health.error(&ConnectorError::transient(
                        name,
                        format!("cannot take the channel's lease: {e}"),
                    ));
                    waiting = false;
                }
                Err(_) => {
                    tracing::warn!(channel = %name, "the database did not answer a lease request in time");
                    waiting = false;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(self.timings.retry_every) => {}
            }
        }
    }

    /// Renews `fence`'s lease until `held` is cancelled (then `false`) or a renewal
    /// fails, times out or finds the lease taken over (then `true`: stop polling).
    /// Renewals start every `renew_every` and each gets until the next is due, so the
    /// last good one was sent at most two periods before polling stops: well before the
    /// lease it extended can run out in the database's eyes.
    async fn keep(&self, fence: &Fence, held: &CancellationToken) -> bool {
        let mut due = tokio::time::interval(self.timings.renew_every);
        due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        due.tick().await;
        loop {
            tokio::select! {
                _ = held.cancelled() => return false,
                _ = due.tick() => {}
            }
            let renewal = tokio::time::timeout(
                self.timings.renew_every,
                self.store
                    .renew_lease(fence, &self.instance, self.timings.ttl),
            )
            .await;
            let channel = &fence.channel;
            match renewal {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    tracing::warn!(%channel, generation = fence.generation,
                        "another instance took over the channel's lease; polling stops");
                    return true;
                }
                Ok(Err(e)) => {
                    tracing::warn!(%channel, error = %e,
                        "cannot renew the channel's lease; polling stops");
                    return true;
                }
                Err(_) => {
                    tracing::warn!(%channel,
                        "the database did not answer a lease renewal in time; polling stops");
                    return true;
                }
            }
        }
    }

    async fn release(&self, name: &ChannelName) {
        if let Err(e) = self.store.release_lease(name, &self.instance).await {
            tracing::warn!(channel = %name, error = %e,
                "cannot release the channel's lease; another instance takes it when it runs out");
        }
    }
}

/// The sink a leased channel commits through: the store's, with the lease's fence on
/// every batch. Connectors do not know about it.
struct FencedSink {
    sink: StoreSink,
    fence: Fence,
}

#[async_trait::async_trait]
impl Sink for FencedSink {
    async fn commit(&self, batch: Batch) -> Result<Vec<Delivery>, SinkError> {
        self.sink
            .ingest_fenced(batch, Some(self.fence.clone()))
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, SinkError> {
        self.sink.cursor(channel, stream).await
    }

    async fn public_status(
        &self,
        tracking_id: &TrackingId,
    ) -> Result<Option<PublicStatus>, SinkError> {
        self.sink.public_status(tracking_id).await
    }
}

/// How long a poll loop told to stop because its lease was lost may take before it is
/// cut off.
const STOP_WITHIN: Duration = Duration::from_secs(1);

/// Polls `name` whenever this instance holds its lease, until `shutdown`; then gives
/// the lease up so that another instance takes the channel at once.
pub(super) async fn lead(
    name: ChannelName,
    source: Arc<dyn PullSource>,
    health: HealthHandle,
    sink: StoreSink,
    leasing: Leasing,
    shutdown: CancellationToken,
    cfg: SupervisorConfig,
) {
    let held_gauge = metrics::gauge!("aduan_channel_lease_held", "channel" => name.to_string());
    loop {
        let Some(generation) = leasing.acquire(&name, &health, &shutdown).await else {
            health.stopped();
            return;
        };
        let fence = Fence {
            channel: name.clone(),
            generation,
        };
        tracing::info!(channel = %name, instance = %leasing.instance, generation,
            "took the channel's lease; polling");
        held_gauge.set(1.0);
        health.starting();
        let held = shutdown.child_token();
        let abort = CancellationToken::new();
        let mut run = tokio::spawn(super::supervise(
            name.clone(),
            source.clone(),
            health.clone(),
            Arc::new(FencedSink {
                sink: sink.clone(),
                fence: fence.clone(),
            }),
            held.clone(),
            abort.clone(),
            cfg.clone(),
        ));
        let (ended, lost) = tokio::select! {
            _ = &mut run => (true, false),
            lost = leasing.keep(&fence, &held) => (false, lost),
        };
        held.cancel();
        if !ended {
            // On shutdown the connector finishes what it is doing, as without leases;
            // after a lost lease it gets a moment, then is cut off (whatever it would
            // still commit is refused by the fence anyway).
            let stopped = if lost {
                tokio::time::timeout(STOP_WITHIN, &mut run).await.is_ok()
            } else {
                let _ = (&mut run).await;
                true
            };
            if !stopped {
                abort.cancel();
                let _ = run.await;
            }
        }
        held_gauge.set(0.0);
        if shutdown.is_cancelled() {
            leasing.release(&name).await;
            return;
        }
        health.standby();
    }
}
