//! The supervisor contains channel failures; the outbox dispatcher retries, backs off,
//! ends in a visible failed state and never re-sends what was confirmed sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aduan::store::{NewOutbound, OutboxStatus};
use aduan_kit::{
    Batch, Channel, ChannelName, ConnectorError, Cursor, CursorUpdate, OutboundKind,
    OutboundMessage, OutboundSender, PullContext, PullSource, Recipient, SendReceipt,
};

use crate::harness::{eventually, spawn_app_with, Backend, Options};
use crate::on_both;
use crate::store::complaint;

/// Panics on its first run, fails on its second, then commits its items and waits.
struct FlakyPull {
    name: ChannelName,
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl PullSource for FlakyPull {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        match self.runs.fetch_add(1, Ordering::SeqCst) {
            0 => panic!("parser exploded"),
            1 => return Err(ConnectorError::transient(&self.name, "connection reset")),
            _ => {}
        }
        let items = vec![complaint(self.name.as_str(), "f1", "Dari kanal rapuh")];
        let cursor = CursorUpdate {
            channel_name: self.name.clone(),
            stream: "s".into(),
            cursor: Cursor("f1".into()),
        };
        ctx.sink
            .commit(Batch {
                items,
                cursor: Some(cursor),
            })
            .await
            .map_err(|e| ConnectorError::transient(&self.name, e.0))?;
        ctx.health.ok();
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

/// Commits one item every 20 ms until stopped.
struct SteadyPull {
    name: ChannelName,
}

#[async_trait::async_trait]
impl PullSource for SteadyPull {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        for i in 0.. {
            let item = complaint(self.name.as_str(), &format!("s{i}"), "Dari kanal sehat");
            ctx.sink
                .commit(Batch {
                    items: vec![item],
                    cursor: None,
                })
                .await
                .map_err(|e| ConnectorError::transient(&self.name, e.0))?;
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        Ok(())
    }
}

fn pull_channel(name: &str, source: impl PullSource + 'static) -> Channel {
    let mut c = Channel::new("test", ChannelName::parse(name).expect("name"));
    c.pull = Some(Arc::new(source));
    c
}

async fn a_failing_channel_is_restarted_and_others_go_on(b: Backend) {
    let flaky = ChannelName::parse("rapuh").expect("name");
    let app = spawn_app_with(
        b,
        Options {
            channels: vec![
                pull_channel(
                    "rapuh",
                    FlakyPull {
                        name: flaky.clone(),
                        runs: AtomicUsize::new(0),
                    },
                ),
                pull_channel(
                    "sehat",
                    SteadyPull {
                        name: ChannelName::parse("sehat").expect("name"),
                    },
                ),
            ],
            ..Options::default()
        },
    )
    .await;
    let store = app.store.clone();
    assert!(
        eventually(Duration::from_secs(10), || {
            let store = store.clone();
            let flaky = flaky.clone();
            async move { store.cursor(&flaky, "s").await.ok().flatten().is_some() }
        })
        .await,
        "the flaky channel recovered and committed"
    );
    assert!(
        app.count("complaints").await >= 2,
        "the healthy channel kept going"
    );
    let health = app
        .app
        .as_ref()
        .expect("app")
        .health
        .get(&flaky)
        .expect("health")
        .snapshot();
    assert!(health.restarts >= 2, "{health:?}");
    assert!(
        health
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("connection reset"),
        "{health:?}"
    );
    assert!(health.healthy, "healthy again after recovering: {health:?}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("aduan_channel_restarts_total{channel=\"rapuh\"}"),
        "{metrics}"
    );
    app.stop().await;
}

/// Fails with `failures` transient errors, then succeeds; records every call.
struct ScriptedSender {
    name: ChannelName,
    failures: usize,
    permanent: bool,
    calls: Arc<Mutex<Vec<OutboundMessage>>>,
}

#[async_trait::async_trait]
impl OutboundSender for ScriptedSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let n = {
            let mut calls = self.calls.lock().expect("lock");
            calls.push(msg.clone());
            calls.len()
        };
        if self.permanent {
            return Err(ConnectorError::permanent(
                &self.name,
                "recipient blocked us",
            ));
        }
        if n <= self.failures {
            return Err(ConnectorError::transient(
                &self.name,
                format!("timeout #{n}"),
            ));
        }
        Ok(SendReceipt {
            external_id: Some(format!("sent-{}", msg.idempotency_key)),
        })
    }
}

