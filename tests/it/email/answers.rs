//! The queue's answers by e-mail: threaded under the citizen's message, re-opened by
//! the citizen's reply, and sent to web-form reporters who gave an address.

use std::time::Duration;

use aduan::store::ComplaintFilter;

use super::mail_server::{
    append, channel_toml, fresh_folder, header_of, imap, inbox_with, smtp_port, AUTHENTICATED,
    PASSWORD,
};
use crate::harness::{answer_through_queue, eventually, queue_staff, spawn_app_toml, Backend};

/// The queue's answer to an e-mail complaint goes back by e-mail, threaded under the
/// citizen's message, once approved by the unit's liaison; the citizen's reply to it
/// re-opens the complaint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_answer_reaches_the_citizens_mailbox_and_a_reply_reopens() {
    let mut admin = imap("pengaduan2@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    append(
        &mut admin,
        &folder,
        &format!(
            "{AUTHENTICATED}From: Warga Siak <warga@warga.test>\nTo: pengaduan2@aduan.test\nSubject: Drainase tersumbat {tag}\nMessage-ID: <q1-{tag}@warga.test>\nContent-Type: text/plain; charset=utf-8\n\nAir meluap ke jalan.\n"
        ),
    )
    .await;
    let mut toml = channel_toml("pengaduan2@aduan.test", &folder, PASSWORD, 1);
    toml.push_str(&format!(
        "smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"pengaduan2@aduan.test\" }}\n",
        smtp_port()
    ));
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    assert!(
        app.await_count("complaints", 1, Duration::from_secs(15))
            .await
    );
    let tracking = app
        .store
        .complaints(&ComplaintFilter::default())
        .await
        .expect("list")[0]
        .tracking_id
        .clone();
    let store = app.store.clone();
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&store, "dpupr", "antrian").await;
    answer_through_queue(
        &queue,
        &staff,
        &tracking,
        &format!("Saluran dibersihkan hari ini {tag}."),
    )
    .await;
    // The receipt came first; the answer follows in the same thread.
    let answered = eventually(Duration::from_secs(20), || {
        let tag = tag.clone();
        async move {
            inbox_with("warga@warga.test", &tag)
                .await
                .iter()
                .any(|m| m.contains("Saluran dibersihkan"))
        }
    })
    .await;
    assert!(answered, "the answer reached the citizen's mailbox");
    let mails = inbox_with("warga@warga.test", &tag).await;
    let answer = mails
        .iter()
        .find(|m| m.contains("Saluran dibersihkan"))
        .expect("answer");
    assert_eq!(
        header_of(answer, "In-Reply-To").as_deref(),
        Some(format!("<q1-{tag}@warga.test>").as_str())
    );
    assert_eq!(
        header_of(answer, "Subject").as_deref(),
        Some(format!("Re: Drainase tersumbat {tag} [{tracking}]").as_str())
    );
    assert_eq!(header_of(answer, "Auto-Submitted").as_deref(), Some("no"));
    assert!(answer.contains(&format!("https://lapor.contoh.go.id/laporan/{tracking}")));
    let answer_id = header_of(answer, "Message-ID").expect("Message-ID");

    // The citizen answers back: the reply joins and the complaint is open again.
    append(
        &mut admin,
        &folder,
        &format!(
            "From: Warga Siak <warga@warga.test>\nTo: pengaduan2@aduan.test\nSubject: Re: Drainase tersumbat {tag} [{tracking}]\nMessage-ID: <q2-{tag}@warga.test>\nIn-Reply-To: {answer_id}\nContent-Type: text/plain; charset=utf-8\n\nMasih meluap.\n"
        ),
    )
    .await;
    let reopened = eventually(Duration::from_secs(15), || {
        let store = store.clone();
        let tracking = tracking.clone();
        async move {
            store
                .complaint(&tracking)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.status == "in_progress")
        }
    })
    .await;
    assert!(reopened, "the reply re-opened the complaint");
    assert_eq!(app.count("complaints").await, 1);

    // A web-form report with an address: the answer is on its status page and in the
    // reporter's mailbox, through the e-mail channel.
    let res = app
        .post_json(
            "/api/v1/reports",
            &serde_json::json!({"title": format!("Pohon tumbang {tag}"), "body": "Menutup jalan desa.",
                                "name": "Warga Dua", "email": "warga2@warga.test"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let web: serde_json::Value = res.json().await.expect("json");
    let web = web["tracking_id"].as_str().expect("tracking").to_owned();
    answer_through_queue(&queue, &staff, &web, "Pohon sudah dipotong.").await;
    let mailed = eventually(Duration::from_secs(20), || {
        let tag = tag.clone();
        async move {
            inbox_with("warga2@warga.test", &tag)
                .await
                .iter()
                .any(|m| m.contains("Pohon sudah dipotong"))
        }
    })
    .await;
    assert!(mailed, "the web-form reporter got the answer by e-mail");
    let status = app.get_text(&format!("/api/v1/reports/{web}")).await;
    assert!(status.contains("Pohon sudah dipotong"), "{status}");
    let _ = admin.delete(&folder).await;
    app.stop().await;
}
