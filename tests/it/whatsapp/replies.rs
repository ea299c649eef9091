//! Receipts and answers through the outbox: free-form text within 24 hours of the
//! citizen's last message, the approved template after it (or a visible failure
//! without one), and the statuses WhatsApp reports recorded on each delivery.

use std::time::Duration;

use serde_json::{json, Value};

use super::fake::{
    app_with, deliver_signed, fixture, message_body, now_secs, sent_id, status_body, FakeCloud,
    PHONE_ID, VERSION, WA_ID,
};
use crate::harness::{answer_through_queue, eventually, queue_staff, Backend, TestApp};
use crate::on_both;

/// The deliveries of a complaint as the queue shows them: `(kind, status, reported,
/// last_error)`.
async fn deliveries(
    app: &TestApp,
    who: &aduan::queue::Actor,
    tracking_id: &str,
) -> Vec<(String, String, Option<String>, Option<String>)> {
    let queue = app.app.as_ref().expect("app").queue.clone();
    queue
        .show(who, tracking_id, false)
        .await
        .map(|i| {
            i.deliveries
                .into_iter()
                .map(|d| (d.kind, d.status, d.reported, d.last_error))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `check` holds of the complaint's deliveries; panics with them if not.
async fn await_deliveries(
    app: &TestApp,
    who: &aduan::queue::Actor,
    tracking_id: &str,
    check: impl Fn(&[(String, String, Option<String>, Option<String>)]) -> bool,
) {
    let ok = eventually(Duration::from_secs(15), || async {
        check(&deliveries(app, who, tracking_id).await)
    })
    .await;
    assert!(ok, "{:?}", deliveries(app, who, tracking_id).await);
}

async fn receipts_answers_and_their_statuses(b: Backend) {
    let fake = FakeCloud::start().await;
    let app = app_with(b, &fake, "").await;
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "dpupr", "wa").await;

    // A message of a minute ago: filed, and the receipt goes out as text, quoting it,
    // with the number and the status link.
    let body = message_body(
        "wamid.BARU0001",
        WA_ID,
        now_secs() - 60,
        json!({"type": "text", "text": {"body": "Drainase di Jl. Hangtuah tersumbat."}}),
    );
    assert_eq!(deliver_signed(&app, &body).await, ["created"]);
    let rec = app.complaint_from("wamid.BARU0001").await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = fake.sends().len();
            async move { n == 1 }
        })
        .await
    );
    let receipt = &fake.sends()[0];
    assert_eq!(receipt["to"], WA_ID);
    assert_eq!(receipt["type"], "text");
    assert_eq!(receipt["context"]["message_id"], "wamid.BARU0001");
    let text = receipt["text"]["body"].as_str().expect("text");
    assert!(
        text.contains(&rec.tracking_id)
            && text.contains("/laporan/")
            && !text.contains("{status_url}"),
        "{text}"
    );
    assert!(fake
        .seen()
        .iter()
        .any(|s| s.path == format!("/{VERSION}/{PHONE_ID}/messages")));

    // Its statuses: delivered, then read (offered twice: one record), a late `sent`
    // changes nothing.
    let receipt_id = sent_id(1);
    await_deliveries(&app, &staff[0], &rec.tracking_id, |d| {
        d.len() == 1 && d[0].1 == "sent"
    })
    .await;
    for (status, expect) in [
        ("delivered", vec!["status"]),
        ("read", vec!["status"]),
        ("read", vec!["duplicate"]),
        ("sent", vec!["status"]),
    ] {
        assert_eq!(
            deliver_signed(&app, &status_body(&receipt_id, status, None)).await,
            expect,
            "{status}"
        );
    }
    let d = deliveries(&app, &staff[0], &rec.tracking_id).await;
    assert_eq!(d[0].1, "sent");
    assert_eq!(d[0].2.as_deref(), Some("read"), "{d:?}");
    assert_eq!(
        app.count("complaints").await,
        1,
        "statuses are not complaints"
    );

    // The answer, within 24 hours: text. WhatsApp then reports it failed: the delivery
    // fails visibly with the reason.
    answer_through_queue(
        &queue,
        &staff,
        &rec.tracking_id,
        "Sudah dibersihkan petugas hari ini.",
    )
    .await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = fake.sends().len();
            async move { n == 2 }
        })
        .await
    );
    let answer = &fake.sends()[1];
    assert_eq!(answer["type"], "text");
    assert!(answer["text"]["body"]
        .as_str()
        .is_some_and(|t| t.contains("Sudah dibersihkan")));
    await_deliveries(&app, &staff[0], &rec.tracking_id, |d| {
        d.iter().any(|x| x.0 == "answer" && x.1 == "sent")
    })
    .await;
    let failed = status_body(
        &sent_id(2),
        "failed",
        Some(json!([{"code": 131026, "title": "Message undeliverable",
                     "error_data": {"details": "Unable to deliver message."}}])),
    );
    assert_eq!(deliver_signed(&app, &failed).await, ["status"]);
    let d = deliveries(&app, &staff[0], &rec.tracking_id).await;
    let answer = d.iter().find(|x| x.0 == "answer").expect("answer");
    assert_eq!(answer.1, "failed");
    assert_eq!(answer.2.as_deref(), Some("failed"));
    assert!(
        answer
            .3
            .as_deref()
            .is_some_and(|e| e.contains("131026") && e.contains("Message undeliverable")),
        "{answer:?}"
    );
    app.stop().await;
}

