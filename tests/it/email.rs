//! The e-mail channel against real Dovecot and Postfix on loopback
//! (`scripts/mail-services.sh`, which `scripts/test.sh` runs first).

use std::time::Duration;

use aduan::store::ComplaintFilter;
use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::harness::{
    answer_through_queue, eventually, queue_staff, spawn_app_toml, spawn_app_with, Backend, Options,
};
use crate::on_both;

fn imap_port() -> u16 {
    std::env::var("ADUAN_IMAP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(14143)
}

fn smtp_port() -> u16 {
    std::env::var("ADUAN_SMTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2525)
}

const PASSWORD: &str = "rahasia";

fn mail_dir() -> String {
    std::env::var("ADUAN_MAIL_DIR").unwrap_or_else(|_| "/tmp/aduan-mail".into())
}

type Session = async_imap::Session<TcpStream>;

async fn imap(user: &str) -> Session {
    let tcp = TcpStream::connect(("127.0.0.1", imap_port())).await.unwrap_or_else(|e| {
        panic!("Dovecot is not answering on 127.0.0.1:{}: {e}. Start it with scripts/mail-services.sh", imap_port())
    });
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(user, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// APPEND through a fresh session, retried: right after the folder is recreated or the
/// user's sessions are kicked, Dovecot may refuse it for a moment ("Mailbox was deleted
/// under us", or the kick landing on the new session).
async fn append_fresh(user: &str, folder: &str, raw: &str) {
    let raw = raw.replace('\n', "\r\n");
    let mut last = String::new();
    for _ in 0..50 {
        let mut s = imap(user).await;
        match s.append(folder, None, None, &raw).await {
            Ok(()) => return,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("APPEND to {folder} kept failing: {last}");
}

/// A fresh folder of its own for one test, so tests never see each other's mail.
async fn fresh_folder(session: &mut Session) -> String {
    let folder = format!("t{}", uuid::Uuid::new_v4().simple());
    session.create(&folder).await.expect("CREATE");
    folder
}

async fn append(session: &mut Session, folder: &str, raw: &str) {
    let raw = raw.replace('\n', "\r\n");
    // Right after a folder is deleted and created again, Dovecot may answer "Mailbox was
    // deleted under us" while another session (the channel's) still had it open.
    let mut attempt = 0;
    loop {
        match session.append(folder, None, None, &raw).await {
            Ok(()) => return,
            Err(e) if attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %e, "APPEND retried");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("APPEND: {e}"),
        }
    }
}

/// What our receiving server writes on top of a message whose sender it authenticated
/// (receipts go only to those).
const AUTHENTICATED: &str =
    "Authentication-Results: mx.aduan.test; spf=pass smtp.mailfrom=warga.test; dkim=pass header.d=warga.test\n";

fn mail(id: &str, subject: &str, body: &str, extra: &str) -> String {
    format!(
        "From: Siti Aminah <siti@warga.test>\nTo: pengaduan@aduan.test\nSubject: {subject}\nMessage-ID: <{id}>\nDate: Fri, 27 Nov 2026 10:00:00 +0700\n{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

fn channel_toml(user: &str, folder: &str, password: &str, poll: u64) -> String {
    format!(
        r#"
[[channels]]
kind = "email"
name = "surel"
host = "127.0.0.1"
port = {port}
tls = "plain"
user = "{user}"
password = "{password}"
folders = ["{folder}"]
poll_interval_secs = {poll}
command_timeout_secs = 10
message_id_domain = "aduan.test"
"#,
        port = imap_port()
    )
}

async fn seen_count(session: &mut Session, folder: &str) -> usize {
    session.select(folder).await.expect("SELECT");
    let fetches: Vec<_> = session
        .fetch("1:*", "FLAGS")
        .await
        .expect("FETCH")
        .try_collect()
        .await
        .expect("flags");
    fetches
        .iter()
        .filter(|f| {
            f.flags()
                .any(|fl| matches!(fl, async_imap::types::Flag::Seen))
        })
        .count()
}

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

/// Real SMTP: `MAIL FROM`, `RCPT TO`, `DATA` through Postfix into Dovecot.
async fn send_smtp(to: &str, raw: &str) {
    let stream = TcpStream::connect(("127.0.0.1", smtp_port())).await.unwrap_or_else(|e| {
        panic!("Postfix is not answering on 127.0.0.1:{}: {e}. Start it with scripts/mail-services.sh", smtp_port())
    });
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    async fn expect(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        line: &mut String,
        code: &str,
    ) {
        loop {
            line.clear();
            r.read_line(line).await.expect("SMTP read");
            assert!(
                line.starts_with(code),
                "SMTP: expected {code}, got {line:?}"
            );
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    expect(&mut r, &mut line, "220").await;
    for (cmd, code) in [
        ("EHLO test.local\r\n".to_owned(), "250"),
        ("MAIL FROM:<warga@warga.test>\r\n".to_owned(), "250"),
        (format!("RCPT TO:<{to}>\r\n"), "250"),
        ("DATA\r\n".to_owned(), "354"),
    ] {
        w.write_all(cmd.as_bytes()).await.expect("SMTP write");
        expect(&mut r, &mut line, code).await;
    }
    w.write_all(raw.replace('\n', "\r\n").as_bytes())
        .await
        .expect("SMTP data");
    w.write_all(b"\r\n.\r\n").await.expect("SMTP end");
    expect(&mut r, &mut line, "250").await;
    let _ = w.write_all(b"QUIT\r\n").await;
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

async fn a_refused_login_marks_only_that_channel_unhealthy(b: Backend) {
    let opts = Options {
        extra_toml: channel_toml("pengaduan@aduan.test", "INBOX", "salah-sandi", 1),
        ..Options::default()
    };
    let app = spawn_app_with(b, opts).await;
    let (down, snap) = app
        .await_status("surel", "reauthorize", Duration::from_secs(10))
        .await;
    assert!(down, "{snap:?}");
    assert!(
        snap.last_error.as_deref().unwrap_or("").contains("refused"),
        "{snap:?}"
    );
    assert!(
        !snap
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("salah-sandi"),
        "the password leaked into health"
    );
    // The web form goes on.
    let res = app
        .post_json(
            "/api/v1/reports",
            &serde_json::json!({"title": "t", "body": "b"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    app.stop().await;
}

on_both!(
    mail_is_filed_once_marked_read_and_threaded,
    a_refused_login_marks_only_that_channel_unhealthy
);

fn header_of(raw: &str, name: &str) -> Option<String> {
    let parsed = mailparse::parse_headers(raw.as_bytes()).ok()?.0;
    mailparse::MailHeaderMap::get_first_value(parsed.as_slice(), name)
}

/// The messages in `user`'s INBOX whose subject carries `tag`, as raw text.
async fn inbox_with(user: &str, tag: &str) -> Vec<String> {
    let mut s = imap(user).await;
    s.select("INBOX").await.expect("SELECT");
    let uids = s
        .uid_search(format!("SUBJECT \"{tag}\""))
        .await
        .expect("SEARCH");
    if uids.is_empty() {
        return Vec::new();
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetches: Vec<_> = s
        .uid_fetch(set, "BODY.PEEK[]")
        .await
        .expect("FETCH")
        .try_collect()
        .await
        .expect("fetch");
    fetches
        .iter()
        .filter_map(|f| f.body().map(|b| String::from_utf8_lossy(b).into_owned()))
        .collect()
}

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

on_both!(acknowledgements_thread_back_and_replies_join);

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

on_both!(only_authenticated_senders_get_a_receipt);

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
    let all = eventually(Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) == n }
    })
    .await;
    assert!(
        all,
        "after a restart mid-way: {} of {n}",
        app.count("complaints").await
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
    let recovered = eventually(Duration::from_secs(30), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) == n + 1 }
    })
    .await;
    assert!(
        recovered,
        "reconnected and read the new message: {}",
        app.count("complaints").await
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

on_both!(restarts_uidvalidity_changes_and_dropped_connections_lose_and_repeat_nothing);

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

#[test]
fn check_online_logs_in_to_imap_and_smtp() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("aduan.toml");
    let write = |password: &str| {
        std::fs::write(
            &file,
            format!(
                "data_dir = \"{}\"\n{}smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"pengaduan@aduan.test\" }}\n",
                dir.path().join("data").display(),
                channel_toml("pengaduan@aduan.test", "INBOX", password, 60),
                smtp_port()
            ),
        )
        .expect("write");
    };
    write(PASSWORD);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--online", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("channel surel (email): ok: IMAP login as pengaduan@aduan.test")
            && stdout.contains("SMTP ok"),
        "{stdout}"
    );

    write("salah-sandi");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--online", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("FAILED (AuthExpired)")
            && stdout.contains("refused")
            && !stdout.contains("salah-sandi"),
        "{stdout}"
    );

    // Bearer tokens, on IMAP and on the submission port that requires SMTP AUTH.
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{data}\"\n[[channels]]\nkind = \"email\"\nname = \"surel\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"plain\"\nuser = \"kanal1@aduan.test\"\nauth = \"xoauth2\"\noauth2_token = \"{token}\"\nsmtp = {{ host = \"127.0.0.1\", port = {sub}, tls = \"plain\", from = \"kanal1@aduan.test\", user = \"kanal1@aduan.test\", auth = \"xoauth2\", oauth2_token = \"{token}\" }}\n",
            data = dir.path().join("data").display(),
            imap = imap_port(),
            sub = submission_port(),
            token = bearer_token(),
        ),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--online", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("IMAP login as kanal1@aduan.test")
            && stdout.contains("SMTP ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(&bearer_token()), "the token was printed");
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

fn submission_port() -> u16 {
    std::env::var("ADUAN_SUBMISSION_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2587)
}

/// Every test user's bearer token on the test Dovecot (`ADUAN_MAIL_TOKEN`).
fn bearer_token() -> String {
    std::env::var("ADUAN_MAIL_TOKEN").unwrap_or_else(|_| "bearer-rahasia".into())
}

/// A mailbox and an SMTP submission server that take only bearer tokens (SASL XOAUTH2):
/// a refused token marks the channel for re-authorization without leaking the token; a
/// rotated token file is picked up without a restart; mail is then read, and the
/// receipt goes out through the authenticated submission port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_tokens_read_the_mailbox_and_send_through_submission() {
    let mut admin = imap("kanal2@aduan.test").await;
    let folder = fresh_folder(&mut admin).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    append(
        &mut admin,
        &folder,
        &format!(
            "{AUTHENTICATED}From: Warga Dua <warga2@warga.test>\nTo: kanal2@aduan.test\nSubject: Lampu jalan padam {tag}\nMessage-ID: <x1-{tag}@warga.test>\nContent-Type: text/plain; charset=utf-8\n\nSudah seminggu padam.\n"
        ),
    )
    .await;

    let dir = tempfile::tempdir().expect("tmp");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "kedaluwarsa-123\n").expect("token");
    let toml = format!(
        r#"
[[channels]]
kind = "email"
name = "surel"
host = "127.0.0.1"
port = {imap}
tls = "plain"
user = "kanal2@aduan.test"
auth = "xoauth2"
oauth2_token_path = "{path}"
folders = ["{folder}"]
poll_interval_secs = 1
command_timeout_secs = 10
message_id_domain = "aduan.test"
smtp = {{ host = "127.0.0.1", port = {submission}, tls = "plain", from = "kanal2@aduan.test", user = "kanal2@aduan.test", auth = "xoauth2", oauth2_token_path = "{path}" }}
"#,
        imap = imap_port(),
        submission = submission_port(),
        path = token_file.display(),
    );
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    let (refused, snap) = app
        .await_status("surel", "reauthorize", Duration::from_secs(10))
        .await;
    assert!(refused, "{snap:?}");
    let reason = snap.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("XOAUTH2 login as kanal2@aduan.test refused"),
        "{reason}"
    );
    assert!(
        !reason.contains("kedaluwarsa"),
        "the token leaked into health"
    );
    assert_eq!(app.count("complaints").await, 0);

    // The refresher writes a new token: the channel logs in with it, no restart.
    std::fs::write(&token_file, format!("{}\n", bearer_token())).expect("token");
    let store = app.store.clone();
    let filed = eventually(Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.count("complaints").await.unwrap_or(0) == 1 }
    })
    .await;
    assert!(
        filed,
        "filed after the token was rotated: {:?}",
        app.health("surel").snapshot()
    );
    let arrived = eventually(Duration::from_secs(20), || {
        let tag = tag.clone();
        async move { !inbox_with("warga2@warga.test", &tag).await.is_empty() }
    })
    .await;
    assert!(arrived, "the receipt went out through the submission port");
    let log =
        std::fs::read_to_string(format!("{}/log/postfix.log", mail_dir())).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("sasl_method=XOAUTH2") && l.contains("kanal2@aduan.test")),
        "Postfix did not log an XOAUTH2 login for kanal2"
    );
    let _ = admin.delete(&folder).await;
    app.stop().await;
}

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
