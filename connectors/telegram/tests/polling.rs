//! `getUpdates` against a small fake of the Bot API: nothing is lost when the store
//! fails, and the offset is committed with the batch it covers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aduan_kit::testing::{check_inbound, check_pull, MemorySink};
use aduan_kit::{ChannelName, Cursor, PullSource};
use aduan_telegram::api::BotApi;
use aduan_telegram::commands::Answers;
use aduan_telegram::poll::{TelegramPoller, STREAM};
use aduan_telegram::Normalizer;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{json, Value};

const TOKEN: &str = "7000000001:AAHrahasia-contoh";

/// Three private messages; an offset drops what it confirms, as Telegram does.
async fn fake() -> String {
    let path = format!(
        "{}/tests/fixtures/private_text.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let updates: Vec<Value> = (0..3)
        .map(|i| {
            let mut u = base.clone();
            u["update_id"] = json!(500 + i);
            u["message"]["message_id"] = json!(41 + i);
            u
        })
        .collect();
    let state = Arc::new(Mutex::new(updates));
    let app = Router::new()
        .route(
            "/{bot}/{method}",
            post(
                |State(st): State<Arc<Mutex<Vec<Value>>>>,
                 Path((bot, method)): Path<(String, String)>,
                 Json(body): Json<Value>| async move {
                    if bot != format!("bot{TOKEN}") {
                        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
                    }
                    let mut updates = st.lock().expect("lock");
                    match method.as_str() {
                        "getUpdates" => {
                            if let Some(o) = body["offset"].as_i64() {
                                updates.retain(|u| u["update_id"].as_i64() >= Some(o));
                            }
                            Json(json!({"ok": true, "result": *updates}))
                        }
                        _ => Json(json!({"ok": true, "result": {"id": 7000000001_i64, "username": "lapor_pemda_bot"}})),
                    }
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn polling_loses_nothing_when_commits_fail() {
    let base = fake().await;
    let name = ChannelName::parse("kanal-uji").expect("name");
    let api = BotApi::new(
        name.clone(),
        &base,
        SecretString::from(TOKEN.to_owned()),
        Duration::from_secs(5),
        1024,
        true,
    )
    .expect("api");
    let poller: Arc<dyn PullSource> = Arc::new(TelegramPoller {
        answers: Arc::new(Answers {
            api: Arc::new(api),
            normalizer: Arc::new(Normalizer::new(name.clone(), 7_000_000_001)),
            public_url: "https://lapor.example.go.id".into(),
        }),
        long_poll: Duration::ZERO,
        poll_interval: Duration::from_millis(50),
    });
    let sink = MemorySink::new();
    let items = check_pull(poller, sink.clone(), 3, 2, Duration::from_secs(10)).await;
    for item in &items {
        check_inbound(item, &name);
    }
    assert_eq!(sink.cursor_of(&name, STREAM), Some(Cursor("503".into())));
    assert_eq!(sink.duplicates(), 0, "each update committed once");
}
