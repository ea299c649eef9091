//! `GET /api/v1/complaints/{t}/attachments/{sha256}`: the file to whoever may see the
//! complaint, as a sandboxed download; 404 to a unit it was not forwarded to, for a
//! digest the complaint does not hold, and without a session.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

use super::{forward, get, people};
use crate::api::PNG;
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn the_admin_api_serves_attachments_in_the_complaints_scope(b: Backend) {
    let app = spawn_app(b).await;
    let form = Form::new()
        .text("title", "Jalan berlubang")
        .text("body", "Lubang besar di depan sekolah")
        .part(
            "attachments",
            Part::bytes(PNG.to_vec())
                .file_name("lubang jalan.png")
                .mime_str("image/png")
                .expect("mime"),
        );
    let tid = crate::harness::filed(app.post_multipart("/api/v1/reports", form).await).await;
    let p = people(&app).await;
    forward(&app, &p, &tid, "dpupr").await;
    let (s, shown) = get(&app, &p.ua, &format!("/api/v1/complaints/{tid}")).await;
    assert_eq!(s, StatusCode::OK, "{shown}");
    let sha = shown["attachments"][0]["sha256"]
        .as_str()
        .expect("the attachment's digest is listed")
        .to_owned();
    let path = format!("/api/v1/complaints/{tid}/attachments/{sha}");
    let download = async |token: Option<&str>, path: &str| {
        let mut req = app.client.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    };

    for token in [&p.coord, &p.ua] {
        let res = download(Some(token), &path).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h[reqwest::header::CONTENT_TYPE], "application/octet-stream");
        let disposition = h[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii");
        assert!(
            disposition.starts_with("attachment;")
                && disposition.contains("filename*=UTF-8''lubang%20jalan.png"),
            "{disposition}"
        );
        assert_eq!(
            h[reqwest::header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; sandbox"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h[reqwest::header::CACHE_CONTROL], "private, no-store");
        assert_eq!(res.bytes().await.expect("body").as_ref(), PNG);
    }
    // Another unit's admin does not learn the complaint exists.
    assert_eq!(
        download(Some(&p.ub), &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let other = format!("/api/v1/complaints/{tid}/attachments/{}", "0".repeat(64));
    assert_eq!(
        download(Some(&p.coord), &other).await.status(),
        StatusCode::NOT_FOUND
    );
    let traversal = format!("/api/v1/complaints/{tid}/attachments/..%2F..%2Fetc%2Fpasswd");
    assert_eq!(
        download(Some(&p.coord), &traversal).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(None, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let openapi: Value = app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        openapi["paths"]["/api/v1/complaints/{tracking_id}/attachments/{sha256}"]["get"]
            .is_object(),
        "the download is in the OpenAPI document"
    );
    app.stop().await;
}

on_both!(the_admin_api_serves_attachments_in_the_complaints_scope);
