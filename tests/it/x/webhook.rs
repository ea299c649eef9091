//! The Account Activity webhook: CRC checks and signatures with the fixtures' known
//! answers, posts meeting the same posts from polling, and forgeries storing nothing.

use std::time::Duration;

use serde_json::Value;

use super::fake::{app_with, fixture, FakeX};
use crate::harness::Backend;

/// The Account Activity webhook with the fixtures' known answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_crc_checks_signatures_and_meets_polling() {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("vectors");
    let fake = FakeX::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "mentions = true\npoll_interval_secs = 3600",
    )
    .await;
    let crc = vectors["crc_token"].as_str().expect("crc");
    let res = app.get(&format!("/webhooks/x-siak?crc_token={crc}")).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["response_token"], vectors["expected_response_token"]);

    let body = fixture("aaa_tweet_create_events.json");
    // The CRC answer is the HMAC an event body is signed with: a token that could be
    // a body (here, the event itself) or an overlong one is refused, never signed.
    for token in [body.clone(), "A".repeat(257), "abc def".into()] {
        let res = app
            .client
            .get(app.url("/webhooks/x-siak"))
            .query(&[("crc_token", token.as_str())])
            .send()
            .await
            .expect("crc");
        assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
        let text = res.text().await.expect("text");
        assert!(
            !text.contains("sha256="),
            "no signature for {token:.40}: {text}"
        );
    }
    let post = |sig: Option<&str>| {
        let mut r = app
            .client
            .post(app.url("/webhooks/x-siak"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = sig {
            r = r.header("x-twitter-webhooks-signature", s);
        }
        r.send()
    };
    // The poller filed the posts already (mentions); wait, then count.
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await
    );
    let forged = "sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(
        post(Some(forged)).await.expect("post").status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(None).await.expect("post").status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    let good = vectors["expected_x_twitter_webhooks_signature"]
        .as_str()
        .expect("sig");
    assert_eq!(
        post(Some(good)).await.expect("post").status(),
        reqwest::StatusCode::OK
    );
    assert_eq!(
        app.count("complaints").await,
        3,
        "the same post by webhook and by polling is one complaint"
    );
    assert_eq!(app.count("intake_rejects").await, 0);
    app.stop().await;
}

/// Posts that arrive only by webhook are filed; forged ones store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_post_is_filed_and_forgeries_store_nothing() {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("vectors");
    let fake = FakeX::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "mentions = false\nqueries = [\"#LaporSiak\"]\npoll_interval_secs = 3600",
    )
    .await;
    let body = fixture("aaa_tweet_create_events.json");
    let res = app
        .client
        .post(app.url("/webhooks/x-siak"))
        .header(
            "x-twitter-webhooks-signature",
            "sha256=bm90IHRoZSBzaWduYXR1cmU=",
        )
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("complaints").await + app.count("intake_rejects").await,
        0
    );
    let res = app
        .client
        .post(app.url("/webhooks/x-siak"))
        .header(
            "x-twitter-webhooks-signature",
            vectors["expected_x_twitter_webhooks_signature"]
                .as_str()
                .expect("sig"),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let list = app
        .store
        .complaints(&aduan::store::ComplaintFilter::default())
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].external_id, "1865000000000000103");
    app.stop().await;
}
