//! Mail filed from a mailbox: once, marked read after the commit, threaded; quickly
//! under IDLE; through restarts, a new UIDVALIDITY and dropped connections; with its
//! attachments; and the hostile corpus from a real mailbox.

use std::time::Duration;

use aduan::store::ComplaintFilter;

use super::mail_server::{
    append, append_fresh, channel_toml, fresh_folder, imap, mail, mail_dir, seen_count, send_smtp,
    PASSWORD,
};
use crate::harness::{eventually, spawn_app_toml, spawn_app_with, Backend, Options};
use crate::on_both;

async fn mail_is_filed_once_marked_read_and_threaded(b: Backend) {
    let mut admin = imap("pengaduan@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    append(
        &mut admin,
        &folder,
        &mail(
            &format!("a-{tag}@warga.test"),
            "Air PDAM mati",
            "Sudah tiga hari air tidak mengalir.",
            "",
        ),
    )
    .await;
    append(
        &mut admin,
        &folder,
        &mail(
            &format!("b-{tag}@warga.test"),
            "Jalan berlubang",
            "Lubang besar di Jl. Sudirman.",
            "",
        ),
    )
    .await;
    append(
        &mut admin,
        &folder,
        &mail(
            &format!("c-{tag}@warga.test"),
            "Out of office",
            "Saya sedang cuti.",
            "Auto-Submitted: auto-replied\n",
        ),
    )
    .await;

    let opts = Options {
        extra_toml: channel_toml("pengaduan@aduan.test", &folder, PASSWORD, 1),
        ..Options::default()
    };
    let app = spawn_app_with(b, opts).await;
    let store = app.store.clone();
    let filed = eventually(Duration::from_secs(15), || {
        let store = store.clone();
        async move {
            store.count("complaints").await.unwrap_or(0) == 2
                && store.count("intake_rejects").await.unwrap_or(0) == 1
        }
    })
    .await;
    assert!(filed, "two complaints and one ignored auto-reply");
    let mut seen = 0;
    for _ in 0..50 {
        seen = seen_count(&mut admin, &folder).await;
        if seen == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 3,
        "every stored message marked \\Seen after the commit"
    );

    // A restart reads from the committed cursor: nothing again, nothing lost.
    let app = app.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.count("complaints").await, 2);
    assert_eq!(app.count("intake_rejects").await, 1);

    // The citizen's reply joins the complaint.
    let reply = mail(
        &format!("d-{tag}@warga.test"),
        "Re: Air PDAM mati",
        "Sampai hari ini belum ada perbaikan.",
        &format!("In-Reply-To: <a-{tag}@warga.test>\nReferences: <a-{tag}@warga.test>\n"),
    );
    append(&mut admin, &folder, &reply).await;
    let store = app.store.clone();
    let joined = eventually(Duration::from_secs(15), || {
        let store = store.clone();
        async move {
            let list = store
                .complaints(&ComplaintFilter::default())
                .await
                .unwrap_or_default();
            let Some(c) = list.iter().find(|c| c.title == "Air PDAM mati") else {
                return false;
            };
            store
                .complaint(&c.tracking_id)
                .await
                .ok()
                .flatten()
                .map(|r| r.messages.len())
                == Some(2)
        }
    })
    .await;
    assert!(joined, "the reply joined its complaint");
    assert_eq!(app.count("complaints").await, 2);
    let list = app
        .store
        .complaints(&ComplaintFilter::default())
        .await
        .expect("list");
    let rec = list
        .iter()
        .find(|c| c.title == "Jalan berlubang")
        .expect("filed");
    assert_eq!(rec.channel, "email");
    assert_eq!(
        rec.reporter
            .as_ref()
            .and_then(|r| r.email.clone())
            .as_deref(),
        Some("siti@warga.test")
    );
    assert_eq!(
        rec.reporter
            .as_ref()
            .and_then(|r| r.name.clone())
            .as_deref(),
        Some("Siti Aminah")
    );
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_delivered_by_smtp_is_filed_within_two_seconds_under_idle() {
    let user = "pengaduan2@aduan.test";
    // Polling once an hour: only IDLE can bring the mail in quickly.
    let opts = Options {
        extra_toml: channel_toml(user, "INBOX", PASSWORD, 3600),
        ..Options::default()
    };
    let app = spawn_app_with(Backend::Sqlite, opts).await;
    let store = app.store.clone();
    assert!(
        app.await_status("surel", "ok", Duration::from_secs(10))
            .await
            .0,
        "channel up"
    );
    // Let it read what older runs left and settle into IDLE.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let subject = format!("Lampu jalan mati {}", uuid::Uuid::new_v4().simple());
    let raw = mail(
        &format!("{}@warga.test", uuid::Uuid::new_v4().simple()),
        &subject,
        "Lampu di depan masjid mati.",
        "",
    );
    send_smtp(user, &raw).await;
    let filed = eventually(Duration::from_secs(2), || {
        let store = store.clone();
        let subject = subject.clone();
        async move {
            let list = store
                .complaints(&ComplaintFilter {
                    status: None,
                    limit: 50,
                })
                .await
                .unwrap_or_default();
            list.iter().any(|c| c.title == subject)
        }
    })
    .await;
    assert!(filed, "not filed within 2 s of delivery while in IDLE");
    app.stop().await;
}

