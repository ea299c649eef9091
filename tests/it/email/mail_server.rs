//! The test mail servers' side: IMAP sessions and folders of one test's own, messages
//! appended or sent through SMTP, and what reached a user's inbox.

use std::time::Duration;

use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub(super) fn imap_port() -> u16 {
    std::env::var("ADUAN_IMAP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(14143)
}

pub(crate) fn smtp_port() -> u16 {
    std::env::var("ADUAN_SMTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2525)
}

pub(super) fn submission_port() -> u16 {
    std::env::var("ADUAN_SUBMISSION_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2587)
}

pub(crate) const PASSWORD: &str = "rahasia";

/// Every test user's bearer token on the test Dovecot (`ADUAN_MAIL_TOKEN`).
pub(super) fn bearer_token() -> String {
    std::env::var("ADUAN_MAIL_TOKEN").unwrap_or_else(|_| "bearer-rahasia".into())
}

pub(super) fn mail_dir() -> String {
    std::env::var("ADUAN_MAIL_DIR").unwrap_or_else(|_| "/tmp/aduan-mail".into())
}

type Session = async_imap::Session<TcpStream>;

pub(crate) async fn imap(user: &str) -> Session {
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
pub(crate) async fn append_fresh(user: &str, folder: &str, raw: &str) {
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
pub(crate) async fn fresh_folder(session: &mut Session) -> String {
    let folder = format!("t{}", uuid::Uuid::new_v4().simple());
    session.create(&folder).await.expect("CREATE");
    folder
}

pub(super) async fn append(session: &mut Session, folder: &str, raw: &str) {
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
pub(crate) const AUTHENTICATED: &str =
    "Authentication-Results: mx.aduan.test; spf=pass smtp.mailfrom=warga.test; dkim=pass header.d=warga.test\n";

pub(super) fn mail(id: &str, subject: &str, body: &str, extra: &str) -> String {
    format!(
        "From: Siti Aminah <siti@warga.test>\nTo: pengaduan@aduan.test\nSubject: {subject}\nMessage-ID: <{id}>\nDate: Fri, 27 Nov 2026 10:00:00 +0700\n{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

pub(crate) fn channel_toml(user: &str, folder: &str, password: &str, poll: u64) -> String {
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

pub(super) async fn seen_count(session: &mut Session, folder: &str) -> usize {
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

/// Real SMTP: `MAIL FROM`, `RCPT TO`, `DATA` through Postfix into Dovecot.
pub(super) async fn send_smtp(to: &str, raw: &str) {
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

pub(crate) fn header_of(raw: &str, name: &str) -> Option<String> {
    let parsed = mailparse::parse_headers(raw.as_bytes()).ok()?.0;
    mailparse::MailHeaderMap::get_first_value(parsed.as_slice(), name)
}

/// The messages in `user`'s INBOX whose subject carries `tag`, as raw text.
pub(crate) async fn inbox_with(user: &str, tag: &str) -> Vec<String> {
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
