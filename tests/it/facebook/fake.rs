//! A fake of the Graph API on loopback: serves the fixtures, checks the token and the
//! app secret proof as Graph does, serves queued faults first, and records every request.
//! Also the channel's configuration and the requests Meta would send to the webhook.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{spawn_app_toml, Backend, TestApp};

pub(super) const PAGE: &str = "104500000000001";

pub(super) const TOKEN: &str = "token-halaman-contoh";

const APP_SECRET: &str = "rahasia-aplikasi-contoh";

pub(super) const VERIFY: &str = "token-verifikasi-siak";

pub(super) const VERSION: &str = "v24.0";

pub(super) const COMMENT: &str = "122100000000000001_1213500000000001";

pub(super) const PAGE_POST: &str = "104500000000001_122100000000000001";

pub(super) const PSID: &str = "6200000000000001";

pub(super) fn fixture(name: &str) -> String {
    crate::harness::fixture("connectors/facebook/tests/fixtures", name)
}

pub(super) fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    pub at: SystemTime,
}

#[derive(Clone)]
pub(super) enum Fault {
    /// `(#32) Page request limit reached`, with a usage header.
    Throttled,
    /// A 200 whose usage header says 76 % of the limit is used.
    BusyUsage,
    Malformed,
}

#[derive(Default)]
struct FakeState {
    seen: Vec<Seen>,
    faults: VecDeque<Fault>,
    /// The feed and the inbox are empty until released.
    feed_ready: bool,
    inbox_ready: bool,
    base: String,
    replies: u32,
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct FakeGraph {
    state: Shared,
    pub base: String,
}

impl FakeGraph {
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/{version}/{id}", get(object))
            .route("/{version}/{id}/{edge}", get(edge).post(publish))
            .route("/media/{file}", get(media))
            .route("/redirect/media/{file}", get(redirect_media))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        state.lock().expect("lock").base = base.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, base }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    pub(super) fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }

    /// Whether a comment was posted at `path` whose message contains `needle`.
    pub(super) fn commented(&self, path: &str, needle: &str) -> bool {
        self.posts().iter().any(|s| {
            s.path == path
                && s.body
                    .as_ref()
                    .is_some_and(|b| b["message"].as_str().is_some_and(|m| m.contains(needle)))
        })
    }

    pub(super) fn push_fault(&self, f: Fault) {
        self.state.lock().expect("lock").faults.push_back(f);
    }

    pub(super) fn release_feed(&self) {
        self.state.lock().expect("lock").feed_ready = true;
    }

    pub(super) fn release_inbox(&self) {
        self.state.lock().expect("lock").inbox_ready = true;
    }
}

fn record(
    state: &Shared,
    method: &str,
    path: String,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<Value>,
) {
    state.lock().expect("lock").seen.push(Seen {
        method: method.into(),
        path,
        query: query.to_vec(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        at: SystemTime::now(),
    });
}

/// Records the request, then checks it as Graph would ([`gate`]).
fn intake(
    state: &Shared,
    method: &str,
    path: String,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<Value>,
) -> Option<Response> {
    record(state, method, path, query, headers, body);
    gate(state, headers, query)
}

/// Now, as Graph writes times.
fn graph_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// Checks the token and the proof, and serves a queued fault first.
fn gate(state: &Shared, headers: &HeaderMap, q: &[(String, String)]) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let proof = q
        .iter()
        .find(|(k, _)| k == "appsecret_proof")
        .map(|(_, v)| v.as_str());
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
    mac.update(TOKEN.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if auth != format!("Bearer {TOKEN}") || q.iter().any(|(k, _)| k == "access_token") {
        return Some(json_response(
            StatusCode::BAD_REQUEST,
            fixture("error_190_expired_token.json"),
        ));
    }
    if proof != Some(expected.as_str()) {
        return Some(json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Invalid appsecret_proof", "type": "GraphMethodException", "code": 100}})
                .to_string(),
        ));
    }
    let fault = state.lock().expect("lock").faults.pop_front();
    match fault {
        Some(Fault::Throttled) => Some(
            (
                StatusCode::BAD_REQUEST,
                [
                    ("content-type", "application/json"),
                    (
                        "x-business-use-case-usage",
                        r#"{"104500000000001":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":0}]}"#,
                    ),
                ],
                fixture("error_32_page_limit.json"),
            )
                .into_response(),
        ),
        Some(Fault::Malformed) => Some(json_response(StatusCode::OK, "{\"data\": [ {\"id\": ".into())),
        Some(Fault::BusyUsage) => {
            // Put back for `edge` to answer normally with the header.
            state
                .lock()
                .expect("lock")
                .faults
                .push_front(Fault::BusyUsage);
            None
        }
        None => None,
    }
}

async fn object(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = intake(
        &state,
        "GET",
        format!("/{version}/{id}"),
        &q,
        &headers,
        None,
    ) {
        return r;
    }
    match id.as_str() {
        "me" => Json(json!({"id": PAGE, "name": "Pemkab Siak"})).into_response(),
        "t_10160000000000001" => {
            let body = fixture("conversation_messages_poll.json")
                .replace("2026-11-20T03:19:59+0000", &graph_now());
            json_response(StatusCode::OK, body)
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "Unsupported get request", "code": 100}}).to_string(),
        ),
    }
}

