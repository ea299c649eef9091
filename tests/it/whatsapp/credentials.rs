//! The access token and Meta's limits: an expired token marks the channel for
//! re-authorization without showing it, rate limits are waited out, and
//! `aduan check --online` reads the number's metadata.

use std::time::Duration;

use serde_json::json;

use super::fake::{
    app_with, channel_toml, deliver_signed, message_body, now_secs, FakeCloud, Fault, TOKEN, WA_ID,
};
use crate::harness::{check_online, eventually, spawn_app_toml, Backend};

/// A receipt refused with 130429 (throughput) and then 131056 (one person) is sent once
/// the back-off passed; the delivery shows why it waited meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out() {
    let fake = FakeCloud::start().await;
    fake.push_fault(Fault::Throttled);
    fake.push_fault(Fault::PairLimit);
    let app = app_with(Backend::Sqlite, &fake, "").await;
    let body = message_body(
        "wamid.BATAS0001",
        WA_ID,
        now_secs() - 60,
        json!({"type": "text", "text": {"body": "Air PAM keruh sejak pagi."}}),
    );
    assert_eq!(deliver_signed(&app, &body).await, ["created"]);
    let rec = app.complaint_from("wamid.BATAS0001").await;
    let store = app.store.clone();
    let tid = rec.tracking_id.clone();
    assert!(
        eventually(Duration::from_secs(20), || {
            let (store, tid) = (store.clone(), tid.clone());
            async move {
                store.outbound_for(&tid).await.is_ok_and(|o| {
                    o.len() == 1
                        && o[0].status == aduan::store::OutboxStatus::Sent
                        && o[0].attempts == 3
                })
            }
        })
        .await,
        "{:?}",
        app.store.outbound_for(&rec.tracking_id).await
    );
    let posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 3, "two refusals, then the send");
    assert!(
        app.health("wa-siak").snapshot().status != "reauthorize",
        "throttling is no credential problem"
    );
    app.stop().await;
}

/// An expired token (190) marks the channel for re-authorization, with the reason and
/// without the token, while the web form goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_marks_the_channel_for_reauthorization() {
    let fake = FakeCloud::start().await;
    let toml = channel_toml(&fake.base, "").replace(TOKEN, "kedaluwarsa-123");
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    let body = message_body(
        "wamid.KEDALUWARSA1",
        WA_ID,
        now_secs() - 60,
        json!({"type": "text", "text": {"body": "Jembatan retak."}}),
    );
    assert_eq!(deliver_signed(&app, &body).await, ["created"]);
    let (down, snap) = app
        .await_status("wa-siak", "reauthorize", Duration::from_secs(15))
        .await;
    assert!(down, "{snap:?}");
    let reason = snap.last_error.unwrap_or_default();
    assert!(
        reason.contains("re-authorize")
            && reason.contains("#190")
            && !reason.contains("kedaluwarsa-123"),
        "{reason}"
    );
    let res = app
        .post_json("/api/v1/reports", &json!({"title": "t", "body": "b"}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    app.stop().await;
}

/// `aduan check --online` reads the number's metadata with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_reads_the_numbers_metadata() {
    let fake = FakeCloud::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let run = |token: &str| {
        let (ok, out, _) = check_online(
            dir.path(),
            &channel_toml(&fake.base, "").replace(TOKEN, token),
        );
        (ok, out)
    };
    let (ok, out) = run(TOKEN);
    assert!(
        ok && out.contains("WhatsApp number +62 811-0000-0000 (Pemkab Siak), quality GREEN"),
        "{out}"
    );
    let (ok, out) = run("kedaluwarsa-123");
    assert!(
        !ok && out.contains("FAILED (AuthExpired)") && !out.contains("kedaluwarsa-123"),
        "{out}"
    );
}
