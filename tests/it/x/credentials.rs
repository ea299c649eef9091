//! The credentials: `aduan check --online` checks the bearer token and the OAuth 1.0a
//! account, and a refused token marks only this channel for re-authorization.

use std::time::Duration;

use serde_json::json;

use super::fake::{channel_toml, FakeX};
use crate::harness::{check_online, spawn_app_toml, Backend};

/// `aduan check --online` checks the bearer token and the OAuth 1.0a account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_verifies_the_credentials() {
    let fake = FakeX::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let run = |bearer: &str| {
        let channels = channel_toml(&fake.base, "").replace("bearer-contoh", bearer);
        let (ok, out, _) = check_online(dir.path(), &channels);
        (ok, out)
    };
    let (ok, out) = run("bearer-contoh");
    assert!(
        ok && out.contains("bearer token ok (@PemkabSiak)")
            && out.contains("OAuth 1.0a user context ok"),
        "{out}"
    );
    let (ok, out) = run("kedaluwarsa");
    assert!(
        !ok && out.contains("FAILED (AuthExpired)") && !out.contains("kedaluwarsa"),
        "{out}"
    );
}

/// A refused bearer token marks this channel for re-authorization, with the reason and
/// without the token, while the web form goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_marks_only_this_channel_unhealthy() {
    let fake = FakeX::start().await;
    let toml =
        channel_toml(&fake.base, "poll_interval_secs = 1").replace("bearer-contoh", "dicabut-123");
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    let (down, snap) = app
        .await_status("x-siak", "reauthorize", Duration::from_secs(10))
        .await;
    assert!(down, "{snap:?}");
    let reason = snap.last_error.unwrap_or_default();
    assert!(
        reason.contains("refused the credentials") && !reason.contains("dicabut-123"),
        "{reason}"
    );
    let res = app
        .post_json("/api/v1/reports", &json!({"title": "t", "body": "b"}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    app.stop().await;
}
