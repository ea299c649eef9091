//! External form providers at `/webhooks/{name}`: signed over the raw body, idempotent
//! on the provider's submission id.

use aduan_kit::signature::sign_hex;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{spawn_app, Backend, FORM_SECRET};
use crate::on_both;

async fn signed_submissions_are_filed_once(b: Backend) {
    let app = spawn_app(b).await;
    let body = br#"{"submission_id":"F-1001","title":"Sampah menumpuk","body":"Di pasar pagi, sudah seminggu.","email":"ani@contoh.id"}"#;
    let send = |sig: Option<String>, body: &'static [u8]| {
        let mut req = app
            .client
            .post(app.url("/webhooks/mitra"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = sig {
            req = req.header("X-Aduan-Signature", s);
        }
        req.send()
    };
    let res = send(Some(sign_hex(FORM_SECRET.as_bytes(), body)), body)
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["results"][0]["outcome"], "created");
    let tid = v["results"][0]["tracking_id"]
        .as_str()
        .expect("tid")
        .to_owned();

    // Replayed by the provider: the same complaint.
    let v: Value = send(Some(sign_hex(FORM_SECRET.as_bytes(), body)), body)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["results"][0]["outcome"], "duplicate");
    assert_eq!(v["results"][0]["tracking_id"], tid.as_str());

    // Forged, missing, or signed with another secret: 401 and nothing stored.
    let forged = br#"{"submission_id":"F-1002","title":"Palsu","body":"Palsu"}"#;
    for sig in [
        None,
        Some("sha256=00".to_owned()),
        Some(sign_hex(b"another-secret-entirely", forged)),
        Some(sign_hex(FORM_SECRET.as_bytes(), body)),
    ] {
        assert_eq!(
            send(sig, forged).await.expect("send").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.count("complaints").await, 1);
    assert_eq!(app.count("raw_originals").await, 1);
    let rec = app
        .store
        .complaint(&tid)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(rec.channel_name, "mitra");
    assert_eq!(rec.external_id, "F-1001");
    app.stop().await;
}

async fn authentic_but_broken_submissions_are_quarantined(b: Backend) {
    let app = spawn_app(b).await;
    let body: &'static [u8] = b"{\"submission_id\": \"F-9\", \"title\": 12";
    let res = app
        .client
        .post(app.url("/webhooks/mitra"))
        .header("X-Aduan-Signature", sign_hex(FORM_SECRET.as_bytes(), body))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "acknowledged: it is kept for an admin"
    );
    assert_eq!(app.count("complaints").await, 0);
    assert_eq!(app.count("intake_rejects").await, 1);
    assert_eq!(app.count("raw_originals").await, 1);
    app.stop().await;
}

async fn unknown_webhook_channels_are_404(b: Backend) {
    let app = spawn_app(b).await;
    for path in ["/webhooks/tidak-ada", "/webhooks/web"] {
        let res = app
            .client
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

on_both!(
    signed_submissions_are_filed_once,
    authentic_but_broken_submissions_are_quarantined,
    unknown_webhook_channels_are_404,
);
