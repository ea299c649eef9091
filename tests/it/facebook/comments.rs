//! Page comments: the webhook's handshake and signatures, edits and removals, polling
//! the feed (also under throttling and bad bodies), and answers posted as replies.

use std::time::Duration;

use serde_json::Value;

use super::fake::{
    app_with, deliver, fixture, handshake, inbound, now_millis, sign, FakeGraph, Fault, Seen,
    COMMENT, PAGE, PAGE_POST, TOKEN, VERIFY, VERSION,
};
use crate::harness::{answer_through_queue, eventually, queue_staff, Backend};
use crate::on_both;

async fn comments_edits_removals_polling_and_answers(b: Backend) {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("json");
    let fake = FakeGraph::start().await;
    let app = app_with(b, &fake, "messenger = false").await;

    // The subscription handshake.
    assert_eq!(
        handshake(&app, VERIFY).await,
        (200, "1158201444".to_owned())
    );
    assert_eq!(handshake(&app, "salah").await.0, 401);

    // A forged signature stores nothing.
    let body = fixture("feed_comment.json");
    let forged = sign(b"something else");
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&forged)).await.status(),
        401
    );
    assert_eq!(deliver(&app, body.as_bytes(), None).await.status(), 401);
    assert_eq!(
        app.count("complaints").await + app.count("intake_rejects").await,
        0
    );

    // The known vector: the comment is a complaint, and the receipt goes under it.
    let sig = vectors["signatures"]["feed_comment.json"]
        .as_str()
        .expect("sig");
    let res = deliver(&app, body.as_bytes(), Some(sig)).await;
    assert_eq!(res.status(), 200);
    let rec = app.complaint_from(COMMENT).await;
    assert_eq!(rec.channel, "facebook");
    assert!(rec.body.starts_with("Air PDAM"));
    let receipt_path = format!("/{VERSION}/{COMMENT}/comments");

    // Edited: the text changes, the earlier text is kept. Removed: marked, kept.
    let edited = fixture("feed_comment_edited.json");
    assert_eq!(
        deliver(&app, edited.as_bytes(), Some(&sign(edited.as_bytes())))
            .await
            .status(),
        200
    );
    let removed = fixture("feed_comment_removed.json");
    assert_eq!(
        deliver(&app, removed.as_bytes(), Some(&sign(removed.as_bytes())))
            .await
            .status(),
        200
    );
    // Delivered again (Meta retries): nothing changes twice.
    assert_eq!(
        deliver(&app, edited.as_bytes(), Some(&sign(edited.as_bytes())))
            .await
            .status(),
        200
    );
    let rec = app.complaint_from(COMMENT).await;
    assert!(rec.body.contains("kemarin pagi"), "{}", rec.body);
    let first = &rec.messages[0];
    assert_eq!(first.history.len(), 2, "{:?}", first.history);
    assert_eq!(first.history[0].kind, "edited");
    assert!(first.history[0]
        .previous_body
        .contains("tidak mengalir sejak kemarin, tolong"));
    assert_eq!(first.history[1].kind, "removed");
    assert!(first.removed_at.is_some());
    assert_eq!(app.count("complaints").await, 1);

    // Non-ASCII escaped as \uXXXX by Meta, signed over the bytes as sent.
    // Written a minute ago (the fixture is a year old, too old for a receipt).
    let escaped = body
        .replace(COMMENT, "122100000000000001_1213500000000002")
        .replace(
            "Air PDAM di Kelurahan Kampung Dalam",
            "Jembatan di Desa Bunsur \\u2014 retak \\u00e9 \\ud83d\\ude1f",
        )
        .replace(
            "\"created_time\": 1763603990",
            &format!("\"created_time\": {}", now_millis() / 1000 - 60),
        );
    let reserialized =
        serde_json::to_vec(&serde_json::from_str::<Value>(&escaped).expect("json")).expect("json");
    assert_ne!(sign(escaped.as_bytes()), sign(&reserialized));
    assert_eq!(
        deliver(&app, escaped.as_bytes(), Some(&sign(&reserialized)))
            .await
            .status(),
        401,
        "a signature over re-serialized JSON is not Meta's"
    );
    assert_eq!(
        deliver(&app, escaped.as_bytes(), Some(&sign(escaped.as_bytes())))
            .await
            .status(),
        200
    );
    let rec = app
        .complaint_from("122100000000000001_1213500000000002")
        .await;
    assert!(rec.body.contains("Bunsur — retak é 😟"), "{}", rec.body);
    // A fresh comment gets its receipt under it; the year-old one got none.
    let fresh_path = format!("/{VERSION}/122100000000000001_1213500000000002/comments");
    assert!(
        eventually(Duration::from_secs(15), || {
            let done = fake.commented(&fresh_path, &rec.tracking_id);
            async move { done }
        })
        .await,
        "receipt under the comment: {:?}",
        fake.posts()
    );
    assert!(
        fake.posts().iter().all(|s| s.path != receipt_path),
        "no public reply under a year-old comment"
    );

    // The Page's own reply (our receipt, seen by the webhook) is never a complaint.
    let own = body
        .replace(COMMENT, "122100000000000001_1213500000000003")
        .replace(
            "\"id\": \"7100000000000001\"",
            &format!("\"id\": \"{PAGE}\""),
        );
    assert_eq!(
        deliver(&app, own.as_bytes(), Some(&sign(own.as_bytes())))
            .await
            .status(),
        200
    );
    assert_eq!(app.count("complaints").await, 2);

    // Polling: two feed pages (the link's token dropped), the comments under the Page's
    // post: the same comment as the webhook's is not filed again.
    fake.release_feed();
    assert!(
        app.await_count("complaints", 4, Duration::from_secs(20))
            .await,
        "two visitor posts added: {}",
        app.count("complaints").await
    );
    let seen = fake.seen();
    let page2 = seen
        .iter()
        .find(|s| {
            s.query
                .iter()
                .any(|(k, v)| k == "after" && v == "QVFIUkJ3ZA")
        })
        .expect("page 2 fetched");
    assert!(page2.query.iter().all(|(k, _)| k != "access_token"));
    assert_eq!(
        page2.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(seen
        .iter()
        .any(|s| s.path == format!("/{VERSION}/{PAGE_POST}/comments")));
    for s in &seen {
        assert!(
            s.query.iter().all(|(_, v)| !v.contains(TOKEN)),
            "the token never travels in a URL: {s:?}"
        );
    }
    let visitor = app
        .complaint_from("104500000000001_122100000000000888")
        .await;
    assert_eq!(visitor.channel, "facebook");
    assert_eq!(
        inbound(&app.complaint_from(COMMENT).await).len(),
        1,
        "polling found the same comment: no follow-up, no new complaint"
    );

    // A reply under the citizen's comment joins its complaint.
    let reply = body
        .replace(COMMENT, "122100000000000001_1213500000000004")
        .replace(
            &format!("\"parent_id\": \"{PAGE_POST}\""),
            &format!("\"parent_id\": \"{COMMENT}\""),
        )
        .replace("tidak mengalir", "masih belum mengalir");
    assert_eq!(
        deliver(&app, reply.as_bytes(), Some(&sign(reply.as_bytes())))
            .await
            .status(),
        200
    );
    assert_eq!(inbound(&app.complaint_from(COMMENT).await).len(), 2);
    assert_eq!(app.count("complaints").await, 4);

    // The queue's approved answer goes under the citizen's comment.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "pdam", "fb").await;
    let t = app.complaint_from(COMMENT).await.tracking_id;
    answer_through_queue(&queue, &staff, &t, "Pipa sudah diperbaiki petugas PDAM.").await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let done = fake.commented(&receipt_path, "Pipa sudah diperbaiki");
            async move { done }
        })
        .await,
        "{:?}",
        fake.posts()
    );
    app.stop().await;
}

