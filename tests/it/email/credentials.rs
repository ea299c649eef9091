//! Logging in: a refused password marks only that channel, `aduan check --online`
//! logs in to IMAP and SMTP, and bearer tokens (XOAUTH2) are read from a file that may
//! be rotated under the running channel.

use std::time::Duration;

use super::mail_server::{
    append, bearer_token, channel_toml, fresh_folder, imap, imap_port, inbox_with, mail_dir,
    smtp_port, submission_port, AUTHENTICATED, PASSWORD,
};
use crate::harness::{check_online, eventually, spawn_app_toml, spawn_app_with, Backend, Options};
use crate::on_both;

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

on_both!(a_refused_login_marks_only_that_channel_unhealthy);

#[test]
fn check_online_logs_in_to_imap_and_smtp() {
    let dir = tempfile::tempdir().expect("tmp");
    let with_password = |password: &str| {
        format!(
            "{}smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"pengaduan@aduan.test\" }}\n",
            channel_toml("pengaduan@aduan.test", "INBOX", password, 60),
            smtp_port()
        )
    };
    let (ok, stdout, stderr) = check_online(dir.path(), &with_password(PASSWORD));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("channel surel (email): ok: IMAP login as pengaduan@aduan.test")
            && stdout.contains("SMTP ok"),
        "{stdout}"
    );

    let (ok, stdout, _) = check_online(dir.path(), &with_password("salah-sandi"));
    assert!(!ok);
    assert!(
        stdout.contains("FAILED (AuthExpired)")
            && stdout.contains("refused")
            && !stdout.contains("salah-sandi"),
        "{stdout}"
    );

    // Bearer tokens, on IMAP and on the submission port that requires SMTP AUTH.
    let channels = format!(
        "[[channels]]\nkind = \"email\"\nname = \"surel\"\nhost = \"127.0.0.1\"\nport = {imap}\ntls = \"plain\"\nuser = \"kanal1@aduan.test\"\nauth = \"xoauth2\"\noauth2_token = \"{token}\"\nsmtp = {{ host = \"127.0.0.1\", port = {sub}, tls = \"plain\", from = \"kanal1@aduan.test\", user = \"kanal1@aduan.test\", auth = \"xoauth2\", oauth2_token = \"{token}\" }}\n",
        imap = imap_port(),
        sub = submission_port(),
        token = bearer_token(),
    );
    let (ok, stdout, stderr) = check_online(dir.path(), &channels);
    assert!(
        ok && stdout.contains("IMAP login as kanal1@aduan.test") && stdout.contains("SMTP ok"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains(&bearer_token()), "the token was printed");
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