async fn edge(
    State(state): State<Shared>,
    Path((version, id, edge)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/{version}/{id}/{edge}");
    if let Some(r) = intake(&state, "GET", path, &q, &headers, None) {
        return r;
    }
    let busy = {
        let mut st = state.lock().expect("lock");
        matches!(st.faults.front(), Some(Fault::BusyUsage)) && st.faults.pop_front().is_some()
    };
    let (feed_ready, inbox_ready, base) = {
        let st = state.lock().expect("lock");
        (st.feed_ready, st.inbox_ready, st.base.clone())
    };
    let empty = json!({"data": []}).to_string();
    let after = q
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.as_str());
    let body = match (id.as_str(), edge.as_str()) {
        (PAGE, "feed") if !feed_ready => empty,
        // Page 1 links to page 2 with a token in the link, as Graph does; page 2 ends.
        (PAGE, "feed") if after.is_none() => fixture("page_feed_poll.json").replace(
            "https://graph.facebook.com/v24.0/104500000000001/feed?limit=25&after=QVFIUkJ3ZA",
            &format!(
                "{base}/{VERSION}/{PAGE}/feed?limit=25&after=QVFIUkJ3ZA&access_token=DARI-TAUTAN"
            ),
        ),
        (PAGE, "feed") => json!({"data": [{
            "id": "104500000000001_122100000000000888",
            "message": "Lampu jalan di Jalan Sultan mati sejak Senin.",
            "created_time": "2026-11-18T09:00:00+0000",
            "from": {"id": "7100000000000003", "name": "Rina"}
        }]})
        .to_string(),
        (PAGE_POST, "comments") => fixture("post_comments_poll.json"),
        (PAGE, "conversations") if inbox_ready => {
            fixture("conversations_poll.json").replace("2026-11-20T03:20:00+0000", &graph_now())
        }
        _ => empty,
    };
    if busy {
        return (
            StatusCode::OK,
            [
                ("content-type", "application/json"),
                (
                    "x-app-usage",
                    r#"{"call_count":76,"total_cputime":5,"total_time":9}"#,
                ),
            ],
            body,
        )
            .into_response();
    }
    json_response(StatusCode::OK, body)
}

async fn publish(
    State(state): State<Shared>,
    Path((version, id, edge)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/{version}/{id}/{edge}");
    if let Some(r) = intake(&state, "POST", path, &q, &headers, Some(body.clone())) {
        return r;
    }
    let n = {
        let mut st = state.lock().expect("lock");
        st.replies += 1;
        st.replies
    };
    match edge.as_str() {
        "comments" => Json(json!({"id": format!("{id}_balasan{n}")})).into_response(),
        "messages" if id == PAGE => {
            let mut v: Value =
                serde_json::from_str(&fixture("send_api_response.json")).expect("fixture");
            v["message_id"] = Value::from(format!("m_balasan{n}"));
            Json(v).into_response()
        }
        _ => json_response(StatusCode::NOT_FOUND, "{}".into()),
    }
}

async fn media(
    State(state): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(&state, "GET", format!("/media/{file}"), &[], &headers, None);
    ([("content-type", "image/png")], crate::api::PNG.to_vec()).into_response()
}

/// Redirects to the same media on 127.0.0.1.
async fn redirect_media(
    State(state): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        format!("/redirect/media/{file}"),
        &[],
        &headers,
        None,
    );
    let base = state.lock().expect("lock").base.clone();
    (
        StatusCode::FOUND,
        [("location", format!("{base}/media/{file}"))],
    )
        .into_response()
}

pub(super) fn channel_toml(base: &str, extra: &str) -> String {
    let media = crate::harness::local_media_unless_set(extra);
    format!(
        r#"
[[channels]]
kind = "facebook"
name = "fb-siak"
page_id = "{PAGE}"
page_access_token = "{TOKEN}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY}"
graph_version = "{VERSION}"
api_base = "{base}"
lookback_days = 36500
throttle_backoff_secs = 1
{media}
{extra}
"#
    )
}

pub(super) async fn app_with(b: Backend, fake: &FakeGraph, extra: &str) -> TestApp {
    let extra = if extra.contains("poll_interval_secs") {
        extra.to_owned()
    } else {
        format!("poll_interval_secs = 1\n{extra}")
    };
    spawn_app_toml(b, channel_toml(&fake.base, &extra)).await
}

pub(super) async fn deliver(
    app: &TestApp,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/webhooks/fb-siak"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        r = r.header("x-hub-signature-256", s);
    }
    r.send().await.expect("post")
}

pub(super) fn inbound(c: &aduan::store::ComplaintRecord) -> Vec<&aduan::store::MessageRecord> {
    c.messages.iter().filter(|m| m.direction == "in").collect()
}

pub(super) async fn handshake(app: &TestApp, token: &str) -> (u16, String) {
    let res = app
        .get(&format!(
            "/webhooks/fb-siak?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
        .await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}