fn sender(
    name: &str,
    failures: usize,
    permanent: bool,
) -> (Channel, Arc<Mutex<Vec<OutboundMessage>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let name = ChannelName::parse(name).expect("name");
    let mut c = Channel::new("test", name.clone());
    c.outbound = Some(Arc::new(ScriptedSender {
        name,
        failures,
        permanent,
        calls: calls.clone(),
    }));
    (c, calls)
}

async fn the_outbox_retries_fails_visibly_and_never_sends_twice(b: Backend) {
    let (retrying, retry_calls) = sender("kirim", 2, false);
    let (refusing, refuse_calls) = sender("tolak", 0, true);
    let (hopeless, hopeless_calls) = sender("gagal", usize::MAX, false);
    let app = spawn_app_with(
        b,
        Options {
            channels: vec![retrying, refusing, hopeless],
            ..Options::default()
        },
    )
    .await;
    let v: serde_json::Value = app
        .post_json(
            "/api/v1/reports",
            &serde_json::json!({"title": "t", "body": "b"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let tid = v["tracking_id"].as_str().expect("tid").to_owned();
    let queue = |channel: &str, key: &str| NewOutbound {
        tracking_id: tid.clone(),
        channel_name: ChannelName::parse(channel).expect("name"),
        kind: OutboundKind::Answer,
        idempotency_key: key.to_owned(),
        recipient: Recipient {
            address: "warga".into(),
            name: None,
        },
        subject: None,
        body: format!("Jawaban lewat {channel}"),
        in_reply_to: None,
        references: vec![],
    };
    let ids = [
        app.store
            .enqueue_outbound(&queue("kirim", "a"))
            .await
            .expect("enqueue"),
        app.store
            .enqueue_outbound(&queue("tolak", "b"))
            .await
            .expect("enqueue"),
        app.store
            .enqueue_outbound(&queue("gagal", "c"))
            .await
            .expect("enqueue"),
        app.store
            .enqueue_outbound(&queue("web", "d"))
            .await
            .expect("enqueue"),
    ];
    app.app.as_ref().expect("app").outbox_wake.notify_one();
    let store = app.store.clone();
    let settled = eventually(Duration::from_secs(15), || {
        let store = store.clone();
        async move {
            let mut done = true;
            for id in ids {
                let row = store.outbound(id).await.ok().flatten();
                done &= matches!(
                    row.map(|r| r.status),
                    Some(OutboxStatus::Sent | OutboxStatus::Failed)
                );
            }
            done
        }
    })
    .await;
    assert!(settled, "every message reached sent or failed");
    let row = |i: usize| {
        let store = app.store.clone();
        async move { store.outbound(ids[i]).await.expect("read").expect("row") }
    };
    let sent = row(0).await;
    assert_eq!(sent.status, OutboxStatus::Sent);
    assert_eq!(sent.attempts, 3);
    assert_eq!(sent.external_id.as_deref(), Some("sent-a"));
    let refused = row(1).await;
    assert_eq!(refused.status, OutboxStatus::Failed);
    assert_eq!(refused.attempts, 1, "a permanent error is not retried");
    assert_eq!(refused.last_error.as_deref(), Some("recipient blocked us"));
    let hopeless = row(2).await;
    assert_eq!(hopeless.status, OutboxStatus::Failed);
    assert_eq!(
        hopeless.attempts, 3,
        "max_attempts = 3 in the test configuration"
    );
    assert!(hopeless
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("timeout"));
    let no_sender = row(3).await;
    assert_eq!(no_sender.status, OutboxStatus::Failed);
    assert!(no_sender
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("cannot send"));

    // Later rounds send nothing again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(retry_calls.lock().expect("lock").len(), 3);
    assert_eq!(refuse_calls.lock().expect("lock").len(), 1);
    assert_eq!(hopeless_calls.lock().expect("lock").len(), 3);
    let calls = retry_calls.lock().expect("lock").clone();
    assert!(
        calls.iter().all(|m| m.idempotency_key == "a"),
        "every attempt carries the same idempotency key"
    );
    assert_eq!(
        calls.iter().map(|m| m.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    // The answer is part of the thread and public on the status page.
    let status = app.get_text(&format!("/laporan/{tid}")).await;
    assert!(status.contains("Jawaban lewat kirim"));
    app.stop().await;
}

on_both!(
    a_failing_channel_is_restarted_and_others_go_on,
    the_outbox_retries_fails_visibly_and_never_sends_twice
);
