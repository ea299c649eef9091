//! Only a complaint's reporter adds to it, on both back ends and through each channel's
//! own normalizer: a tracking number quoted, or a reply in its public thread, by anyone
//! else files a complaint of its own that names the other, and never reopens it.

use std::sync::Arc;

use aduan::queue::{AnswerRoutes, Queue, Role};
use aduan::store::Store;
use aduan_kit::{Delivery, Inbound, Outcome};
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use tokio::sync::Barrier;

use crate::harness::{staff_actor, Backend, TestDb};
use crate::on_both;
use crate::store::channel;

async fn offer(store: &Store, item: Inbound) -> (Outcome, String) {
    let (writer, _) = aduan::store::IngestWriter::spawn(store.clone(), 16, 1);
    let sink = aduan::store::StoreSink::new(store.clone(), writer);
    let d = sink
        .ingest(aduan_kit::Batch {
            items: vec![item],
            cursor: None,
        })
        .await
        .expect("ingest");
    match d.into_iter().next() {
        Some(Delivery::Committed {
            outcome,
            tracking_id: Some(t),
        }) => (outcome, t),
        other => panic!("not filed: {other:?}"),
    }
}

/// The complaint's status and how many citizen messages its thread holds.
async fn state(store: &Store, tracking_id: &str) -> (String, usize) {
    let c = store
        .complaint(tracking_id)
        .await
        .expect("read")
        .expect("complaint");
    let inbound = c.messages.iter().filter(|m| m.direction == "in").count();
    (c.status, inbound)
}

async fn answered(store: &Store, tracking_id: &str) {
    sqlx::query("UPDATE complaints SET status = 'answered' WHERE tracking_id = $1")
        .bind(tracking_id)
        .execute(&store.pool_for_tests())
        .await
        .expect("answer");
}

/// What the admins are shown a complaint refers to.
async fn refers_to(store: &Store, tracking_id: &str) -> Option<String> {
    let queue = Queue::new(store.clone(), AnswerRoutes::default());
    let who = format!("k{}", &tracking_id[..4]);
    let coordinator = staff_actor(store, &who, Role::Coordinator, None).await;
    queue
        .show(&coordinator, tracking_id, false)
        .await
        .expect("show")
        .refers_to
}

fn tweet(id: &str, author: &str, text: &str, in_reply_to: Option<&str>) -> Inbound {
    let normalizer =
        aduan_x::normalize::Normalizer::new(channel("x-siak"), "900", "PemkabSiak", &[]);
    let t = aduan_x::normalize::TweetView {
        id: id.to_owned(),
        text: text.to_owned(),
        author_id: author.to_owned(),
        author_handle: Some(format!("warga{author}")),
        author_name: None,
        conversation_id: Some(in_reply_to.unwrap_or(id).to_owned()),
        in_reply_to: in_reply_to.map(str::to_owned),
        created_at: Some(Utc::now()),
        is_retweet: false,
        media_urls: Vec::new(),
    };
    normalizer.inbound(&t, Bytes::from(format!("{{\"id\": \"{id}\"}}")), Vec::new())
}

