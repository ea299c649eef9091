//! The X channel against a local fake of X API v2 serving the fixtures
//! (`tests/fixtures/x/`) and recording every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::harness::{
    answer_through_queue, eventually, queue_staff, spawn_app_toml, Backend, TestApp,
};
use crate::on_both;

const ACCOUNT: &str = "1500000000000000000";
const CONSUMER_KEY: &str = "ck-contoh";
const CONSUMER_SECRET: &str = "kunci-rahasia-konsumen-contoh";
const ACCESS_TOKEN: &str = "at-contoh";
const ACCESS_SECRET: &str = "ats-contoh";

fn fixture(name: &str) -> String {
    crate::harness::fixture("tests/fixtures/x", name)
}

fn now_secs() -> u64 {
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
enum Fault {
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

    fn mentions_requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.ends_with("/mentions"))
            .collect()
    }

    fn replies(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }

    fn push_fault(&self, f: Fault) {
        self.state.lock().expect("lock").faults.push_back(f);
    }

    fn media_via_redirect(&self) {
        self.state.lock().expect("lock").media_via_redirect = true;
    }

    fn release_followup(&self) {
        self.state.lock().expect("lock").followup_ready = true;
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

/// The fake serves media over plain http on loopback: the tests say so explicitly (the
/// defaults allow https from X's own hosts only).
const LOCAL_MEDIA: &str = "media_hosts = [\"127.0.0.1\"]\ninsecure_local_media_for_tests = true";

fn channel_toml(base: &str, extra: &str) -> String {
    let media = if extra.contains("media_hosts") {
        ""
    } else {
        LOCAL_MEDIA
    };
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

async fn app_with(b: Backend, fake: &FakeX, extra: &str) -> TestApp {
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
fn oauth_signature_ok(header: &str, method: &str, url: &str) -> bool {
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

async fn polling_pages_replies_follow_ups_and_restarts(b: Backend) {
    let fake = FakeX::start().await;
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "three posts over two pages filed"
    );
    let reqs = fake.mentions_requests();
    assert!(
        reqs.iter().any(|r| r
            .query
            .iter()
            .any(|(k, v)| k == "pagination_token" && v.starts_with("7140"))),
        "page 2 was fetched"
    );
    let first = &reqs[0];
    for field in ["tweet.fields", "expansions", "user.fields", "media.fields"] {
        assert!(
            first.query.iter().any(|(k, _)| k == field),
            "{field} requested"
        );
    }
    let list = app
        .store
        .complaints(&aduan::store::ComplaintFilter::default())
        .await
        .expect("list");
    let lampu = list
        .iter()
        .find(|c| c.external_id == "1865000000000000103")
        .expect("103");
    assert_eq!(lampu.channel, "x");
    assert!(lampu.title.starts_with("lampu jalan"), "{}", lampu.title);
    let rec = app
        .store
        .complaint(&lampu.tracking_id)
        .await
        .expect("read")
        .expect("rec");
    assert_eq!(
        rec.reporter
            .as_ref()
            .and_then(|r| r.handle.clone())
            .as_deref(),
        Some("@warga_siak")
    );
    assert_eq!(rec.attachments.len(), 1, "the photo was downloaded");

    // A receipt under every post, OAuth 1.0a signed, 280 at most.
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move { f.replies().len() == 3 }
        })
        .await,
        "{:?}",
        fake.replies()
    );
    for r in fake.replies() {
        let body = r.body.clone().expect("json");
        let text = body["text"].as_str().expect("text");
        assert!(aduan_x::text::weighted_len(text) <= 280);
        let parent = body["reply"]["in_reply_to_tweet_id"]
            .as_str()
            .expect("parent");
        let c = list
            .iter()
            .find(|c| c.external_id == parent)
            .expect("a reply under a filed post");
        assert!(text.contains(&c.tracking_id), "{text}");
        let auth = r.authorization.as_deref().expect("Authorization");
        assert!(
            oauth_signature_ok(auth, "POST", &format!("{}/2/tweets", fake.base)),
            "{auth}"
        );
    }

    // A restart resumes from the newest id: nothing again, nothing skipped.
    let app = app.restart().await;
    let before = fake.mentions_requests().len();
    assert!(
        eventually(Duration::from_secs(10), || {
            let f = fake.clone();
            async move { f.mentions_requests().len() > before }
        })
        .await
    );
    let next = &fake.mentions_requests()[before];
    assert!(
        next.query
            .contains(&("since_id".into(), "1865000000000000103".into())),
        "{:?}",
        next.query
    );

    // The citizen goes on in the same conversation, answering our receipt: a follow-up.
    fake.release_followup();
    let store = app.store.clone();
    let t = lampu.tracking_id.clone();
    assert!(
        eventually(Duration::from_secs(15), || {
            let store = store.clone();
            let t = t.clone();
            async move {
                store
                    .complaint(&t)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.messages.iter().filter(|m| m.direction == "in").count())
                    == Some(2)
            }
        })
        .await,
        "the follow-up joined its complaint"
    );
    assert_eq!(app.count("complaints").await, 3);

    // The queue's approved answer goes back as a reply under the citizen's post.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "dishub", "antrian").await;
    answer_through_queue(&queue, &staff, &t, "Lampu sudah diganti petugas hari ini.").await;
    let answered = eventually(Duration::from_secs(15), || {
        let f = fake.clone();
        async move {
            f.replies().iter().any(|r| {
                let b = r.body.clone().unwrap_or_default();
                b["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Lampu sudah diganti")
                    && b["reply"]["in_reply_to_tweet_id"] == "1865000000000000103"
            })
        }
    })
    .await;
    assert!(
        answered,
        "{:?}",
        fake.replies()
            .iter()
            .map(|r| r.body.clone())
            .collect::<Vec<_>>()
    );
    let answer = fake
        .replies()
        .into_iter()
        .find(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b.to_string().contains("Lampu sudah diganti"))
        })
        .expect("answer");
    let text = answer.body.expect("body")["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.contains(&t) && aduan_x::text::weighted_len(&text) <= 280,
        "{text}"
    );
    app.stop().await;
}

