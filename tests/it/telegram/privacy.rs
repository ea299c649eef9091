//! An anonymous reporter on Telegram: their chat id, user id, username and name are
//! hidden as an e-mail address or a PSID is, in the complaint and its thread.

use std::time::Duration;

use aduan::queue::Role;
use serde_json::json;

use super::fake::{dated, now_secs, outcome, webhook_app, FakeBot, SITI};
use crate::console::user;
use crate::harness::{eventually, Backend};
use crate::on_both;

async fn an_anonymous_chat_shows_no_telegram_identity(b: Backend) {
    let fake = FakeBot::start().await;
    let app = webhook_app(b, &fake, "").await;
    user(&app, "koor", Role::Coordinator, None).await;
    let token = app
        .store
        .issue_token("koor", "test")
        .await
        .expect("token")
        .token;
    assert_eq!(
        outcome(&app, &dated("private_text.json", now_secs())).await,
        "created"
    );
    let t = app.complaint_from(&format!("{SITI}:41")).await.tracking_id;
    // The receipt went out, so the thread holds our message to the chat too.
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move { !f.sent_to(SITI).is_empty() }
        })
        .await
    );
    let shown = || async {
        app.client
            .get(app.url(&format!("/api/v1/complaints/{t}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .unwrap_or_default()
    };
    let before = shown().await;
    assert!(before.contains("siti_aminah"), "named before: {before}");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/complaints/{t}/verify")))
        .bearer_auth(&token)
        .json(&json!({"anonymous": true, "reason": "pelapor meminta dirahasiakan"}))
        .send()
        .await
        .expect("verify");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let shown = shown().await;
    for id in ["5100000001", "siti_aminah", "Aminah"] {
        assert!(!shown.contains(id), "{id} shown: {shown}");
    }
    app.stop().await;
}

on_both!(an_anonymous_chat_shows_no_telegram_identity);