async fn throttling_usage_and_bad_bodies_never_stop_the_channel(b: Backend) {
    let fake = FakeGraph::start().await;
    fake.release_feed();
    fake.push_fault(Fault::Throttled);
    fake.push_fault(Fault::Malformed);
    fake.push_fault(Fault::BusyUsage);
    let app = app_with(b, &fake, "messenger = false").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(40))
            .await,
        "filed once the faults passed: {} {:?}",
        app.count("complaints").await,
        fake.seen()
            .iter()
            .map(|s| (s.path.clone(), s.at))
            .collect::<Vec<_>>()
    );
    let quarantined: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_rejects WHERE disposition = 'quarantined'")
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("count");
    assert_eq!(quarantined, 1, "the malformed page is quarantined once");
    // After the usage header (76 %), the next call waited its spacing.
    let feed: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path.starts_with(&format!("/{VERSION}/")))
        .collect();
    let busy_at = feed.get(2).expect("the third call had the usage header").at;
    let next_at = feed.get(3).expect("a call after it").at;
    assert!(
        next_at.duration_since(busy_at).unwrap_or_default() >= Duration::from_secs(2),
        "calls are spaced out when usage is high"
    );
    app.stop().await;
}

/// An edit that leaves no text (found by fuzzing the webhook) keeps the filed text, and
/// an edit of a comment never filed files no complaint without text: both are recorded
/// as ignored.
async fn an_edit_without_text_keeps_the_text(b: Backend) {
    let fake = FakeGraph::start().await;
    let app = app_with(b, &fake, "messenger = false").await;
    let body = fixture("feed_comment.json");
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
            .await
            .status(),
        200
    );
    let mut edited: Value =
        serde_json::from_str(&fixture("feed_comment_edited.json")).expect("json");
    edited["entry"][0]["changes"][0]["value"]
        .as_object_mut()
        .expect("value")
        .remove("message");
    let edited = edited.to_string();
    let missed = edited.replace(COMMENT, "122100000000000001_1213500000000009");
    for body in [&edited, &missed] {
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    let rec = app.complaint_from(COMMENT).await;
    assert!(rec.body.starts_with("Air PDAM"), "{:?}", rec.body);
    assert!(
        rec.messages[0].history.is_empty(),
        "{:?}",
        rec.messages[0].history
    );
    assert_eq!(app.count("complaints").await, 1);
    let ignored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_rejects WHERE disposition = 'ignored'")
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("count");
    assert_eq!(ignored, 2);
    app.stop().await;
}

on_both!(
    comments_edits_removals_polling_and_answers,
    throttling_usage_and_bad_bodies_never_stop_the_channel,
    an_edit_without_text_keeps_the_text
);
