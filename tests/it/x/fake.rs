//! A fake of X API v2 on loopback: serves the fixtures' mentions, search and users,
//! takes posts, serves queued faults first, and records every request. Also the
//! channel's configuration and an independent check of OAuth 1.0a signatures.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::harness::{spawn_app_toml, Backend, TestApp};

const ACCOUNT: &str = "1500000000000000000";

const CONSUMER_KEY: &str = "ck-contoh";

const CONSUMER_SECRET: &str = "kunci-rahasia-konsumen-contoh";

const ACCESS_TOKEN: &str = "at-contoh";

const ACCESS_SECRET: &str = "ats-contoh";

pub(super) fn fixture(name: &str) -> String {
    crate::harness::fixture("tests/fixtures/x", name)
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
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

/// A canned answer served before the normal ones.
#[derive(Clone)]
pub(super) enum Fault {
    RateLimited { reset: u64 },
    Unavailable,
    Malformed,
}

#[derive(Default)]
struct FakeState {
    seen: Vec<Seen>,
    faults: VecDeque<Fault>,
    followup_ready: bool,
    base: String,
    /// Serve the posts with the fixtures' own (old) times instead of recent ones.
    stale: bool,
    /// Media links point at `http://localhost:…/redirect/…`, which redirects to the
    /// media on 127.0.0.1.
    media_via_redirect: bool,
}

#[derive(Clone)]
pub struct FakeX {
    state: Arc<Mutex<FakeState>>,
    pub base: String,
}

impl FakeX {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/2/users/{id}/mentions", get(mentions))
            .route("/2/users/{id}", get(user))
            .route("/2/tweets", post(create_tweet))
            .route("/2/tweets/search/recent", get(search))
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

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    pub(super) fn mentions_requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.ends_with("/mentions"))
            .collect()
    }

    pub(super) fn replies(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }

    pub(super) fn push_fault(&self, f: Fault) {
        self.state.lock().expect("lock").faults.push_back(f);
    }

    pub(super) fn media_via_redirect(&self) {
        self.state.lock().expect("lock").media_via_redirect = true;
    }

    pub(super) fn release_followup(&self) {
        self.state.lock().expect("lock").followup_ready = true;
    }

    /// Serve the posts with the fixtures' own (old) times from now on.
    pub(super) fn serve_stale(&self) {
        self.state.lock().expect("lock").stale = true;
    }
}

fn record(
    state: &Arc<Mutex<FakeState>>,
    method: &str,
    path: String,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
    body: Option<Value>,
) {
    state.lock().expect("lock").seen.push(Seen {
        method: method.into(),
        path,
        query,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        at: SystemTime::now(),
    });
}

async fn mentions(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        format!("/2/users/{id}/mentions"),
        q.clone(),
        &headers,
        None,
    );
    let fault = state.lock().expect("lock").faults.pop_front();
    match fault {
        Some(Fault::RateLimited { reset }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("x-rate-limit-limit", "450".to_owned()),
                    ("x-rate-limit-remaining", "0".to_owned()),
                    ("x-rate-limit-reset", reset.to_string()),
                ],
                fixture("rate_limited_429.json"),
            )
                .into_response()
        }
        Some(Fault::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "upstream overloaded").into_response()
        }
        Some(Fault::Malformed) => {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"data\": [ {\"id\": ",
            )
                .into_response()
        }
        None => {}
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer bearer-contoh") {
        return (StatusCode::UNAUTHORIZED, "{\"title\":\"Unauthorized\"}").into_response();
    }
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (base, via_redirect, stale) = {
        let s = state.lock().expect("lock");
        (s.base.clone(), s.media_via_redirect, s.stale)
    };
    let media_base = if via_redirect {
        format!("{}/redirect", base.replace("127.0.0.1", "localhost"))
    } else {
        base
    };
    let recent = |body: String, as_of: &str| if stale { body } else { recent(body, as_of) };
    let body = match (get("since_id"), get("pagination_token")) {
        (None, None) => recent(
            fixture("mentions_page1.json").replace("https://pbs.twimg.com", &media_base),
            PAGES_AS_OF,
        ),
        (None, Some(t)) if t == "7140dibdnow9c7btw3w3y5b6jqjnk3k4g5zkmfkvqwa42" => {
            recent(fixture("mentions_page2.json"), PAGES_AS_OF)
        }
        (Some(_), None) if state.lock().expect("lock").followup_ready => {
            state.lock().expect("lock").followup_ready = false;
            recent(fixture("mentions_followup.json"), FOLLOWUP_AS_OF)
        }
        _ => fixture("empty.json"),
    };
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("x-rate-limit-remaining", "440"),
        ],
        body,
    )
        .into_response()
}

