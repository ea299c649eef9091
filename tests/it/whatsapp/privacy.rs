//! An anonymous WhatsApp reporter: their phone number, and the message ids that carry
//! it, are hidden as every other identity is.

use std::time::Duration;

use aduan::queue::Role;
use serde_json::{json, Value};

use super::fake::{app_with, deliver_signed, message_body, now_secs, FakeCloud};
use crate::console::user;
use crate::harness::{eventually, Backend};
use crate::on_both;
use crate::privacy::api;

async fn an_anonymous_reporters_number_is_hidden(b: Backend) {
    let fake = FakeCloud::start().await;
    let app = app_with(b, &fake, "").await;
    user(&app, "koor", Role::Coordinator, None).await;
    let koor = app
        .store
        .issue_token("koor", "test")
        .await
        .expect("token")
        .token;
    let number = "6281355500077";
    let first = message_body(
        "wamid.RAHASIA01",
        number,
        now_secs() - 120,
        json!({"type": "text", "text": {"body": "Ada pungutan liar di kantor kelurahan."}}),
    );
    let more = message_body(
        "wamid.RAHASIA02",
        number,
        now_secs() - 60,
        json!({"type": "text", "text": {"body": "Setiap pengurusan KTP diminta Rp50.000."}}),
    );
    assert_eq!(deliver_signed(&app, &first).await, ["created"]);
    assert_eq!(deliver_signed(&app, &more).await, ["follow_up"]);
    let t = app.complaint_from("wamid.RAHASIA01").await.tracking_id;
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = fake.sends().len();
            async move { n == 1 }
        })
        .await,
        "the receipt went out"
    );
    let path = format!("/api/v1/complaints/{t}");
    let (_, named) = api(&app, &koor, "GET", &path, Value::Null).await;
    assert!(
        named.to_string().contains(number),
        "shown while named: {named}"
    );

    let (st, v) = api(
        &app,
        &koor,
        "POST",
        &format!("{path}/verify"),
        json!({"anonymous": true, "reason": "pelapor meminta identitasnya dirahasiakan"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api(&app, &koor, "GET", &path, Value::Null).await;
    let shown = v.to_string();
    assert!(shown.contains("pungutan liar"), "{shown}");
    for hidden in [number, "wamid.RAHASIA01", "wamid.RAHASIA02", "Warga Siak"] {
        assert!(!shown.contains(hidden), "{hidden} shown: {shown}");
    }
    app.stop().await;
}

on_both!(an_anonymous_reporters_number_is_hidden);
