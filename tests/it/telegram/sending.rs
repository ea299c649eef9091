//! The outbox's sends: `retry_after` of a 429 honoured, a blocked bot (403) failing
//! the message visibly at once.

use std::time::Duration;

use aduan::store::OutboxStatus;
use serde_json::Value;

use super::fake::{dated, now_secs, outcome, webhook_app, FakeBot, Fault, SITI};
use crate::harness::{eventually, Backend};
use crate::on_both;

async fn the_outbox_honours_retry_after_and_fails_a_blocked_chat(b: Backend) {
    let fake = FakeBot::start().await;
    fake.push_send_fault(Fault::TooMany(2));
    let app = webhook_app(b, &fake, "").await;
    assert_eq!(
        outcome(&app, &dated("private_text.json", now_secs())).await,
        "created"
    );
    let tracking = app.complaint_from(&format!("{SITI}:41")).await.tracking_id;
    let store = app.store.clone();
    let t = tracking.clone();
    let sent = eventually(Duration::from_secs(20), || {
        let (store, t) = (store.clone(), t.clone());
        async move {
            store
                .outbound_for(&t)
                .await
                .is_ok_and(|o| o.first().is_some_and(|r| r.status == OutboxStatus::Sent))
        }
    })
    .await;
    let rows = app.store.outbound_for(&tracking).await.expect("outbox");
    assert!(sent, "{rows:?}");
    assert_eq!(rows[0].external_id.as_deref(), Some("5100000001:9001"));
    let tries = fake.sent_to(SITI);
    assert_eq!(tries.len(), 2, "{tries:?}");
    let calls = fake.calls("sendMessage");
    let gap = calls[1]
        .at
        .duration_since(calls[0].at)
        .unwrap_or(Duration::ZERO);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");

    // Someone who blocked the bot: the receipt fails at once, and says why.
    fake.push_send_fault(Fault::Blocked);
    let mut other = dated("private_text.json", now_secs());
    for who in ["from", "chat"] {
        other["message"][who]["id"] = Value::from(5100000009_i64);
    }
    assert_eq!(outcome(&app, &other).await, "created");
    let tracking = app.complaint_from("5100000009:41").await.tracking_id;
    let store = app.store.clone();
    let failed = eventually(Duration::from_secs(15), || {
        let (store, t) = (store.clone(), tracking.clone());
        async move {
            store
                .outbound_for(&t)
                .await
                .is_ok_and(|o| o.first().is_some_and(|r| r.status == OutboxStatus::Failed))
        }
    })
    .await;
    let rows = app.store.outbound_for(&tracking).await.expect("outbox");
    assert!(failed, "{rows:?}");
    assert_eq!(rows[0].attempts, 1, "not retried");
    let why = rows[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("blocked"), "{why}");
    assert!(!why.contains("AAHrahasia"), "{why}");
    app.stop().await;
}

on_both!(the_outbox_honours_retry_after_and_fails_a_blocked_chat);