/// The moments the fixtures' posts are served as if seen at: the pages' posts become
/// one to four hours old, the follow-up half a minute old (after its original).
const PAGES_AS_OF: &str = "2026-11-20T03:00:00Z";

const FOLLOWUP_AS_OF: &str = "2026-11-23T03:00:30Z";

/// The posts of a fixture page moved in time so that `as_of` is now: receipts go only
/// to recent posts, and the fixtures were written in November 2026.
fn recent(body: String, as_of: &str) -> String {
    let Ok(mut page) = serde_json::from_str::<Value>(&body) else {
        return body;
    };
    let as_of = chrono::DateTime::parse_from_rfc3339(as_of).expect("as of");
    let shift = chrono::Utc::now() - as_of.with_timezone(&chrono::Utc);
    for post in page["data"].as_array_mut().into_iter().flatten() {
        if let Some(at) = post["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            post["created_at"] = (at.with_timezone(&chrono::Utc) + shift)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into();
        }
    }
    page.to_string()
}

async fn search(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        "/2/tweets/search/recent".into(),
        q,
        &headers,
        None,
    );
    (
        [("content-type", "application/json")],
        fixture("empty.json"),
    )
        .into_response()
}

async fn user(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        format!("/2/users/{id}"),
        Vec::new(),
        &headers,
        None,
    );
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = if id == "me" {
        auth.starts_with("OAuth ")
    } else {
        auth == "Bearer bearer-contoh"
    };
    if !ok {
        return (StatusCode::UNAUTHORIZED, "{\"title\":\"Unauthorized\"}").into_response();
    }
    Json(json!({"data": {"id": ACCOUNT, "username": "PemkabSiak", "name": "Pemkab Siak"}}))
        .into_response()
}

async fn media(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        format!("/media/{file}"),
        Vec::new(),
        &headers,
        None,
    );
    ([("content-type", "image/png")], crate::api::PNG.to_vec()).into_response()
}

async fn redirect_media(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(
        &state,
        "GET",
        format!("/redirect/media/{file}"),
        Vec::new(),
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

async fn create_tweet(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let parent = body["reply"]["in_reply_to_tweet_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    record(
        &state,
        "POST",
        "/2/tweets".into(),
        Vec::new(),
        &headers,
        Some(body),
    );
    // The receipt under the citizen's post 103 is 120, the one mentions_followup
    // answers; other replies get ids of their own.
    let id = if parent == "1865000000000000103" {
        "1865000000000000120".to_owned()
    } else {
        format!("19{}", &parent[2..])
    };
    (
        StatusCode::CREATED,
        Json(json!({"data": {"id": id, "text": "ok"}})),
    )
        .into_response()
}

pub(super) fn channel_toml(base: &str, extra: &str) -> String {
    let media = crate::harness::local_media_unless_set(extra);
    format!(
        r#"
[[channels]]
kind = "x"
name = "x-siak"
user_id = "{ACCOUNT}"
handle = "PemkabSiak"
bearer_token = "bearer-contoh"
consumer_key = "{CONSUMER_KEY}"
consumer_secret = "{CONSUMER_SECRET}"
access_token = "{ACCESS_TOKEN}"
access_token_secret = "{ACCESS_SECRET}"
api_base = "{base}"
{media}
{extra}
"#
    )
}

pub(super) async fn app_with(b: Backend, fake: &FakeX, extra: &str) -> TestApp {
    let extra = if extra.contains("poll_interval_secs") {
        extra.to_owned()
    } else {
        format!("poll_interval_secs = 1\n{extra}")
    };
    spawn_app_toml(b, channel_toml(&fake.base, &extra)).await
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Recomputes an OAuth 1.0a HMAC-SHA1 signature from the header alone (RFC 5849 §3.4),
/// independently of the crate that made it.
pub(super) fn oauth_signature_ok(header: &str, method: &str, url: &str) -> bool {
    let Some(rest) = header.strip_prefix("OAuth ") else {
        return false;
    };
    let mut params: Vec<(String, String)> = rest
        .split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (pct_decode(k), pct_decode(v.trim_matches('"'))))
        .collect();
    let Some(pos) = params.iter().position(|(k, _)| k == "oauth_signature") else {
        return false;
    };
    let (_, signature) = params.remove(pos);
    if !params
        .iter()
        .any(|(k, v)| k == "oauth_consumer_key" && v == CONSUMER_KEY)
        || !params
            .iter()
            .any(|(k, v)| k == "oauth_token" && v == ACCESS_TOKEN)
    {
        return false;
    }
    let mut enc: Vec<(String, String)> = params.iter().map(|(k, v)| (pct(k), pct(v))).collect();
    enc.sort();
    let normalized = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!("{method}&{}&{}", pct(url), pct(&normalized));
    let key = format!("{}&{}", pct(CONSUMER_SECRET), pct(ACCESS_SECRET));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()) == signature
}
