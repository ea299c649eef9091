//! The Page token: an expired one marks only this channel for re-authorization, and
//! `aduan check --online` checks it is the Page's and may read.

use std::time::Duration;

use serde_json::json;

use super::fake::{channel_toml, FakeGraph, TOKEN};
use crate::harness::{check_online, spawn_app_toml, Backend};

/// An expired token (code 190) marks this channel for re-authorization, with the
/// reason and without the token, while the web form goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_marks_only_this_channel() {
    let fake = FakeGraph::start().await;
    let toml = channel_toml(&fake.base, "poll_interval_secs = 1").replace(TOKEN, "kedaluwarsa-123");
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    let (down, snap) = app
        .await_status("fb-siak", "reauthorize", Duration::from_secs(10))
        .await;
    assert!(down, "{snap:?}");
    let reason = snap.last_error.unwrap_or_default();
    assert!(
        reason.contains("re-authorize")
            && reason.contains("#190")
            && !reason.contains("kedaluwarsa-123"),
        "{reason}"
    );
    let res = app
        .post_json("/api/v1/reports", &json!({"title": "t", "body": "b"}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    app.stop().await;
}

/// `aduan check --online` checks that the token is the Page's and may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_verifies_the_page_token() {
    let fake = FakeGraph::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let run = |token: &str| {
        let (ok, out, _) = check_online(
            dir.path(),
            &channel_toml(&fake.base, "").replace(TOKEN, token),
        );
        (ok, out)
    };
    let (ok, out) = run(TOKEN);
    assert!(
        ok && out.contains("Page token ok (Pemkab Siak); feed readable; conversations readable"),
        "{out}"
    );
    let (ok, out) = run("kedaluwarsa-123");
    assert!(
        !ok && out.contains("FAILED (AuthExpired)") && !out.contains("kedaluwarsa-123"),
        "{out}"
    );
}
