//! A fake of the Bot API on loopback: checks the token in the path as Telegram does,
//! serves `getMe`, `getUpdates` (dropping what an offset confirmed), `getFile` and the
//! files, answers `sendMessage` after the faults queued for it, and records every call.
//! Also the channel's configuration and the requests Telegram would send to the webhook.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::harness::{spawn_app_toml, Backend, TestApp};

pub(super) const TOKEN: &str = "7000000001:AAHrahasia-bot-contoh";

pub(super) const SECRET: &str = "rahasia_webhook-siak";

/// The person of the fixtures, whose private chat has the same id.
pub(super) const SITI: i64 = 5100000001;

/// A document larger than the tests' cap, announced by `getFile`.
pub(super) const BIG_DOC: &str = "BQACAgUAAxkBAAIBdGf-besar";

/// A document `getFile` announces without a size, larger than the cap when read.
pub(super) const UNSIZED_DOC: &str = "BQACAgUAAxkBAAIBdGf-tanpaukuran";

/// The tests' `max_media_bytes`.
pub(super) const CAP: usize = 4096;

pub(super) fn fixture(name: &str) -> String {
    crate::harness::fixture("connectors/telegram/tests/fixtures", name)
}

/// A fixture's update with its date set to `at` (Unix seconds).
pub(super) fn dated(name: &str, at: i64) -> Value {
    let mut v: Value = serde_json::from_str(&fixture(name)).expect("json");
    for key in ["message", "edited_message"] {
        if v[key].is_object() {
            v[key]["date"] = Value::from(at);
        }
    }
    v
}

pub(super) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub body: Value,
    pub at: SystemTime,
}

#[derive(Clone, Copy)]
pub(super) enum Fault {
    /// 429 with `parameters.retry_after` seconds.
    TooMany(u64),
    /// 403: the person blocked the bot.
    Blocked,
}

#[derive(Default)]
struct FakeState {
    seen: Vec<Seen>,
    send_faults: VecDeque<Fault>,
    /// Updates not yet confirmed by an offset, oldest first.
    updates: Vec<(i64, Value)>,
    sent: i64,
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct FakeBot {
    state: Shared,
    pub base: String,
}

impl FakeBot {
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/{bot}/{method}", post(method))
            .route("/file/{bot}/{dir}/{file}", get(file))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, base }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    pub(super) fn calls(&self, method: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method)
            .collect()
    }

    /// The texts sent to `chat`.
    pub(super) fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|s| s.body["chat_id"].as_i64() == Some(chat))
            .map(|s| s.body)
            .collect()
    }

    pub(super) fn push_send_fault(&self, f: Fault) {
        self.state.lock().expect("lock").send_faults.push_back(f);
    }

    /// Queues an update for `getUpdates`.
    pub(super) fn push_update(&self, update: Value) {
        let id = update["update_id"].as_i64().expect("update_id");
        self.state.lock().expect("lock").updates.push((id, update));
    }
}

fn api_error(status: StatusCode, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(s) = retry_after {
        body["parameters"] = json!({ "retry_after": s });
    }
    (status, Json(body)).into_response()
}

async fn method(
    State(state): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    if bot != format!("bot{TOKEN}") {
        return api_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    let mut st = state.lock().expect("lock");
    st.seen.push(Seen {
        method: method.clone(),
        body: body.clone(),
        at: SystemTime::now(),
    });
    match method.as_str() {
        "getMe" => Json(serde_json::from_str::<Value>(&fixture("get_me.json")).expect("json"))
            .into_response(),
        "getUpdates" => {
            if let Some(offset) = body["offset"].as_i64() {
                st.updates.retain(|(id, _)| *id >= offset);
            }
            let result: Vec<Value> = st.updates.iter().map(|(_, u)| u.clone()).collect();
            Json(json!({"ok": true, "result": result})).into_response()
        }
        "getFile" => {
            let id = body["file_id"].as_str().unwrap_or("");
            let (path, size) = match id {
                BIG_DOC => ("documents/besar.pdf", Some(CAP as u64 * 10)),
                UNSIZED_DOC => ("documents/tanpa-ukuran.pdf", None),
                _ if id.starts_with("BQ") => ("documents/file_3.pdf", Some(1000)),
                _ => ("photos/file_12.jpg", Some(crate::api::PNG.len() as u64)),
            };
            let mut result = json!({"file_id": id, "file_unique_id": "u", "file_path": path});
            if let Some(s) = size {
                result["file_size"] = Value::from(s);
            }
            Json(json!({"ok": true, "result": result})).into_response()
        }
        "sendMessage" => match st.send_faults.pop_front() {
            Some(Fault::TooMany(s)) => api_error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too Many Requests: retry after {s}"),
                Some(s),
            ),
            Some(Fault::Blocked) => api_error(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
                None,
            ),
            None => {
                st.sent += 1;
                let mut v: Value =
                    serde_json::from_str(&fixture("send_message.json")).expect("json");
                v["result"]["message_id"] = Value::from(9000 + st.sent);
                v["result"]["chat"]["id"] = body["chat_id"].clone();
                v["result"]["text"] = body["text"].clone();
                Json(v).into_response()
            }
        },
        _ => api_error(StatusCode::NOT_FOUND, "Not Found: method not found", None),
    }
}

async fn file(
    State(state): State<Shared>,
    Path((bot, dir, file)): Path<(String, String, String)>,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return api_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    state.lock().expect("lock").seen.push(Seen {
        method: format!("file:{dir}/{file}"),
        body: Value::Null,
        at: SystemTime::now(),
    });
    match dir.as_str() {
        "photos" => ([("content-type", "image/png")], crate::api::PNG.to_vec()).into_response(),
        _ if file.starts_with("file_") => (
            [("content-type", "application/pdf")],
            b"%PDF-1.4 surat".to_vec(),
        )
            .into_response(),
        // Larger than the cap, streamed without a length.
        _ => {
            let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'%'; CAP / 2]));
            (
                [("content-type", "application/pdf")],
                axum::body::Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response()
        }
    }
}

pub(super) fn channel_toml(base: &str, extra: &str) -> String {
    format!(
        r#"
[[channels]]
kind = "telegram"
name = "tg-siak"
bot_token = "{TOKEN}"
api_base = "{base}"
max_media_bytes = {CAP}
insecure_local_media_for_tests = true
{extra}
"#
    )
}

pub(super) async fn webhook_app(b: Backend, fake: &FakeBot, extra: &str) -> TestApp {
    spawn_app_toml(
        b,
        channel_toml(
            &fake.base,
            &format!("webhook_secret = \"{SECRET}\"\n{extra}"),
        ),
    )
    .await
}

/// Delivers an update as Telegram does, with `secret` in its header when given.
pub(super) async fn deliver(
    app: &TestApp,
    update: &Value,
    secret: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/webhooks/tg-siak"))
        .header("content-type", "application/json")
        .body(update.to_string());
    if let Some(s) = secret {
        r = r.header("x-telegram-bot-api-secret-token", s);
    }
    r.send().await.expect("post")
}

/// Delivers with the right secret and returns the outcome of the update.
pub(super) async fn outcome(app: &TestApp, update: &Value) -> String {
    let res = deliver(app, update, Some(SECRET)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    v["results"][0]["outcome"].as_str().unwrap_or("").to_owned()
}