async fn on_x_only_the_author_joins_or_reopens(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let (o, mine) = offer(
        &store,
        tweet("1001", "111", "@PemkabSiak lampu jalan mati", None),
    )
    .await;
    assert_eq!(o, Outcome::Created);
    answered(&store, &mine).await;

    // A signed event from another account naming the number: a complaint of its own.
    let (o, theirs) = offer(
        &store,
        tweet(
            "1002",
            "222",
            &format!("@PemkabSiak laporan {mine} itu bohong"),
            None,
        ),
    )
    .await;
    assert_eq!(o, Outcome::Created, "a stranger's quote joined {mine}");
    assert_ne!(theirs, mine);
    assert_eq!(
        refers_to(&store, &theirs).await.as_deref(),
        Some(mine.as_str())
    );
    // A public reply under the citizen's post by someone else: the same.
    let (o, reply) = offer(
        &store,
        tweet("1003", "222", "@PemkabSiak belum diperbaiki", Some("1001")),
    )
    .await;
    assert_eq!(o, Outcome::Created, "a stranger's reply joined {mine}");
    assert_eq!(
        refers_to(&store, &reply).await.as_deref(),
        Some(mine.as_str())
    );
    assert_eq!(
        state(&store, &mine).await,
        ("answered".into(), 1),
        "nobody else added to it or reopened it"
    );

    // The author, quoting the number in a new post: a follow-up that reopens it.
    let (o, t) = offer(
        &store,
        tweet(
            "1004",
            "111",
            &format!("@PemkabSiak {mine} masih mati"),
            None,
        ),
    )
    .await;
    assert_eq!((o, t.as_str()), (Outcome::FollowUp, mine.as_str()));
    assert_eq!(state(&store, &mine).await, ("in_progress".into(), 2));
    assert_eq!(refers_to(&store, &mine).await, None);

    // Merged into another's complaint, a citizen's own thread still leads there.
    let (_, same) = offer(
        &store,
        tweet("1005", "333", "@PemkabSiak lampu mati juga", None),
    )
    .await;
    let queue = Queue::new(store.clone(), AnswerRoutes::default());
    let coordinator = staff_actor(&store, "merger", Role::Coordinator, None).await;
    queue
        .act(
            &coordinator,
            &same,
            aduan::queue::ActionKind::Merge,
            &aduan::queue::ActionRequest {
                into: Some(mine.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("merge");
    let (o, t) = offer(
        &store,
        tweet("1006", "333", "@PemkabSiak tolong", Some("1005")),
    )
    .await;
    assert_eq!((o, t.as_str()), (Outcome::FollowUp, mine.as_str()));
}

fn mail(from: &str, id: &str, subject: &str, in_reply_to: Option<&str>) -> Inbound {
    let normalizer = aduan_email::normalize::Normalizer::new(
        channel("surel"),
        Some("aduan.test".into()),
        vec!["pengaduan@aduan.test".into()],
    );
    let reply = in_reply_to
        .map(|r| format!("In-Reply-To: {r}\n"))
        .unwrap_or_default();
    let raw = format!(
        "From: {from}\nTo: pengaduan@aduan.test\nSubject: {subject}\nMessage-ID: {id}\n{reply}Date: Fri, 04 Dec 2026 09:00:00 +0700\nContent-Type: text/plain; charset=utf-8\n\nSaluran air tersumbat di depan rumah.\n"
    );
    normalizer.normalize(raw.as_bytes(), Utc::now())
}

async fn by_e_mail_only_the_reporters_address_joins(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let (_, mine) = offer(
        &store,
        mail(
            "Warga <warga@warga.test>",
            "<e1@warga.test>",
            "Saluran tersumbat",
            None,
        ),
    )
    .await;
    answered(&store, &mine).await;
    let (o, theirs) = offer(
        &store,
        mail(
            "orang@lain.test",
            "<e2@lain.test>",
            &format!("Re: Saluran tersumbat [{mine}]"),
            None,
        ),
    )
    .await;
    assert_eq!(
        o,
        Outcome::Created,
        "another address's subject joined {mine}"
    );
    assert_eq!(
        refers_to(&store, &theirs).await.as_deref(),
        Some(mine.as_str())
    );
    let (o, _) = offer(
        &store,
        mail(
            "orang@lain.test",
            "<e3@lain.test>",
            "Re: Saluran tersumbat",
            Some("<e1@warga.test>"),
        ),
    )
    .await;
    assert_eq!(o, Outcome::Created, "another address's reply joined {mine}");
    assert_eq!(state(&store, &mine).await, ("answered".into(), 1));
    // The reporter, whatever the case of their address.
    let (o, t) = offer(
        &store,
        mail(
            "WARGA@Warga.Test",
            "<e4@warga.test>",
            &format!("Tanya [{mine}]"),
            None,
        ),
    )
    .await;
    assert_eq!((o, t.as_str()), (Outcome::FollowUp, mine.as_str()));
    assert_eq!(state(&store, &mine).await, ("in_progress".into(), 2));
}

fn messenger(psid: &str, mid: &str, text: &str) -> Inbound {
    let page = "104500000000001";
    let normalizer = aduan_facebook::Normalizer::new(channel("fb-siak"), page);
    let now = Utc::now().timestamp_millis();
    let body = json!({
        "object": "page",
        "entry": [{"id": page, "time": now, "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": now,
            "message": {"mid": mid, "text": text},
        }]}]
    });
    let raw = Bytes::from(body.to_string());
    normalizer
        .entries(&body, &raw)
        .into_iter()
        .next()
        .expect("one item")
}

async fn on_messenger_only_the_sender_joins(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let (_, mine) = offer(&store, messenger("6201", "m_1", "Bansos RT 03 belum cair")).await;
    let (o, theirs) = offer(
        &store,
        messenger("6202", "m_2", &format!("Saya mau tahu laporan {mine}")),
    )
    .await;
    assert_eq!(o, Outcome::Created, "another sender's quote joined {mine}");
    assert_eq!(
        refers_to(&store, &theirs).await.as_deref(),
        Some(mine.as_str())
    );
    assert_eq!(state(&store, &mine).await.1, 1);
    let (o, t) = offer(&store, messenger("6201", "m_3", &format!("{mine} sudah?"))).await;
    assert_eq!((o, t.as_str()), (Outcome::FollowUp, mine.as_str()));
}

/// Two instances on one database (two pools, each with its own writer) take two
/// messages of one conversation at the same moment, round after round (`pair` makes
/// each round's): whichever commits first files the complaint and the other joins it,
/// never a second complaint. Returns in how many rounds the second was filed first.
async fn race(b: Backend, rounds: usize, pair: impl Fn(usize) -> [Inbound; 2]) -> usize {
    let db = TestDb::new(b).await;
    let (one, two) = (db.store().await, db.store().await);
    let sink = |store: &Store| {
        let (writer, _) = aduan::store::IngestWriter::spawn(store.clone(), 16, 1);
        aduan::store::StoreSink::new(store.clone(), writer)
    };
    let sinks = [sink(&one), sink(&two)];
    let mut second_first = 0;
    for round in 0..rounds {
        // Each instance takes the first message in turn; the barrier lets both go at once.
        let barrier = Arc::new(Barrier::new(2));
        let tasks = pair(round).into_iter().enumerate().map(|(i, item)| {
            let (sink, barrier) = (sinks[(round + i) % 2].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let batch = aduan_kit::Batch {
                    items: vec![item],
                    cursor: None,
                };
                match sink.ingest(batch).await.expect("ingest").pop() {
                    Some(Delivery::Committed {
                        outcome,
                        tracking_id: Some(t),
                    }) => (outcome, t),
                    other => panic!("not filed: {other:?}"),
                }
            })
        });
        let mut got = Vec::new();
        for t in tasks.collect::<Vec<_>>() {
            got.push(t.await.expect("ingest task"));
        }
        let (first, second) = (&got[0], &got[1]);
        assert_eq!(first.1, second.1, "round {round}: two complaints: {got:?}");
        match (first.0, second.0) {
            (Outcome::Created, Outcome::FollowUp) => {}
            (Outcome::FollowUp, Outcome::Created) => second_first += 1,
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(state(&one, &first.1).await.1, 2, "round {round}");
    }
    let complaints: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM complaints")
        .fetch_one(&two.pool_for_tests())
        .await
        .expect("count");
    assert_eq!(complaints, rounds as i64);
    second_first
}

/// An e-mail and its reporter's reply to it, racing.
async fn a_reply_racing_its_original_on_another_instance_joins_it(b: Backend) {
    let from = "Warga <warga@warga.test>";
    let replies_first = race(b, 60, |round| {
        let id = format!("<o{round}@warga.test>");
        let reply = format!("<r{round}@warga.test>");
        [
            mail(from, &id, "Saluran tersumbat", None),
            mail(from, &reply, "Re: Saluran", Some(&id)),
        ]
    })
    .await;
    println!("60 rounds; the reply was filed first in {replies_first}");
}

/// A tweet and its author's reply under it, racing.
async fn a_tweet_and_its_authors_reply_racing_make_one_complaint(b: Backend) {
    race(b, 60, |round| {
        let (id, reply) = (
            format!("{}", 3000 + 2 * round),
            format!("{}", 3001 + 2 * round),
        );
        [
            tweet(&id, "111", "@PemkabSiak lampu jalan mati", None),
            tweet(&reply, "111", "@PemkabSiak sudah seminggu", Some(&id)),
        ]
    })
    .await;
}

/// Two Messenger messages of one sender (the conversation is the sender's), racing.
async fn a_senders_messages_racing_on_two_instances_make_one_complaint(b: Backend) {
    race(b, 60, |round| {
        let psid = format!("63{round:02}");
        [
            messenger(&psid, &format!("m_a{round}"), "Bansos RT 03 belum cair"),
            messenger(&psid, &format!("m_b{round}"), "Sudah tiga bulan"),
        ]
    })
    .await;
}

on_both!(
    on_x_only_the_author_joins_or_reopens,
    by_e_mail_only_the_reporters_address_joins,
    on_messenger_only_the_sender_joins,
    a_reply_racing_its_original_on_another_instance_joins_it,
    a_tweet_and_its_authors_reply_racing_make_one_complaint,
    a_senders_messages_racing_on_two_instances_make_one_complaint
);
