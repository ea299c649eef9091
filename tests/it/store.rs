//! The store's invariants, on SQLite and PostgreSQL: idempotent ingest, follow-ups,
//! quarantine, one transaction per batch with its cursor, the outbox's claims.

use std::collections::HashSet;
use std::sync::Arc;

use aduan::store::{IngestWriter, NewOutbound, OutboxStatus, Store, StoreSink};
use aduan_kit::{
    Acknowledgement, AttachmentData, Batch, ChannelName, ComplaintDraft, Cursor, CursorUpdate,
    Delivery, Inbound, InboundKind, OutboundKind, Outcome, Raw, Recipient, Reporter, Sink,
    Threading,
};
use chrono::Utc;

use crate::harness::{Backend, TestDb};
use crate::on_both;

pub fn channel(name: &str) -> ChannelName {
    ChannelName::parse(name).expect("channel name")
}

pub fn complaint(ch: &str, ext: &str, title: &str) -> Inbound {
    Inbound {
        channel: "test",
        channel_name: channel(ch),
        external_id: ext.to_owned(),
        received_at: Utc::now(),
        kind: InboundKind::Complaint(Box::new(ComplaintDraft {
            title: title.to_owned(),
            body: format!("{title}: isi laporan"),
            reporter: Reporter {
                email: Some("warga@contoh.id".into()),
                ..Reporter::default()
            },
            ..ComplaintDraft::default()
        })),
        thread: Threading::default(),
        raw: Raw {
            content_type: "text/plain".into(),
            bytes: format!("raw {ext}").into(),
        },
        acknowledge: None,
    }
}

async fn sink(db: &TestDb) -> (Store, StoreSink) {
    let store = db.store().await;
    let (writer, _) = IngestWriter::spawn(store.clone(), 64, 2);
    (store.clone(), StoreSink::new(store, writer))
}

fn tracking(d: &Delivery) -> String {
    match d {
        Delivery::Committed {
            tracking_id: Some(t),
            ..
        } => t.clone(),
        other => panic!("not a complaint delivery: {other:?}"),
    }
}

fn outcome(d: &Delivery) -> Outcome {
    match d {
        Delivery::Committed { outcome, .. } => *outcome,
        other => panic!("not committed: {other:?}"),
    }
}

async fn ingest_is_idempotent(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let first = sink
        .ingest(Batch {
            items: vec![complaint("x", "t1", "Air mati")],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&first[0]), Outcome::Created);
    // The same message again, alone and twice within one batch (polling and webhook at once).
    let again = sink
        .ingest(Batch {
            items: vec![
                complaint("x", "t1", "Air mati"),
                complaint("x", "t1", "Air mati"),
            ],
            cursor: None,
        })
        .await
        .expect("ingest");
    for d in &again {
        assert_eq!(outcome(d), Outcome::Duplicate);
        assert_eq!(tracking(d), tracking(&first[0]));
    }
    // The same external id on another channel instance is another message.
    let other = sink
        .ingest(Batch {
            items: vec![complaint("y", "t1", "Air mati")],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&other[0]), Outcome::Created);
    assert_eq!(store.count("complaints").await.expect("count"), 2);
    assert_eq!(store.count("raw_originals").await.expect("count"), 2);
    let rec = store
        .complaint(&tracking(&first[0]))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        rec.messages.len(),
        1,
        "one message in the thread, however often it came"
    );
    assert_eq!(rec.messages[0].external_id, "t1");
}