async fn rate_limits_faults_and_bad_bodies_never_stop_the_channel(b: Backend) {
    let fake = FakeX::start().await;
    let reset = now_secs() + 3;
    fake.push_fault(Fault::RateLimited { reset });
    fake.push_fault(Fault::Unavailable);
    fake.push_fault(Fault::Malformed);
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(30))
            .await,
        "filed once the faults passed: {:?}",
        fake.mentions_requests()
            .iter()
            .map(|r| r.at)
            .collect::<Vec<_>>()
    );
    let reqs = fake.mentions_requests();
    let second = reqs.get(1).expect("a request after the 429");
    let secs = second
        .at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    assert!(
        secs >= reset,
        "no request before the reset ({secs} < {reset})"
    );
    assert_eq!(
        app.count("intake_rejects").await,
        1,
        "the malformed page is quarantined once"
    );
    app.stop().await;
}

/// A first start finds days-old mentions: each is filed, and none gets a public reply.
async fn old_posts_are_filed_without_a_public_receipt(b: Backend) {
    let fake = FakeX::start().await;
    fake.state.lock().expect("lock").stale = true;
    let app = app_with(b, &fake, "").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "the old posts are filed"
    );
    // A receipt is queued in the complaint's own transaction: none was.
    assert_eq!(app.count("outbox").await, 0);
    assert!(fake.replies().is_empty(), "{:?}", fake.replies());
    app.stop().await;
}

on_both!(
    old_posts_are_filed_without_a_public_receipt,
    polling_pages_replies_follow_ups_and_restarts,
    rate_limits_faults_and_bad_bodies_never_stop_the_channel
);

/// The Account Activity webhook with the fixtures' known answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_crc_checks_signatures_and_meets_polling() {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("vectors");
    let fake = FakeX::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "mentions = true\npoll_interval_secs = 3600",
    )
    .await;
    let crc = vectors["crc_token"].as_str().expect("crc");
    let res = app.get(&format!("/webhooks/x-siak?crc_token={crc}")).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["response_token"], vectors["expected_response_token"]);

    let body = fixture("aaa_tweet_create_events.json");
    // The CRC answer is the HMAC an event body is signed with: a token that could be
    // a body (here, the event itself) or an overlong one is refused, never signed.
    for token in [body.clone(), "A".repeat(257), "abc def".into()] {
        let res = app
            .client
            .get(app.url("/webhooks/x-siak"))
            .query(&[("crc_token", token.as_str())])
            .send()
            .await
            .expect("crc");
        assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
        let text = res.text().await.expect("text");
        assert!(
            !text.contains("sha256="),
            "no signature for {token:.40}: {text}"
        );
    }
    let post = |sig: Option<&str>| {
        let mut r = app
            .client
            .post(app.url("/webhooks/x-siak"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = sig {
            r = r.header("x-twitter-webhooks-signature", s);
        }
        r.send()
    };
    // The poller filed the posts already (mentions); wait, then count.
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await
    );
    let forged = "sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(
        post(Some(forged)).await.expect("post").status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(None).await.expect("post").status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    let good = vectors["expected_x_twitter_webhooks_signature"]
        .as_str()
        .expect("sig");
    assert_eq!(
        post(Some(good)).await.expect("post").status(),
        reqwest::StatusCode::OK
    );
    assert_eq!(
        app.count("complaints").await,
        3,
        "the same post by webhook and by polling is one complaint"
    );
    assert_eq!(app.count("intake_rejects").await, 0);
    app.stop().await;
}