/// Stops the app while a mailbox is being read one message per transaction, starts it
/// again, then recreates the folder (a new UIDVALIDITY) with the same mail and drops the
/// IMAP connection under it: every message is filed exactly once throughout.
async fn restarts_uidvalidity_changes_and_dropped_connections_lose_and_repeat_nothing(b: Backend) {
    // A mailbox of its own: the server-side kick below cuts every session of its user.
    let user = if b == Backend::Sqlite {
        "kanal1@aduan.test"
    } else {
        "kanal2@aduan.test"
    };
    let mut admin = imap(user).await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let n = 30;
    let messages: Vec<String> = (0..n)
        .map(|i| {
            mail(
                &format!("m{i}-{tag}@warga.test"),
                &format!("Laporan {i} {tag}"),
                "Isi laporan.",
                "",
            )
        })
        .collect();
    for m in &messages {
        append(&mut admin, &folder, m).await;
    }
    let mut toml = channel_toml(user, &folder, PASSWORD, 1);
    toml.push_str("batch_size = 1\nafter_ingest = \"none\"\n");
    let app = spawn_app_toml(b, toml).await;
    // Stop it part-way through.
    let store = app.store.clone();
    eventually(Duration::from_secs(15), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) >= 3 }
    })
    .await;
    let app = app.restart().await;
    let store = app.store.clone();
    // Generous: the windows only matter when something is wrong, and CI machines are
    // busy. The channel's health says why when they pass.
    let all = eventually(Duration::from_secs(60), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) >= n }
    })
    .await;
    assert!(
        all,
        "after a restart mid-way: {} of {n}; channel: {:?}",
        app.count("complaints").await,
        app.health("surel").snapshot()
    );
    assert_eq!(
        app.count("complaints").await,
        n,
        "the restart filed nothing twice"
    );

    // The folder is deleted and made again: same name, new UIDVALIDITY, same messages.
    admin.select("INBOX").await.expect("SELECT");
    admin.delete(&folder).await.expect("DELETE");
    admin.create(&folder).await.expect("CREATE");
    for m in &messages {
        append_fresh(user, &folder, m).await;
    }
    // And the channel's connection is cut from the server side.
    let kicked = std::process::Command::new("doveadm")
        .args([
            "-c",
            &format!("{}/dovecot/dovecot.conf", mail_dir()),
            "kick",
            user,
        ])
        .output();
    assert!(
        kicked.map(|o| o.status.success()).unwrap_or(false),
        "doveadm kick failed"
    );
    let extra = mail(
        &format!("x-{tag}@warga.test"),
        &format!("Laporan baru {tag}"),
        "Setelah sambungan putus.",
        "",
    );
    append_fresh(user, &folder, &extra).await;
    let mut admin = imap(user).await;
    let store = app.store.clone();
    let recovered = eventually(Duration::from_secs(60), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) > n }
    })
    .await;
    assert!(
        recovered,
        "reconnected and read the new message: {} of {}; channel: {:?}",
        app.count("complaints").await,
        n + 1,
        app.health("surel").snapshot()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.count("complaints").await,
        n + 1,
        "the rescan after UIDVALIDITY changed filed nothing twice"
    );
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_kept_and_mail_is_moved_after_the_commit() {
    let mut admin = imap("pengaduan@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let done = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let png = base64_png();
    let raw = format!(
        "From: Budi <budi@warga.test>\nTo: pengaduan@aduan.test\nSubject: Foto jalan {tag}\nMessage-ID: <p-{tag}@warga.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nFoto lubang terlampir.\n--b1\nContent-Type: image/png; name=\"lubang.png\"\nContent-Disposition: attachment; filename=\"lubang.png\"\nContent-Transfer-Encoding: base64\n\n{png}\n--b1--\n"
    );
    append(&mut admin, &folder, &raw).await;
    let mut toml = channel_toml("pengaduan@aduan.test", &folder, PASSWORD, 1);
    toml.push_str(&format!("after_ingest = \"move\"\nmove_to = \"{done}\"\n"));
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    assert!(
        app.await_count("complaints", 1, Duration::from_secs(15))
            .await
    );
    let list = app
        .store
        .complaints(&ComplaintFilter::default())
        .await
        .expect("list");
    let rec = app
        .store
        .complaint(&list[0].tracking_id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(rec.attachments.len(), 1);
    assert_eq!(rec.attachments[0].filename, "lubang.png");
    assert_eq!(
        app.store
            .blobs()
            .get(&rec.attachments[0].sha256)
            .await
            .expect("blob"),
        crate::api::PNG
    );
    let mut moved = false;
    for _ in 0..50 {
        let src = admin.select(&folder).await.expect("SELECT").exists;
        let dst = admin.select(&done).await.expect("SELECT").exists;
        if src == 0 && dst == 1 {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moved, "moved to {done} after the commit");
    admin.select("INBOX").await.expect("SELECT");
    let _ = admin.delete(&folder).await;
    let _ = admin.delete(&done).await;
    app.stop().await;
}

fn base64_png() -> String {
    use std::fmt::Write as _;
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in crate::api::PNG.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The hostile corpus, delivered into a real mailbox: every message the server accepts
/// ends as exactly one record (a complaint, an ignored loop or a quarantine), and the
/// channel never stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_corpus_read_from_a_real_mailbox() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/email/tests/corpus");
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("manifest");
    let mut admin = imap("pengaduan@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let (mut appended, mut ignored) = (0i64, 0i64);
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let raw = std::fs::read(corpus.join(cols[0])).expect("corpus file");
        if raw.is_empty() {
            continue; // IMAP cannot hold a zero-byte message.
        }
        if admin.append(&folder, None, None, &raw).await.is_ok() {
            appended += 1;
            if cols.get(1) == Some(&"ignored") {
                ignored += 1;
            }
        }
    }
    assert!(
        appended >= 60,
        "the server took only {appended} corpus messages"
    );
    let opts = Options {
        extra_toml: channel_toml("pengaduan@aduan.test", &folder, PASSWORD, 1),
        ..Options::default()
    };
    let app = spawn_app_with(Backend::Sqlite, opts).await;
    let store = app.store.clone();
    let all = eventually(Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            store.count("complaints").await.unwrap_or(0)
                + store.count("intake_rejects").await.unwrap_or(0)
                >= appended
        }
    })
    .await;
    let (complaints, rejects) = (
        app.count("complaints").await,
        app.count("intake_rejects").await,
    );
    assert!(
        all,
        "{complaints} complaints + {rejects} rejects of {appended} messages"
    );
    // Follow-ups of unknown complaints are complaints; nothing is counted twice.
    assert_eq!(complaints + rejects, appended);
    let ignored_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_rejects WHERE disposition = 'ignored'")
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("count");
    assert_eq!(
        ignored_rows, ignored,
        "every loop message ignored, and only those"
    );
    let health = app.health("surel").snapshot();
    assert!(health.healthy, "the channel kept going: {health:?}");
    admin.select("INBOX").await.expect("SELECT");
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

on_both!(
    mail_is_filed_once_marked_read_and_threaded,
    restarts_uidvalidity_changes_and_dropped_connections_lose_and_repeat_nothing
);
