//! The outbox's sends: `retry_after` of a 429 honoured, a blocked bot (403) failing
//! the message visibly at once.

use std::time::Duration;

use aduan::store::OutboxStatus;
use serde_json::Value;

use super::fake::{dated, now_secs, outcome, webhook_app, FakeBot, Fault, SITI};
use crate::harness::{eventually, Backend, TestApp};
use crate::on_both;

/// Whether the receipt of `tracking` reaches `status` within 20 seconds.
async fn receipt_reaches(app: &TestApp, tracking: &str, status: OutboxStatus) -> bool {
    eventually(Duration::from_secs(20), || {
        let store = app.store.clone();
        async move {
            store
                .outbound_for(tracking)
                .await
                .is_ok_and(|o| o.first().is_some_and(|r| r.status == status))
        }
    })
    .await
}

async fn the_outbox_honours_retry_after_and_fails_a_blocked_chat(b: Backend) {
    let fake = FakeBot::start().await;
    fake.push_send_fault(Fault::TooMany(2));
    let app = webhook_app(b, &fake, "").await;
    assert_eq!(
        outcome(&app, &dated("private_text.json", now_secs())).await,
        "created"
    );
    let tracking = app.complaint_from(&format!("{SITI}:41")).await.tracking_id;
    let sent = receipt_reaches(&app, &tracking, OutboxStatus::Sent).await;
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
    let failed = receipt_reaches(&app, &tracking, OutboxStatus::Failed).await;
    let rows = app.store.outbound_for(&tracking).await.expect("outbox");
    assert!(failed, "{rows:?}");
    assert_eq!(rows[0].attempts, 1, "not retried");
    let why = rows[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("blocked"), "{why}");
    assert!(!why.contains("AAHrahasia"), "{why}");
    app.stop().await;
}

on_both!(the_outbox_honours_retry_after_and_fails_a_blocked_chat);
