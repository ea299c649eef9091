//! Privacy across merges and reads, on both back ends: a rahasia complaint's answers stay
//! off every public page, and an anonymous reporter is reached only by an audited reveal.

use aduan::queue::{ActionKind, ActionRequest, AnswerRoutes, Queue};
use aduan::store::{IngestWriter, NewOutbound, Store, StoreSink};
use aduan_kit::{
    Batch, ComplaintDraft, Delivery, Inbound, InboundKind, OutboundKind, Raw, Recipient, Reporter,
    Threading,
};
use chrono::Utc;

use crate::harness::{answer_through_queue, queue_staff, Backend, TestDb};
use crate::on_both;
use crate::store::channel;

/// A complaint from `email` on channel `web`, with its flags.
fn filed_by(ext: &str, title: &str, email: &str, anonymous: bool, confidential: bool) -> Inbound {
    Inbound {
        channel: "webform",
        channel_name: channel("web"),
        external_id: ext.to_owned(),
        received_at: Utc::now(),
        kind: InboundKind::Complaint(Box::new(ComplaintDraft {
            title: title.to_owned(),
            body: format!("{title}: mohon ditindaklanjuti"),
            reporter: Reporter {
                name: Some("Siti Aminah".into()),
                email: Some(email.to_owned()),
                ..Reporter::default()
            },
            anonymous,
            confidential,
            ..ComplaintDraft::default()
        })),
        thread: Threading::default(),
        raw: Raw {
            content_type: "application/json".into(),
            bytes: format!("{{\"email\": \"{email}\"}}").into(),
        },
        acknowledge: None,
    }
}

pub(crate) async fn file(store: &Store, items: Vec<Inbound>) -> Vec<String> {
    let (writer, _) = IngestWriter::spawn(store.clone(), 16, 1);
    let sink = StoreSink::new(store.clone(), writer);
    sink.ingest(Batch {
        items,
        cursor: None,
    })
    .await
    .expect("ingest")
    .into_iter()
    .map(|d| match d {
        Delivery::Committed {
            tracking_id: Some(t),
            ..
        } => t,
        other => panic!("not filed: {other:?}"),
    })
    .collect()
}

/// A public complaint merged into a rahasia one: the answer reaches both reporters and
/// neither status page, whether read before or after the delivery was sent.
async fn a_rahasia_answer_stays_off_the_pages_of_what_merged_into_it(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let queue = Queue::new(store.clone(), AnswerRoutes::default());
    let staff = queue_staff(&store, "pdam", "rh").await;
    let filed = file(
        &store,
        vec![
            filed_by(
                "w1",
                "Pungutan di loket PDAM",
                "siti@warga.test",
                false,
                true,
            ),
            filed_by(
                "w2",
                "Loket PDAM minta uang",
                "budi@warga.test",
                false,
                false,
            ),
        ],
    )
    .await;
    let (secret, open) = (&filed[0], &filed[1]);
    queue
        .act(
            &staff[0],
            open,
            ActionKind::Merge,
            &ActionRequest {
                into: Some(secret.clone()),
                ..ActionRequest::default()
            },
        )
        .await
        .expect("merge");
    answer_through_queue(
        &queue,
        &staff,
        secret,
        "Inspektorat memeriksa petugas loket.",
    )
    .await;
    for t in [secret, open] {
        let page = store.public_report(t).await.expect("read").expect("page");
        let text = serde_json::to_string(&page).expect("json");
        assert!(!text.contains("Inspektorat"), "{t}: {text}");
    }

    // The copy for the merged complaint's reporter, once a channel has sent it.
    let id = store
        .enqueue_outbound(&NewOutbound {
            tracking_id: open.clone(),
            channel_name: channel("surel"),
            kind: OutboundKind::Answer,
            idempotency_key: format!("answer:test:{open}"),
            recipient: Recipient {
                address: "budi@warga.test".into(),
                name: None,
            },
            subject: None,
            body: "Inspektorat memeriksa petugas loket (terkirim).".into(),
            in_reply_to: None,
            references: Vec::new(),
        })
        .await
        .expect("enqueue");
    let lease = Utc::now() + chrono::Duration::seconds(60);
    let row = store
        .claim_outbound(10, lease)
        .await
        .expect("claim")
        .into_iter()
        .find(|r| r.id == id)
        .expect("claimed");
    store
        .outbound_sent(&row, Some("<jawaban-1@aduan.test>"))
        .await
        .expect("sent");
    let public: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages m JOIN complaints c ON c.id = m.complaint_id
         WHERE c.tracking_id = $1 AND m.direction = 'out' AND m.public = TRUE",
    )
    .bind(open.as_str())
    .fetch_one(&store.pool_for_tests())
    .await
    .expect("count");
    assert_eq!(public, 0, "no message of {open} is marked public");
    for t in [secret, open] {
        let page = store.public_report(t).await.expect("read").expect("page");
        let text = serde_json::to_string(&page).expect("json");
        assert!(!text.contains("Inspektorat"), "{t}: {text}");
    }
}

on_both!(a_rahasia_answer_stays_off_the_pages_of_what_merged_into_it);
