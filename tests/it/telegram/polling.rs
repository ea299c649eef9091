//! `mode = "polling"`: `getUpdates` from the committed offset, the offset committed
//! with the batch it covers, and read back after a restart.

use std::time::Duration;

use aduan_kit::{ChannelName, Cursor};
use serde_json::Value;

use super::fake::{channel_toml, dated, now_secs, FakeBot, SITI};
use crate::harness::{eventually, spawn_app_toml, Backend};
use crate::on_both;

async fn polling_commits_the_offset_with_its_batch(b: Backend) {
    let fake = FakeBot::start().await;
    for name in [
        "private_text.json",
        "command_start.json",
        "group_unaddressed.json",
    ] {
        fake.push_update(dated(name, now_secs()));
    }
    let app = spawn_app_toml(
        b,
        channel_toml(
            &fake.base,
            "mode = \"polling\"\nlong_poll_secs = 0\nbot_username = \"lapor_pemda_bot\"",
        ),
    )
    .await;
    assert!(
        app.await_count("complaints", 1, Duration::from_secs(15))
            .await,
        "the private message filed, the command and the chatter not"
    );
    let name = ChannelName::parse("tg-siak").expect("name");
    let store = app.store.clone();
    let committed = eventually(Duration::from_secs(15), || {
        let (store, name) = (store.clone(), name.clone());
        async move {
            store.cursor(&name, "updates").await.ok().flatten() == Some(Cursor("850000202".into()))
        }
    })
    .await;
    assert!(
        committed,
        "the offset after the newest update was committed"
    );
    let help_and_receipt = eventually(Duration::from_secs(15), || {
        let f = fake.clone();
        async move { f.sent_to(SITI).len() == 2 }
    })
    .await;
    assert!(help_and_receipt, "{:?}", fake.sent_to(SITI));
    assert!(fake
        .calls("getUpdates")
        .iter()
        .any(|c| c.body["offset"] == 850000202));

    // After a restart the poller starts from the committed offset: nothing is read or
    // answered twice.
    let mut more = dated("private_text.json", now_secs());
    more["update_id"] = Value::from(850000300);
    more["message"]["message_id"] = Value::from(80);
    more["message"]["text"] = Value::from("Pohon tumbang menutup Jl. Sudirman.");
    fake.push_update(more);
    let app = app.restart().await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move {
                f.calls("getUpdates")
                    .iter()
                    .any(|c| c.body["offset"] == 850000301)
            }
        })
        .await,
        "the new update was committed"
    );
    let without_offset = fake
        .calls("getUpdates")
        .iter()
        .filter(|c| c.body["offset"].is_null())
        .count();
    assert_eq!(without_offset, 1, "only the very first call had no offset");
    // The follow-up joined Siti's complaint; the help went out once.
    assert_eq!(app.count("complaints").await, 1);
    let rec = app.complaint_from(&format!("{SITI}:41")).await;
    assert_eq!(
        rec.messages.iter().filter(|m| m.direction == "in").count(),
        2
    );
    let helps = fake
        .sent_to(SITI)
        .iter()
        .filter(|s| {
            s["text"]
                .as_str()
                .is_some_and(|t| t.contains("Selamat datang"))
        })
        .count();
    assert_eq!(helps, 1);
    app.stop().await;
}

on_both!(polling_commits_the_offset_with_its_batch);