async fn concurrent_ingest_keeps_every_complaint_once(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let sink = Arc::new(sink);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let sink = sink.clone();
        // Every message is sent twice by racing tasks.
        tasks.push(tokio::spawn(async move {
            let ext = format!("m{}", i % 100);
            sink.ingest(Batch {
                items: vec![complaint("web", &ext, "Laporan")],
                cursor: None,
            })
            .await
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        let d = t.await.expect("task").expect("ingest");
        ids.insert(tracking(&d[0]));
    }
    assert_eq!(ids.len(), 100, "each message maps to one tracking number");
    assert_eq!(store.count("complaints").await.expect("count"), 100);
    assert_eq!(store.count("inbound_keys").await.expect("count"), 100);
}

async fn follow_ups_join_their_complaint(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let mut first = complaint("mail", "<a@warga>", "Air mati");
    first.thread.keys = vec!["<a@warga>".into()];
    let d = sink
        .ingest(Batch {
            items: vec![first],
            cursor: None,
        })
        .await
        .expect("ingest");
    let tid = tracking(&d[0]);

    let mut reply = complaint("mail", "<b@warga>", "Re: Air mati");
    reply.thread.refs = vec!["<unknown@x>".into(), "<a@warga>".into()];
    let d = sink
        .ingest(Batch {
            items: vec![reply],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&d[0]), Outcome::FollowUp);
    assert_eq!(tracking(&d[0]), tid);

    // A tracking number typed in lower case with a look-alike letter still finds it.
    let mut quoted = complaint("other", "q1", "Tanya status");
    quoted.thread.tracking_hint = Some(tid.to_lowercase().replace('0', "o"));
    let d = sink
        .ingest(Batch {
            items: vec![quoted],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&d[0]), Outcome::FollowUp);

    let rec = store.complaint(&tid).await.expect("read").expect("exists");
    assert_eq!(rec.messages.len(), 3);
    assert!(
        rec.messages.windows(2).all(|w| w[0].at <= w[1].at),
        "thread in time order"
    );
    assert_eq!(store.count("complaints").await.expect("count"), 1);
}

async fn quarantine_and_ignored_keep_raw_and_reason(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let mut bad = complaint("x", "bad1", "t");
    bad.kind = InboundKind::Quarantine {
        reason: "body is not JSON".into(),
    };
    bad.raw.bytes = b"\xff\xfe not json".to_vec().into();
    let mut auto = complaint("x", "auto1", "t");
    auto.kind = InboundKind::Ignored {
        reason: "Auto-Submitted: auto-replied".into(),
    };
    let ds = sink
        .ingest(Batch {
            items: vec![bad, auto],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&ds[0]), Outcome::Quarantined);
    assert_eq!(outcome(&ds[1]), Outcome::Ignored);
    assert_eq!(store.count("complaints").await.expect("count"), 0);
    assert_eq!(store.count("intake_rejects").await.expect("count"), 2);
    assert_eq!(store.count("raw_originals").await.expect("count"), 2);
    // Offered again: still one record each.
    let mut bad = complaint("x", "bad1", "t");
    bad.kind = InboundKind::Quarantine {
        reason: "body is not JSON".into(),
    };
    let ds = sink
        .ingest(Batch {
            items: vec![bad],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&ds[0]), Outcome::Duplicate);
    assert_eq!(store.count("intake_rejects").await.expect("count"), 2);
}

async fn cursor_commits_with_its_batch(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let cursor = |v: &str| CursorUpdate {
        channel_name: channel("x"),
        stream: "mentions".into(),
        cursor: Cursor(v.into()),
    };
    sink.ingest(Batch {
        items: vec![complaint("x", "1", "a"), complaint("x", "2", "b")],
        cursor: Some(cursor("2")),
    })
    .await
    .expect("ingest");
    assert_eq!(
        sink.cursor(&channel("x"), "mentions")
            .await
            .expect("cursor"),
        Some(Cursor("2".into()))
    );

    // Break the tables an item needs, including the quarantine fallback: the item cannot
    // be committed, so the cursor must not move past it.
    let rename = |from: &'static str, to: &'static str| {
        let pool = db_pool(&store);
        async move {
            sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
                .execute(&pool)
                .await
                .expect("rename");
        }
    };
    rename("complaints", "complaints_gone").await;
    rename("intake_rejects", "intake_rejects_gone").await;
    let ds = sink
        .ingest(Batch {
            items: vec![complaint("x", "3", "c")],
            cursor: Some(cursor("3")),
        })
        .await
        .expect("ingest");
    assert!(matches!(ds[0], Delivery::Retry { .. }), "{ds:?}");
    rename("complaints_gone", "complaints").await;
    rename("intake_rejects_gone", "intake_rejects").await;
    assert_eq!(
        sink.cursor(&channel("x"), "mentions")
            .await
            .expect("cursor"),
        Some(Cursor("2".into()))
    );
    assert_eq!(
        store.count("complaints").await.expect("count"),
        2,
        "nothing half-written"
    );
    assert_eq!(
        store.count("inbound_keys").await.expect("count"),
        2,
        "nothing half-written"
    );
}

/// An item the database refuses (here: its attachments table is gone) is quarantined
/// with the reason instead of blocking the channel, and nothing of it is half-written.
async fn a_failing_item_is_quarantined_not_half_written(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    sqlx::query("ALTER TABLE attachments RENAME TO attachments_gone")
        .execute(&db_pool(&store))
        .await
        .expect("rename");
    let mut item = complaint("x", "with-file", "Foto jalan");
    if let InboundKind::Complaint(d) = &mut item.kind {
        d.attachments.push(AttachmentData {
            filename: "a.txt".into(),
            content_type: "text/plain".into(),
            bytes: "isi".into(),
        });
    }
    let ds = sink
        .ingest(Batch {
            items: vec![item, complaint("x", "plain", "Tanpa lampiran")],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&ds[0]), Outcome::Quarantined);
    assert_eq!(outcome(&ds[1]), Outcome::Created, "the next item goes on");
    assert_eq!(store.count("complaints").await.expect("count"), 1);
    // Its complaint row was rolled back with its savepoint: only the next item's remains.
    sqlx::query("ALTER TABLE attachments_gone RENAME TO attachments")
        .execute(&db_pool(&store))
        .await
        .expect("rename back");
    assert_eq!(store.count("attachments").await.expect("count"), 0);
    let rec = store
        .complaint(&tracking(&ds[1]))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(rec.title, "Tanpa lampiran");
    assert_eq!(store.count("intake_rejects").await.expect("count"), 1);
}

async fn attachments_are_stored_once_per_content(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let with_file = |ext: &str| {
        let mut item = complaint("x", ext, "Foto");
        if let InboundKind::Complaint(d) = &mut item.kind {
            d.attachments.push(AttachmentData {
                filename: "foto.txt".into(),
                content_type: "text/plain".into(),
                bytes: "sama".into(),
            });
        }
        item
    };
    let a = sink
        .ingest(Batch {
            items: vec![with_file("1")],
            cursor: None,
        })
        .await
        .expect("ingest");
    sink.ingest(Batch {
        items: vec![with_file("2")],
        cursor: None,
    })
    .await
    .expect("ingest");
    assert_eq!(store.count("attachments").await.expect("count"), 2);
    let rec = store
        .complaint(&tracking(&a[0]))
        .await
        .expect("read")
        .expect("exists");
    let sha = &rec.attachments[0].sha256;
    assert_eq!(store.blobs().get(sha).await.expect("blob"), b"sama");
    let blob_dirs: usize = std::fs::read_dir(db.data_dir().join("blobs"))
        .expect("blobs")
        .flatten()
        .filter(|e| e.file_name() != "tmp")
        .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
        .sum();
    assert_eq!(blob_dirs, 1, "identical content stored once");
}

fn outbound(tid: &str, key: &str) -> NewOutbound {
    NewOutbound {
        tracking_id: tid.to_owned(),
        channel_name: channel("x"),
        kind: OutboundKind::Answer,
        idempotency_key: key.to_owned(),
        recipient: Recipient {
            address: "warga@contoh.id".into(),
            name: None,
        },
        subject: Some("Tanggapan".into()),
        body: "Sudah diperbaiki.".into(),
        in_reply_to: Some("t1".into()),
        references: vec!["t1".into()],
    }
}

async fn outbox_claims_are_exclusive_and_sends_recorded(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let d = sink
        .ingest(Batch {
            items: vec![complaint("x", "t1", "Air")],
            cursor: None,
        })
        .await
        .expect("ingest");
    let tid = tracking(&d[0]);
    for i in 0..40 {
        store
            .enqueue_outbound(&outbound(&tid, &format!("k{i}")))
            .await
            .expect("enqueue");
    }
    // Queued twice with one key: one message.
    let id = store
        .enqueue_outbound(&outbound(&tid, "k0"))
        .await
        .expect("enqueue");
    assert_eq!(store.count("outbox").await.expect("count"), 40);

    let lease = Utc::now() + chrono::Duration::seconds(60);
    let mut claims = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        claims.push(tokio::spawn(
            async move { s.claim_outbound(7, lease).await },
        ));
    }
    let mut seen = HashSet::new();
    for c in claims {
        for row in c.await.expect("task").expect("claim") {
            assert!(seen.insert(row.id), "row {} claimed twice", row.id);
        }
    }
    assert_eq!(seen.len(), 40);

    let row = store.outbound(id).await.expect("read").expect("row");
    assert_eq!(row.status, OutboxStatus::Sending);
    store
        .outbound_sent(&row, Some("reply-99"))
        .await
        .expect("sent");
    let row = store.outbound(id).await.expect("read").expect("row");
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.external_id.as_deref(), Some("reply-99"));
    // Recorded once even if reported twice; the reply joins the thread.
    store
        .outbound_sent(&row, Some("reply-99"))
        .await
        .expect("sent again");
    let rec = store.complaint(&tid).await.expect("read").expect("exists");
    assert_eq!(
        rec.messages.iter().filter(|m| m.direction == "out").count(),
        1
    );
    let mut follow = complaint("x", "t2", "Terima kasih");
    follow.thread.refs = vec!["reply-99".into()];
    let d = sink
        .ingest(Batch {
            items: vec![follow],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert_eq!(outcome(&d[0]), Outcome::FollowUp);
    // A published answer shows on the public status.
    let public = store
        .public_report(&tid)
        .await
        .expect("read")
        .expect("exists");
    assert!(public
        .updates
        .iter()
        .any(|u| u.text.as_deref() == Some("Sudah diperbaiki.")));
    // Nothing is due any more: everything is leased or sent.
    assert!(store
        .claim_outbound(100, lease)
        .await
        .expect("claim")
        .is_empty());
}

/// Past a channel's hourly cap, new complaints are filed without a receipt, to anyone;
/// another channel keeps its own count.
async fn receipts_stop_at_the_hourly_cap(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    let with_receipt = |ch: &str, n: usize| {
        let mut item = complaint(ch, &format!("{ch}-{n}"), &format!("Laporan {n}"));
        item.acknowledge = Some(Acknowledgement {
            recipient: Recipient {
                address: format!("warga{n}@contoh.id"),
                name: None,
            },
            subject: Some("Re: [{tracking_id}]".into()),
            body: "Nomor {tracking_id}".into(),
            in_reply_to: None,
            references: Vec::new(),
            once_per: std::time::Duration::ZERO,
            per_hour: Some(3),
        });
        item
    };
    let mut filed = Vec::new();
    for n in 0..5 {
        let d = sink
            .commit(Batch {
                items: vec![with_receipt("surel", n), with_receipt("surel-lain", n)],
                cursor: None,
            })
            .await
            .expect("ingest");
        assert_eq!(outcome(&d[0]), Outcome::Created);
        filed.push((tracking(&d[0]), tracking(&d[1])));
    }
    let mut with_receipts = (0, 0);
    for (a, b) in &filed {
        with_receipts.0 += store.outbound_for(a).await.expect("outbox").len();
        with_receipts.1 += store.outbound_for(b).await.expect("outbox").len();
    }
    assert_eq!(
        with_receipts,
        (3, 3),
        "three receipts per channel in the hour"
    );
    assert_eq!(store.count("complaints").await.expect("count"), 10);
    assert!(
        store
            .outbound_for(&filed[4].0)
            .await
            .expect("outbox")
            .is_empty(),
        "the last ones got none"
    );
}

fn db_pool(store: &Store) -> sqlx::AnyPool {
    store.pool_for_tests()
}

/// Complaints without coordinates, then with them, on the same connections: a NULL
/// `f64` was bound as a NULL `f32` (sqlx #4284), so on PostgreSQL the statement took
/// the coordinate as `float4` and a later complaint with coordinates on that connection
/// was quarantined. (The pool hands connections out in turn: every one of them is
/// used for a complaint without coordinates first.)
async fn coordinates_after_none_are_stored(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = sink(&db).await;
    for i in 0..24 {
        let mut item = complaint("wa", &format!("loc-{i}"), "Jalan berlubang");
        // A sender's conversation, as WhatsApp's messages have: the one-by-one path.
        item.thread.sender = Some(aduan_kit::SenderThread {
            key: format!("wa:6281200000{i:02}"),
            window: std::time::Duration::from_secs(3600),
        });
        if i >= 12 {
            if let InboundKind::Complaint(d) = &mut item.kind {
                d.location = Some(aduan_kit::Location {
                    text: Some("Pasar Siak".into()),
                    lat: Some(0.79),
                    lon: Some(102.05),
                });
            }
        }
        let ds = sink
            .ingest(Batch {
                items: vec![item],
                cursor: None,
            })
            .await
            .expect("ingest");
        assert!(
            matches!(
                ds[0],
                Delivery::Committed {
                    outcome: Outcome::Created,
                    ..
                }
            ),
            "loc-{i}: {ds:?}"
        );
        if i >= 12 {
            let rec = store
                .complaint(&tracking(&ds[0]))
                .await
                .expect("read")
                .expect("record");
            let loc = rec.location.expect("location");
            assert_eq!((loc.lat, loc.lon), (Some(0.79), Some(102.05)));
        }
    }
    assert_eq!(store.count("intake_rejects").await.expect("count"), 0);
}

on_both!(
    ingest_is_idempotent,
    concurrent_ingest_keeps_every_complaint_once,
    follow_ups_join_their_complaint,
    quarantine_and_ignored_keep_raw_and_reason,
    cursor_commits_with_its_batch,
    a_failing_item_is_quarantined_not_half_written,
    attachments_are_stored_once_per_content,
    outbox_claims_are_exclusive_and_sends_recorded,
    receipts_stop_at_the_hourly_cap,
    coordinates_after_none_are_stored,
);
