//! A fake of the Cloud API on loopback: the number's metadata, the media-id endpoint and
//! the media behind it (served only with the token in the header), and the messages
//! endpoint, with queued faults served first; every request recorded. Also the channel's
//! configuration and the requests Meta would send to the webhook.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{spawn_app_toml, Backend, TestApp};

pub(super) const PHONE_ID: &str = "106540000000001";
pub(super) const TOKEN: &str = "token-akses-contoh";
/// The app secret of the fixtures' signature vectors.
const APP_SECRET: &str = "rahasia-aplikasi-wa";
pub(super) const VERIFY: &str = "token-verifikasi-wa";
pub(super) const VERSION: &str = "v24.0";
/// The sender of the fixtures.
pub(super) const WA_ID: &str = "6281234567890";
/// Media the fake holds: an image, a PDF, a voice note, a video.
pub(super) const IMAGE: &str = "1480000000000001";
pub(super) const DOCUMENT: &str = "1480000000000002";
pub(super) const AUDIO: &str = "1480000000000003";
pub(super) const VIDEO: &str = "1480000000000004";
/// A file larger than the tests' cap, its size not announced.
pub(super) const HUGE: &str = "1480000000009999";
/// A link on a host that is not on the list of media hosts.
pub(super) const OFF_LIST: &str = "1480000000008888";
pub(super) const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
pub(super) const OGG: &[u8] = b"OggS\0\x02\0\0\0\0\0\0\0\0suara";
pub(super) const MP4: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";

pub(super) fn fixture(name: &str) -> String {
    crate::harness::fixture("connectors/whatsapp/tests/fixtures", name)
}

pub(super) fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

#[derive(Clone, Copy)]
pub(super) enum Fault {
    /// 130429: the number's throughput is reached.
    Throttled,
    /// 131056: too many messages to one person.
    PairLimit,
}

#[derive(Default)]
struct FakeState {
    seen: Vec<Seen>,
    faults: VecDeque<Fault>,
    base: String,
    sent: u32,
}

type Shared = Arc<Mutex<FakeState>>;

#[derive(Clone)]
pub struct FakeCloud {
    state: Shared,
    pub base: String,
}

impl FakeCloud {
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/{version}/{id}", get(object))
            .route("/{version}/{id}/messages", post(messages))
            .route("/media/{file}", get(media))
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

    /// The messages sent, in order.
    pub(super) fn sends(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .filter_map(|s| s.body)
            .collect()
    }

    pub(super) fn push_fault(&self, f: Fault) {
        self.state.lock().expect("lock").faults.push_back(f);
    }
}

fn record(state: &Shared, method: &str, path: String, headers: &HeaderMap, body: Option<Value>) {
    state.lock().expect("lock").seen.push(Seen {
        method: method.into(),
        path,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    });
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// The token in the header and the proof, as Graph checks them.
fn refused(headers: &HeaderMap, q: &[(String, String)]) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
    mac.update(TOKEN.as_bytes());
    let proof = hex::encode(mac.finalize().into_bytes());
    if auth != format!("Bearer {TOKEN}") || q.iter().any(|(k, _)| k == "access_token") {
        return Some(json_response(
            StatusCode::UNAUTHORIZED,
            fixture("error_190_expired_token.json"),
        ));
    }
    if !q.iter().any(|(k, v)| k == "appsecret_proof" && *v == proof) {
        return Some(json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Invalid appsecret_proof", "type": "GraphMethodException", "code": 100}})
                .to_string(),
        ));
    }
    None
}

/// The bytes behind a media file, and its type.
fn file(name: &str) -> Option<(&'static str, Vec<u8>)> {
    Some(match name {
        "foto.png" => ("image/png", crate::api::PNG.to_vec()),
        "surat.pdf" => ("application/pdf", PDF.to_vec()),
        "suara.ogg" => ("audio/ogg", OGG.to_vec()),
        "video.mp4" => ("video/mp4", MP4.to_vec()),
        "besar.bin" => ("application/octet-stream", vec![7u8; 2 * 1024 * 1024]),
        _ => return None,
    })
}

