//! Runs each pull channel as its own task, while this instance holds the channel's
//! lease (see [`lease`]). A channel that fails or panics is reported in its health and
//! restarted with exponential backoff and jitter; the others go on.

mod lease;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    ChannelName, ConnectorError, ErrorKind, HealthHandle, PullContext, PullSource, Sink,
};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::lease::Leasing;
use crate::config::SupervisorConfig;
use crate::registry::Channels;
use crate::store::StoreSink;

/// Health of every channel, by name, and the instance that reports it.
#[derive(Clone, Default)]
pub struct ChannelHealth {
    channels: Arc<BTreeMap<ChannelName, (&'static str, HealthHandle)>>,
    instance: Arc<str>,
}

impl ChannelHealth {
    pub fn for_channels(channels: &Channels, instance: Arc<str>) -> Self {
        Self {
            channels: Arc::new(
                channels
                    .iter()
                    .map(|c| (c.name.clone(), (c.kind, HealthHandle::default())))
                    .collect(),
            ),
            instance,
        }
    }

    pub fn get(&self, name: &ChannelName) -> Option<&HealthHandle> {
        self.channels.get(name).map(|(_, h)| h)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ChannelName, &'static str, &HealthHandle)> {
        self.channels.iter().map(|(n, (k, h))| (n, *k, h))
    }

    /// This instance's name in the channel leases (`[instance] id`).
    pub fn instance(&self) -> &str {
        &self.instance
    }
}

/// Exponential backoff with full jitter between `min` and the doubled delay.
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let exp = min.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let cap = exp.min(max).max(min);
    let jitter = rand::thread_rng().gen_range(0.5..=1.0);
    cap.mul_f64(jitter).max(min.min(cap))
}

/// Whether a run that ended after `ran` was stable enough that its failure starts the
/// backoff afresh: a channel that reconnected and then worked for a while must not wait
/// minutes because it failed often in the past.
fn ran_long_enough_to_forget(ran: Duration, max: Duration) -> bool {
    const STABLE: Duration = Duration::from_secs(30);
    ran >= STABLE.min(max)
}

pub fn start(
    channels: &Channels,
    health: &ChannelHealth,
    sink: StoreSink,
    leasing: Leasing,
    shutdown: CancellationToken,
    cfg: SupervisorConfig,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for ch in channels.iter() {
        let (Some(source), Some(h)) = (ch.pull.clone(), health.get(&ch.name)) else {
            continue;
        };
        handles.push(tokio::spawn(lease::lead(
            ch.name.clone(),
            source,
            h.clone(),
            sink.clone(),
            leasing.clone(),
            shutdown.clone(),
            cfg.clone(),
        )));
    }
    handles
}

/// Runs `source` until `shutdown`, restarting it when it fails. `abort` cuts it off
/// without waiting for it to finish.
async fn supervise(
    name: ChannelName,
    source: Arc<dyn PullSource>,
    health: HealthHandle,
    sink: Arc<dyn Sink>,
    shutdown: CancellationToken,
    abort: CancellationToken,
    cfg: SupervisorConfig,
) {
    let min = Duration::from_millis(cfg.min_backoff_ms);
    let max = Duration::from_secs(cfg.max_backoff_secs);
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let ctx = PullContext {
            sink: sink.clone(),
            shutdown: shutdown.child_token(),
            health: health.clone(),
        };
        let src = source.clone();
        // Its own task, so that a panic ends up here as a JoinError instead of unwinding
        // through the supervisor.
        let mut task = tokio::spawn(async move { src.run(ctx).await });
        let outcome = tokio::select! {
            outcome = &mut task => outcome,
            _ = abort.cancelled() => {
                task.abort();
                task.await
            }
        };
        if shutdown.is_cancelled() {
            health.stopped();
            return;
        }
        let err = match outcome {
            Ok(Ok(())) => ConnectorError::transient(
                &name,
                "channel task returned without being asked to stop",
            ),
            Ok(Err(e)) => e,
            Err(join) => ConnectorError::transient(
                &name,
                format!("channel task panicked: {}", panic_message(join)),
            ),
        };
        if ran_long_enough_to_forget(started.elapsed(), max) {
            failures = 0;
        }
        // Credentials an operator must renew, or a configuration that cannot work, are
        // retried at the slowest pace: often enough to notice a fix, never hammering.
        let delay = match (err.retry_after, err.kind) {
            (Some(after), _) => after,
            (None, ErrorKind::AuthExpired | ErrorKind::Permanent) => max,
            (None, ErrorKind::Transient) => backoff(failures, min, max),
        };
        failures = failures.saturating_add(1);
        tracing::warn!(channel = %name, kind = ?err.kind, error = %err.message, retry_in = ?delay, "channel failed; restarting");
        metrics::counter!("aduan_channel_restarts_total", "channel" => name.to_string())
            .increment(1);
        health.error(&err);
        health.restarted();
        tokio::select! {
            _ = shutdown.cancelled() => { health.stopped(); return; }
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stable_run_resets_the_backoff_and_a_short_one_does_not() {
        let max = Duration::from_secs(300);
        assert!(ran_long_enough_to_forget(Duration::from_secs(45), max));
        assert!(!ran_long_enough_to_forget(Duration::from_secs(5), max));
        // With a short maximum, a run as long as the maximum is stable.
        assert!(ran_long_enough_to_forget(
            Duration::from_secs(2),
            Duration::from_secs(2)
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..30 {
            let d = backoff(attempt, min, max);
            assert!(
                d >= min.min(max) / 2 && d <= max,
                "attempt {attempt}: {d:?}"
            );
        }
        assert!(backoff(10, min, max) >= Duration::from_secs(1));
    }
}