on_both!(receipts_answers_and_their_statuses);

/// A failure reported before the dispatcher recorded the message's id (the webhook can
/// be quicker than the send's answer) still fails the delivery once the id is recorded.
async fn a_failure_reported_before_the_id_is_recorded_still_counts(b: Backend) {
    let fake = FakeCloud::start().await;
    // The receipt's id will be the fake's first: its failure arrives before it is sent.
    let early = status_body(
        &sent_id(1),
        "failed",
        Some(json!([{"code": 131026, "title": "Message undeliverable"}])),
    );
    let app = app_with(b, &fake, "").await;
    let staff = queue_staff(&app.store, "dpupr", "wb").await;
    assert_eq!(deliver_signed(&app, &early).await, ["status"]);
    let body = message_body(
        "wamid.BARU0002",
        WA_ID,
        now_secs() - 60,
        json!({"type": "text", "text": {"body": "Pohon tumbang di Jl. Sultan."}}),
    );
    assert_eq!(deliver_signed(&app, &body).await, ["created"]);
    let rec = app.complaint_from("wamid.BARU0002").await;
    await_deliveries(&app, &staff[0], &rec.tracking_id, |d| {
        d.len() == 1
            && d[0].1 == "failed"
            && d[0].3.as_deref().is_some_and(|e| e.contains("131026"))
    })
    .await;
    app.stop().await;
}

on_both!(a_failure_reported_before_the_id_is_recorded_still_counts);

/// An answer more than 24 hours after the citizen wrote: without a template it fails
/// visibly; with one, the template goes out with the tracking number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_a_template_or_a_visible_failure() {
    for template in [false, true] {
        let fake = FakeCloud::start().await;
        let extra = if template {
            "template_name = \"status_laporan\"\ntemplate_language = \"id\""
        } else {
            ""
        };
        let app = app_with(Backend::Sqlite, &fake, extra).await;
        let queue = app.app.as_ref().expect("app").queue.clone();
        let staff = queue_staff(&app.store, "dpupr", "wc").await;
        // The fixture is a year old: filed without a receipt.
        assert_eq!(
            deliver_signed(&app, &fixture("text.json")).await,
            ["created"]
        );
        let rec = app
            .complaint_from("wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFDNBMDAwMDAwMDAwMDAwMDAwMDAxAA==")
            .await;
        answer_through_queue(&queue, &staff, &rec.tracking_id, "Jalan sudah ditambal.").await;
        if template {
            assert!(
                eventually(Duration::from_secs(15), || {
                    let n = fake.sends().len();
                    async move { n == 1 }
                })
                .await
            );
            let sent: Value = fake.sends()[0].clone();
            assert_eq!(sent["type"], "template");
            assert_eq!(sent["template"]["name"], "status_laporan");
            assert_eq!(sent["template"]["language"]["code"], "id");
            assert_eq!(
                sent["template"]["components"][0]["parameters"][0]["text"],
                rec.tracking_id.as_str()
            );
            await_deliveries(&app, &staff[0], &rec.tracking_id, |d| {
                d.iter().any(|x| x.0 == "answer" && x.1 == "sent")
            })
            .await;
        } else {
            await_deliveries(&app, &staff[0], &rec.tracking_id, |d| {
                d.iter().any(|x| {
                    x.0 == "answer"
                        && x.1 == "failed"
                        && x.3
                            .as_deref()
                            .is_some_and(|e| e.contains("cannot be sent on WhatsApp"))
                })
            })
            .await;
            assert!(
                fake.sends().is_empty(),
                "nothing was sent: {:?}",
                fake.sends()
            );
        }
        app.stop().await;
    }
}
