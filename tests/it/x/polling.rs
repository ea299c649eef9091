//! Polling mentions: pages, replies to the posts, follow-ups and restarts; rate limits,
//! faults and bad bodies that never stop the channel; old posts filed without a public
//! receipt.

use std::time::{Duration, UNIX_EPOCH};

use super::fake::{app_with, now_secs, oauth_signature_ok, FakeX, Fault};
use crate::harness::{answer_through_queue, eventually, queue_staff, Backend};
use crate::on_both;

async fn polling_pages_replies_follow_ups_and_restarts(b: Backend) {
    let fake = FakeX::start().await;
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "three posts over two pages filed"
    );
    let reqs = fake.mentions_requests();
    assert!(
        reqs.iter().any(|r| r
            .query
            .iter()
            .any(|(k, v)| k == "pagination_token" && v.starts_with("7140"))),
        "page 2 was fetched"
    );
    let first = &reqs[0];
    for field in ["tweet.fields", "expansions", "user.fields", "media.fields"] {
        assert!(
            first.query.iter().any(|(k, _)| k == field),
            "{field} requested"
        );
    }
    let list = app
        .store
        .complaints(&aduan::store::ComplaintFilter::default())
        .await
        .expect("list");
    let lampu = list
        .iter()
        .find(|c| c.external_id == "1865000000000000103")
        .expect("103");
    assert_eq!(lampu.channel, "x");
    assert!(lampu.title.starts_with("lampu jalan"), "{}", lampu.title);
    let rec = app
        .store
        .complaint(&lampu.tracking_id)
        .await
        .expect("read")
        .expect("rec");
    assert_eq!(
        rec.reporter
            .as_ref()
            .and_then(|r| r.handle.clone())
            .as_deref(),
        Some("@warga_siak")
    );
    assert_eq!(rec.attachments.len(), 1, "the photo was downloaded");

    // A receipt under every post, OAuth 1.0a signed, 280 at most.
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move { f.replies().len() == 3 }
        })
        .await,
        "{:?}",
        fake.replies()
    );
    for r in fake.replies() {
        let body = r.body.clone().expect("json");
        let text = body["text"].as_str().expect("text");
        assert!(aduan_x::text::weighted_len(text) <= 280);
        let parent = body["reply"]["in_reply_to_tweet_id"]
            .as_str()
            .expect("parent");
        let c = list
            .iter()
            .find(|c| c.external_id == parent)
            .expect("a reply under a filed post");
        assert!(text.contains(&c.tracking_id), "{text}");
        let auth = r.authorization.as_deref().expect("Authorization");
        assert!(
            oauth_signature_ok(auth, "POST", &format!("{}/2/tweets", fake.base)),
            "{auth}"
        );
    }

    // A restart resumes from the newest id: nothing again, nothing skipped.
    let app = app.restart().await;
    let before = fake.mentions_requests().len();
    assert!(
        eventually(Duration::from_secs(10), || {
            let f = fake.clone();
            async move { f.mentions_requests().len() > before }
        })
        .await
    );
    let next = &fake.mentions_requests()[before];
    assert!(
        next.query
            .contains(&("since_id".into(), "1865000000000000103".into())),
        "{:?}",
        next.query
    );

    // The citizen goes on in the same conversation, answering our receipt: a follow-up.
    fake.release_followup();
    let store = app.store.clone();
    let t = lampu.tracking_id.clone();
    assert!(
        eventually(Duration::from_secs(15), || {
            let store = store.clone();
            let t = t.clone();
            async move {
                store
                    .complaint(&t)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.messages.iter().filter(|m| m.direction == "in").count())
                    == Some(2)
            }
        })
        .await,
        "the follow-up joined its complaint"
    );
    assert_eq!(app.count("complaints").await, 3);

    // The queue's approved answer goes back as a reply under the citizen's post.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "dishub", "antrian").await;
    answer_through_queue(&queue, &staff, &t, "Lampu sudah diganti petugas hari ini.").await;
    let answered = eventually(Duration::from_secs(15), || {
        let f = fake.clone();
        async move {
            f.replies().iter().any(|r| {
                let b = r.body.clone().unwrap_or_default();
                b["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Lampu sudah diganti")
                    && b["reply"]["in_reply_to_tweet_id"] == "1865000000000000103"
            })
        }
    })
    .await;
    assert!(
        answered,
        "{:?}",
        fake.replies()
            .iter()
            .map(|r| r.body.clone())
            .collect::<Vec<_>>()
    );
    let answer = fake
        .replies()
        .into_iter()
        .find(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b.to_string().contains("Lampu sudah diganti"))
        })
        .expect("answer");
    let text = answer.body.expect("body")["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.contains(&t) && aduan_x::text::weighted_len(&text) <= 280,
        "{text}"
    );
    app.stop().await;
}

async fn rate_limits_faults_and_bad_bodies_never_stop_the_channel(b: Backend) {
    let fake = FakeX::start().await;
    let reset = now_secs() + 3;
    fake.push_fault(Fault::RateLimited { reset });
    fake.push_fault(Fault::Unavailable);
    fake.push_fault(Fault::Malformed);
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(30))
            .await,
        "filed once the faults passed: {:?}",
        fake.mentions_requests()
            .iter()
            .map(|r| r.at)
            .collect::<Vec<_>>()
    );
    let reqs = fake.mentions_requests();
    let second = reqs.get(1).expect("a request after the 429");
    let secs = second
        .at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    assert!(
        secs >= reset,
        "no request before the reset ({secs} < {reset})"
    );
    assert_eq!(
        app.count("intake_rejects").await,
        1,
        "the malformed page is quarantined once"
    );
    app.stop().await;
}

/// A first start finds days-old mentions: each is filed, and none gets a public reply.
async fn old_posts_are_filed_without_a_public_receipt(b: Backend) {
    let fake = FakeX::start().await;
    fake.serve_stale();
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "the old posts are filed"
    );
    // A receipt is queued in the complaint's own transaction: none was.
    assert_eq!(app.count("outbox").await, 0);
    assert!(fake.replies().is_empty(), "{:?}", fake.replies());
    app.stop().await;
}

on_both!(
    old_posts_are_filed_without_a_public_receipt,
    polling_pages_replies_follow_ups_and_restarts,
    rate_limits_faults_and_bad_bodies_never_stop_the_channel
);
