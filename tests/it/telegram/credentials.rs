//! The token: `aduan check --online` calls getMe, and a refused token marks the
//! channel for re-authorization without showing it.

use std::time::Duration;

use super::fake::{channel_toml, FakeBot, SECRET, TOKEN};
use crate::harness::{check_online, spawn_app_toml, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_calls_get_me() {
    let fake = FakeBot::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let run = |token: &str| {
        let channels = channel_toml(&fake.base, &format!("webhook_secret = \"{SECRET}\""))
            .replace(TOKEN, token);
        check_online(dir.path(), &channels)
    };
    let (ok, out, err) = run(TOKEN);
    assert!(
        ok && out.contains("bot @lapor_pemda_bot (7000000001) ok"),
        "{out}{err}"
    );
    let (ok, out, err) = run("7000000001:dicabut-123");
    assert!(
        !ok && out.contains("FAILED (AuthExpired)")
            && !out.contains("dicabut-123")
            && !err.contains("dicabut-123"),
        "{out}{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_marks_the_poller_for_reauthorization() {
    let fake = FakeBot::start().await;
    let toml = channel_toml(&fake.base, "mode = \"polling\"\nlong_poll_secs = 0")
        .replace(TOKEN, "7000000001:dicabut-123");
    let app = spawn_app_toml(Backend::Sqlite, toml).await;
    let (down, snap) = app
        .await_status("tg-siak", "reauthorize", Duration::from_secs(10))
        .await;
    assert!(down, "{snap:?}");
    let reason = snap.last_error.unwrap_or_default();
    assert!(
        reason.contains("re-authorize") && !reason.contains("dicabut-123"),
        "{reason}"
    );
    app.stop().await;
}