/// Posts that arrive only by webhook are filed; forged ones store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_post_is_filed_and_forgeries_store_nothing() {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("vectors");
    let fake = FakeX::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "mentions = false\nqueries = [\"#LaporSiak\"]\npoll_interval_secs = 3600",
    )
    .await;
    let body = fixture("aaa_tweet_create_events.json");
    let res = app
        .client
        .post(app.url("/webhooks/x-siak"))
        .header(
            "x-twitter-webhooks-signature",
            "sha256=bm90IHRoZSBzaWduYXR1cmU=",
        )
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("complaints").await + app.count("intake_rejects").await,
        0
    );
    let res = app
        .client
        .post(app.url("/webhooks/x-siak"))
        .header(
            "x-twitter-webhooks-signature",
            vectors["expected_x_twitter_webhooks_signature"]
                .as_str()
                .expect("sig"),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let list = app
        .store
        .complaints(&aduan::store::ComplaintFilter::default())
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].external_id, "1865000000000000103");
    app.stop().await;
}

/// `aduan check --online` checks the bearer token and the OAuth 1.0a account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_verifies_the_credentials() {
    let fake = FakeX::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("aduan.toml");
    let run = |bearer: &str| {
        std::fs::write(
            &file,
            format!(
                "data_dir = \"{}\"\n{}",
                dir.path().join("data").display(),
                channel_toml(&fake.base, "").replace("bearer-contoh", bearer)
            ),
        )
        .expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
            .args(["check", "--online", "--config"])
            .arg(&file)
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
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

/// A photo over `max_media_bytes` is left out; the post is filed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_media_is_left_out_and_the_post_filed() {
    assert!(crate::api::PNG.len() > 16);
    let fake = FakeX::start().await;
    let app = app_with(Backend::Sqlite, &fake, "max_media_bytes = 16").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await
    );
    assert!(
        fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "the download was tried"
    );
    let rec = app.complaint_from("1865000000000000103").await;
    assert!(rec.attachments.is_empty());
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}

/// Media a post links to that is not on an allowed https host is not downloaded: the
/// post is filed all the same, says which media is missing, and nothing is stored.
async fn media_refused(fake: &FakeX, extra: &str, what: &str) {
    let app = app_with(Backend::Sqlite, fake, extra).await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "{what}: the posts are filed"
    );
    let rec = app.complaint_from("1865000000000000103").await;
    assert!(rec.attachments.is_empty(), "{what}: {:?}", rec.attachments);
    assert!(
        rec.body.contains("[media tidak diunduh: ")
            && rec.body.contains("/media/example-lampu.jpg]"),
        "{what}: {}",
        rec.body
    );
    assert_eq!(app.blob_files(), 0, "{what}");
    assert!(
        !fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "{what}: the media was fetched"
    );
    let health = app.health("x-siak").snapshot();
    assert!(health.healthy, "{what}: the channel goes on: {health:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_over_plain_http_is_not_downloaded() {
    let fake = FakeX::start().await;
    media_refused(&fake, "media_hosts = [\"127.0.0.1\"]", "http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_from_a_host_not_on_the_list_is_not_downloaded() {
    let fake = FakeX::start().await;
    media_refused(
        &fake,
        "media_hosts = [\"pbs.twimg.com\"]\ninsecure_local_media_for_tests = true",
        "host not listed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_redirect_to_loopback_is_not_followed() {
    let fake = FakeX::start().await;
    fake.media_via_redirect();
    media_refused(
        &fake,
        "media_hosts = [\"localhost\"]\ninsecure_local_media_for_tests = true",
        "redirect",
    )
    .await;
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.path.starts_with("/redirect/media/")),
        "the first hop was asked"
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
