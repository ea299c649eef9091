//! Receipts: one per sender per window, threaded under the citizen's message, replies
//! to them joining the complaint; and only to senders our receiving server
//! authenticated.

use std::time::Duration;

use aduan::store::ComplaintFilter;

use super::mail_server::{
    append, channel_toml, fresh_folder, header_of, imap, inbox_with, smtp_port, AUTHENTICATED,
    PASSWORD,
};
use crate::harness::{eventually, spawn_app_toml, Backend};
use crate::on_both;

async fn acknowledgements_thread_back_and_replies_join(b: Backend) {
    let mut admin = imap("pengaduan@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let citizen = |id: &str, subject: &str, extra: &str| {
        format!(
            "{AUTHENTICATED}From: Warga Siak <warga@warga.test>\nTo: pengaduan@aduan.test\nSubject: {subject}\nMessage-ID: <{id}>\n{extra}Content-Type: text/plain; charset=utf-8\n\nMohon ditindaklanjuti.\n"
        )
    };
    append(
        &mut admin,
        &folder,
        &citizen(
            &format!("c1-{tag}@warga.test"),
            &format!("Air mati {tag}"),
            "",
        ),
    )
    .await;
    // The same sender again within the window: filed, but not acknowledged twice.
    append(
        &mut admin,
        &folder,
        &citizen(
            &format!("c2-{tag}@warga.test"),
            &format!("Jalan rusak {tag}"),
            "",
        ),
    )
    .await;
    // An auto-reply: never filed, never answered.
    append(
        &mut admin,
        &folder,
        &citizen(
            &format!("c3-{tag}@warga.test"),
            &format!("Out of office {tag}"),
            "Auto-Submitted: auto-replied\n",
        ),
    )
    .await;

    let mut toml = channel_toml("pengaduan@aduan.test", &folder, PASSWORD, 1);
    toml.push_str(&format!(
        "smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"pengaduan@aduan.test\", from_name = \"Layanan Pengaduan\" }}\n",
        smtp_port()
    ));
    let app = spawn_app_toml(b, toml).await;
    assert!(
        app.await_count("complaints", 2, Duration::from_secs(15))
            .await,
        "two complaints filed"
    );
    let list = app
        .store
        .complaints(&ComplaintFilter::default())
        .await
        .expect("list");
    let first = list
        .iter()
        .find(|c| c.title == format!("Air mati {tag}"))
        .expect("first")
        .tracking_id
        .clone();
    let second = list
        .iter()
        .find(|c| c.title == format!("Jalan rusak {tag}"))
        .expect("second")
        .tracking_id
        .clone();
    assert!(
        app.store
            .outbound_for(&second)
            .await
            .expect("outbox")
            .is_empty(),
        "one receipt per sender per window"
    );

    let arrived = eventually(Duration::from_secs(15), || {
        let tag = tag.clone();
        async move { !inbox_with("warga@warga.test", &tag).await.is_empty() }
    })
    .await;
    assert!(arrived, "the acknowledgement reached the citizen's mailbox");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acks = inbox_with("warga@warga.test", &tag).await;
    assert_eq!(
        acks.len(),
        1,
        "exactly one receipt, none for the auto-reply"
    );
    let ack = &acks[0];
    assert_eq!(
        header_of(ack, "Subject").as_deref(),
        Some(format!("Re: Air mati {tag} [{first}]").as_str())
    );
    assert_eq!(
        header_of(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header_of(ack, "In-Reply-To").as_deref(),
        Some(format!("<c1-{tag}@warga.test>").as_str())
    );
    assert!(header_of(ack, "References")
        .unwrap_or_default()
        .contains(&format!("<c1-{tag}@warga.test>")));
    let ack_id = header_of(ack, "Message-ID").expect("Message-ID");
    assert!(ack_id.ends_with("@aduan.test>"), "{ack_id}");
    assert!(
        ack.contains(&first)
            && ack.contains(&format!("https://lapor.contoh.go.id/laporan/{first}")),
        "{ack}"
    );

    // The citizen answers the receipt: the reply joins the first complaint.
    let reply = citizen(
        &format!("c4-{tag}@warga.test"),
        &format!("Re: Air mati {tag} [{first}]"),
        &format!("In-Reply-To: {ack_id}\nReferences: <c1-{tag}@warga.test> {ack_id}\n"),
    );
    append(&mut admin, &folder, &reply).await;
    let store = app.store.clone();
    let joined = eventually(Duration::from_secs(15), || {
        let store = store.clone();
        let first = first.clone();
        async move {
            store
                .complaint(&first)
                .await
                .ok()
                .flatten()
                .map(|r| r.messages.iter().filter(|m| m.direction == "in").count())
                == Some(2)
        }
    })
    .await;
    assert!(joined, "the reply to the receipt joined its complaint");
    assert_eq!(app.count("complaints").await, 2);
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

/// Receipts are not a relay: a message whose sender our receiving server did not
/// authenticate (no header, a pass forged below the server's own header, a pass for
/// another domain) is filed without one; an authenticated one gets it, at its From
/// address when its Reply-To is in another domain.
async fn only_authenticated_senders_get_a_receipt(b: Backend) {
    let mut admin = imap("pengaduan@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let message = |id: &str, from: &str, headers: &str| {
        format!(
            "{headers}From: {from}\nTo: pengaduan@aduan.test\nSubject: Laporan {id} {tag}\nMessage-ID: <{id}-{tag}@warga.test>\nContent-Type: text/plain; charset=utf-8\n\nMohon dibantu.\n"
        )
    };
    let cases = [
        ("asli", "Warga Siak <warga@warga.test>", AUTHENTICATED.to_owned()),
        ("polos", "Warga Siak <warga@warga.test>", String::new()),
        (
            "sisip",
            "Warga Siak <warga@warga.test>",
            "Authentication-Results: mx.aduan.test; spf=softfail smtp.mailfrom=warga.test; dkim=none\nAuthentication-Results: mx.aduan.test; spf=pass smtp.mailfrom=warga.test; dkim=pass header.d=warga.test\n".to_owned(),
        ),
        (
            "lain",
            "Warga Siak <warga@warga.test>",
            "Authentication-Results: mx.aduan.test; spf=pass smtp.mailfrom=penipu@palsu.test; dkim=pass header.d=palsu.test\n".to_owned(),
        ),
        (
            "balas",
            "Warga Dua <warga2@warga.test>",
            format!("{AUTHENTICATED}Reply-To: kanal1@aduan.test\n"),
        ),
    ];
    for (id, from, headers) in &cases {
        append(&mut admin, &folder, &message(id, from, headers)).await;
    }
    let mut toml = channel_toml("pengaduan@aduan.test", &folder, PASSWORD, 1);
    // Every message its own receipt, were it not for the checks.
    toml.push_str(&format!(
        "smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"pengaduan@aduan.test\" }}\nack = {{ window_secs = 0 }}\n",
        smtp_port()
    ));
    let app = spawn_app_toml(b, toml).await;
    assert!(
        app.await_count("complaints", 5, Duration::from_secs(15))
            .await,
        "every message is filed, with a receipt or without"
    );
    let mut receipts = Vec::new();
    for (id, _, _) in &cases {
        let rec = app
            .complaint_from(&format!("<{id}-{tag}@warga.test>"))
            .await;
        let out = app
            .store
            .outbound_for(&rec.tracking_id)
            .await
            .expect("outbox");
        receipts.push((
            *id,
            out.iter()
                .map(|o| o.message.recipient.address.clone())
                .collect::<Vec<_>>(),
        ));
    }
    assert_eq!(
        receipts,
        vec![
            ("asli", vec!["warga@warga.test".to_owned()]),
            ("polos", vec![]),
            ("sisip", vec![]),
            ("lain", vec![]),
            ("balas", vec!["warga2@warga.test".to_owned()]),
        ]
    );
    let arrived = eventually(Duration::from_secs(15), || {
        let tag = tag.clone();
        async move { !inbox_with("warga@warga.test", &tag).await.is_empty() }
    })
    .await;
    assert!(arrived, "the authenticated sender's receipt was delivered");
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

on_both!(
    acknowledgements_thread_back_and_replies_join,
    only_authenticated_senders_get_a_receipt
);
