//! Messenger: conversations threaded, attachments downloaded from the listed media hosts
//! only, the Page's own echoes ignored, and answers only within the messaging window.

use std::time::Duration;

use serde_json::{json, Value};

use super::fake::{
    app_with, deliver, fixture, inbound, now_millis, sign, FakeGraph, PAGE, PSID, VERSION,
};
use crate::harness::{answer_through_queue, eventually, queue_staff, Backend};
use crate::on_both;

/// A Messenger webhook body from `PSID` at `at_ms`.
fn messenger_body(mid: &str, at_ms: i64, message: Value) -> String {
    let mut message = message;
    message["mid"] = Value::from(mid);
    json!({
        "object": "page",
        "entry": [{
            "id": PAGE,
            "time": at_ms,
            "messaging": [{
                "sender": {"id": PSID},
                "recipient": {"id": PAGE},
                "timestamp": at_ms,
                "message": message,
            }]
        }]
    })
    .to_string()
}

async fn messenger_threads_attachments_echoes_and_the_window(b: Backend) {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("json");
    let fake = FakeGraph::start().await;
    let app = app_with(
        b,
        &fake,
        "poll_interval_secs = 3600\nmessenger_window_secs = 3600",
    )
    .await;

    // The fixture as Meta signed it: filed, without a receipt (it is a year old).
    let text = fixture("messaging_text.json");
    let sig = vectors["signatures"]["messaging_text.json"]
        .as_str()
        .expect("sig");
    assert_eq!(
        deliver(&app, text.as_bytes(), Some(sig)).await.status(),
        200
    );
    let old = app.complaint_from("m_AbCdEf0123456789").await;
    assert!(
        app.store
            .outbound_for(&old.tracking_id)
            .await
            .expect("outbox")
            .is_empty(),
        "no receipt for a year-old message"
    );

    // Its answer cannot go out on Messenger (outside the 24-hour window): it fails, and
    // the admins see why on the complaint.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "dinsos", "ms").await;
    answer_through_queue(&queue, &staff, &old.tracking_id, "Sudah cair bulan lalu.").await;
    let refused = |q: aduan::queue::Queue, who: aduan::queue::Actor, t: String| async move {
        q.show(&who, &t, false).await.is_ok_and(|item| {
            item.deliveries.iter().any(|d| {
                d.status == "failed"
                    && d.kind == "answer"
                    && d.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("cannot be sent on Messenger"))
            })
        })
    };
    assert!(
        eventually(Duration::from_secs(15), || refused(
            queue.clone(),
            staff[0].clone(),
            old.tracking_id.clone()
        ))
        .await,
        "{:?}",
        queue
            .show(&staff[0], &old.tracking_id, false)
            .await
            .map(|i| i.deliveries)
    );

    // Today: a message (two hours ago), a photo a minute later, an echo, and a message
    // past the window.
    let now = now_millis();
    let first = messenger_body(
        "m_hari_ini_1",
        now - 2 * 3600 * 1000,
        json!({"text": "Bantuan sosial RT 03 belum cair, mohon dicek."}),
    );
    let photo = messenger_body(
        "m_hari_ini_2",
        now - 2 * 3600 * 1000 + 60_000,
        json!({"attachments": [{"type": "image", "payload": {"url": format!("{}/media/bansos-rt03.png", fake.base)}}]}),
    );
    let echo = fixture("messaging_echo.json");
    let later = messenger_body(
        "m_hari_ini_3",
        now,
        json!({"text": "Satu lagi: jalan di depan kantor desa berlubang."}),
    );
    for body in [&first, &photo, &echo, &later] {
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    let today = app.complaint_from("m_hari_ini_1").await;
    assert_ne!(
        today.tracking_id, old.tracking_id,
        "a year later: a new complaint"
    );
    let msgs = inbound(&today);
    assert_eq!(
        msgs.len(),
        2,
        "the photo a minute later joined: {:?}",
        today.messages
    );
    assert!(msgs[1].body.contains("/media/bansos-rt03.png"));
    assert_eq!(today.attachments.len(), 1, "the photo was downloaded");
    assert_eq!(today.attachments[0].content_type, "image/png");
    let newer = app.complaint_from("m_hari_ini_3").await;
    assert_ne!(
        newer.tracking_id, today.tracking_id,
        "two hours later, past the window: its own complaint"
    );
    assert_eq!(
        app.count("complaints").await,
        3,
        "the echo is not a complaint"
    );

    // Receipts by the Send API, as responses, to the sender.
    let sends = || {
        fake.posts()
            .into_iter()
            .filter(|s| s.path == format!("/{VERSION}/{PAGE}/messages"))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = sends().len();
            async move { n == 2 }
        })
        .await,
        "{:?}",
        sends()
    );
    for s in sends() {
        let body = s.body.expect("json");
        assert_eq!(body["recipient"]["id"], PSID);
        assert_eq!(body["messaging_type"], "RESPONSE");
        let text = body["message"]["text"].as_str().expect("text");
        assert!(
            text.contains("/laporan/") && !text.contains("{status_url}"),
            "{text}"
        );
    }

    // The approved answer goes to the person on Messenger.
    answer_through_queue(
        &queue,
        &staff,
        &today.tracking_id,
        "Bantuan tahap dua cair Jumat ini.",
    )
    .await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = sends()
                .iter()
                .filter(|s| {
                    s.body
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains("tahap dua"))
                })
                .count();
            async move { n == 1 }
        })
        .await,
        "{:?}",
        sends()
    );

    // Polling the inbox finds the fixture's message again: one record.
    fake.release_inbox();
    let app = app.restart().await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move {
                f.seen()
                    .iter()
                    .any(|s| s.path == format!("/{VERSION}/t_10160000000000001"))
            }
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("complaints").await, 3);
    app.stop().await;
}

on_both!(messenger_threads_attachments_echoes_and_the_window);

/// A Messenger attachment whose link redirects to loopback, or that names a host not on
/// the list, is not downloaded: the message is filed all the same and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_attachments_off_the_media_hosts_are_not_downloaded() {
    let fake = FakeGraph::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "poll_interval_secs = 3600\nmedia_hosts = [\"localhost\"]\ninsecure_local_media_for_tests = true",
    )
    .await;
    let listed = fake.base.replace("127.0.0.1", "localhost");
    let now = now_millis();
    let cases = [
        ("m_alih_1", format!("{listed}/redirect/media/alih.png")),
        ("m_alih_2", format!("{}/media/langsung.png", fake.base)),
    ];
    for (i, (mid, url)) in cases.iter().enumerate() {
        let body = messenger_body(
            mid,
            now - (2 - i as i64) * 7 * 24 * 3600 * 1000,
            json!({"attachments": [{"type": "image", "payload": {"url": url}}]}),
        );
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    for (mid, url) in &cases {
        let rec = app.complaint_from(mid).await;
        assert!(rec.attachments.is_empty(), "{mid}: {:?}", rec.attachments);
        assert!(
            rec.body
                .contains(&format!("[lampiran tidak diunduh: {url}]")),
            "{mid}: {}",
            rec.body
        );
    }
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.path == "/redirect/media/alih.png"),
        "the first hop was asked"
    );
    assert!(
        !fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "nothing was fetched from 127.0.0.1"
    );
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}