async fn object(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    record(&state, "GET", format!("/{version}/{id}"), &headers, None);
    if let Some(r) = refused(&headers, &q) {
        return r;
    }
    if id == PHONE_ID {
        return json_response(StatusCode::OK, fixture("phone_number.json"));
    }
    let base = state.lock().expect("lock").base.clone();
    let name = match id.as_str() {
        IMAGE => "foto.png",
        DOCUMENT => "surat.pdf",
        AUDIO => "suara.ogg",
        VIDEO => "video.mp4",
        HUGE => "besar.bin",
        OFF_LIST => "foto.png",
        _ => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": "Unsupported get request", "code": 100}}).to_string(),
            )
        }
    };
    let Some((mime, bytes)) = file(name) else {
        return json_response(StatusCode::NOT_FOUND, "{}".into());
    };
    // The file's link, on the fake as Meta's lookaside host would be; the off-list one
    // names the fake by another host name.
    let host = if id == OFF_LIST {
        base.replace("127.0.0.1", "localhost")
    } else {
        base
    };
    let mut info: Value = serde_json::from_str(&fixture("media_info.json")).expect("fixture");
    info["url"] = Value::from(format!("{host}/media/{name}?mid={id}"));
    info["id"] = Value::from(id.clone());
    info["mime_type"] = Value::from(mime);
    info["sha256"] = Value::from(hex::encode(Sha256::digest(&bytes)));
    if id == HUGE {
        info.as_object_mut().expect("object").remove("file_size");
    } else {
        info["file_size"] = Value::from(bytes.len());
    }
    Json(info).into_response()
}

async fn media(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(&state, "GET", format!("/media/{name}"), &headers, None);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match file(&name) {
        Some((mime, bytes)) => ([("content-type", mime)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn messages(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(
        &state,
        "POST",
        format!("/{version}/{id}/messages"),
        &headers,
        Some(body.clone()),
    );
    if let Some(r) = refused(&headers, &q) {
        return r;
    }
    if id != PHONE_ID {
        return json_response(StatusCode::BAD_REQUEST, "{}".into());
    }
    let fault = state.lock().expect("lock").faults.pop_front();
    match fault {
        Some(Fault::Throttled) => {
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                fixture("error_130429_rate_limit.json"),
            )
        }
        Some(Fault::PairLimit) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                fixture("error_131056_pair_rate_limit.json"),
            )
        }
        None => {}
    }
    let n = {
        let mut st = state.lock().expect("lock");
        st.sent += 1;
        st.sent
    };
    let mut v: Value = serde_json::from_str(&fixture("send_response.json")).expect("fixture");
    v["contacts"][0]["input"] = body["to"].clone();
    v["contacts"][0]["wa_id"] = body["to"].clone();
    v["messages"][0]["id"] = Value::from(sent_id(n));
    Json(v).into_response()
}

/// The id the fake gives the `n`th message sent.
pub(super) fn sent_id(n: u32) -> String {
    format!("wamid.BALASAN{n:04}")
}

pub(super) fn channel_toml(base: &str, extra: &str) -> String {
    let media = crate::harness::local_media_unless_set(extra);
    format!(
        r#"
[[channels]]
kind = "whatsapp"
name = "wa-siak"
phone_number_id = "{PHONE_ID}"
access_token = "{TOKEN}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY}"
graph_version = "{VERSION}"
api_base = "{base}"
max_media_bytes = 1000000
throttle_backoff_secs = 1
{media}
{extra}
"#
    )
}

pub(super) async fn app_with(b: Backend, fake: &FakeCloud, extra: &str) -> TestApp {
    spawn_app_toml(b, channel_toml(&fake.base, extra)).await
}

pub(super) async fn deliver(
    app: &TestApp,
    body: &[u8],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/webhooks/wa-siak"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        r = r.header("x-hub-signature-256", s);
    }
    r.send().await.expect("post")
}

/// Delivers `body` signed; the outcomes the daemon answered.
pub(super) async fn deliver_signed(app: &TestApp, body: &str) -> Vec<String> {
    let res = deliver(app, body.as_bytes(), Some(&sign(body.as_bytes()))).await;
    assert_eq!(res.status(), 200, "{body}");
    let v: Value = res.json().await.expect("json");
    v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["outcome"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// A webhook body with one message from `from` at `at` (seconds), `message` giving its
/// type and content.
pub(super) fn message_body(id: &str, from: &str, at: i64, message: Value) -> String {
    let mut m = message;
    m["id"] = Value::from(id);
    m["from"] = Value::from(from);
    m["timestamp"] = Value::from(at.to_string());
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000000", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Warga Siak"}, "wa_id": from}],
            "messages": [m],
        }}]}]
    })
    .to_string()
}

/// A webhook body with the status `status` of the message `id` sent by the daemon.
pub(super) fn status_body(id: &str, status: &str, errors: Option<Value>) -> String {
    let mut s = json!({"id": id, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
                       "recipient_id": WA_ID});
    if let Some(e) = errors {
        s["errors"] = e;
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000000", "phone_number_id": PHONE_ID},
            "statuses": [s],
        }}]}]
    })
    .to_string()
}

pub(super) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
