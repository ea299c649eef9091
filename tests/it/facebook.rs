//! The Facebook channel against a local fake of the Graph API serving the fixtures
//! (`connectors/facebook/tests/fixtures/`) and recording every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{
    answer_through_queue, eventually, queue_staff, spawn_app_toml, Backend, TestApp,
};
use crate::on_both;

const PAGE: &str = "104500000000001";
const TOKEN: &str = "token-halaman-contoh";
const APP_SECRET: &str = "rahasia-aplikasi-contoh";
const VERIFY: &str = "token-verifikasi-siak";
const VERSION: &str = "v24.0";
const COMMENT: &str = "122100000000000001_1213500000000001";
const PAGE_POST: &str = "104500000000001_122100000000000001";
const PSID: &str = "6200000000000001";

fn fixture(name: &str) -> String {
    crate::harness::fixture("connectors/facebook/tests/fixtures", name)
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_millis() -> i64 {
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
enum Fault {
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

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }

    /// Whether a comment was posted at `path` whose message contains `needle`.
    fn commented(&self, path: &str, needle: &str) -> bool {
        self.posts().iter().any(|s| {
            s.path == path
                && s.body
                    .as_ref()
                    .is_some_and(|b| b["message"].as_str().is_some_and(|m| m.contains(needle)))
        })
    }

    fn push_fault(&self, f: Fault) {
        self.state.lock().expect("lock").faults.push_back(f);
    }

    fn release_feed(&self) {
        self.state.lock().expect("lock").feed_ready = true;
    }

    fn release_inbox(&self) {
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

/// The fake serves attachments over plain http on loopback: the tests say so
/// explicitly (the defaults allow https from Meta's own hosts only).
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

async fn app_with(b: Backend, fake: &FakeGraph, extra: &str) -> TestApp {
    let extra = if extra.contains("poll_interval_secs") {
        extra.to_owned()
    } else {
        format!("poll_interval_secs = 1\n{extra}")
    };
    spawn_app_toml(b, channel_toml(&fake.base, &extra)).await
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<&str>) -> reqwest::Response {
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

fn inbound(c: &aduan::store::ComplaintRecord) -> Vec<&aduan::store::MessageRecord> {
    c.messages.iter().filter(|m| m.direction == "in").collect()
}

async fn handshake(app: &TestApp, token: &str) -> (u16, String) {
    let res = app
        .get(&format!(
            "/webhooks/fb-siak?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
        .await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn comments_edits_removals_polling_and_answers(b: Backend) {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("json");
    let fake = FakeGraph::start().await;
    let app = app_with(b, &fake, "messenger = false").await;

    // The subscription handshake.
    assert_eq!(
        handshake(&app, VERIFY).await,
        (200, "1158201444".to_owned())
    );
    assert_eq!(handshake(&app, "salah").await.0, 401);

    // A forged signature stores nothing.
    let body = fixture("feed_comment.json");
    let forged = sign(b"something else");
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&forged)).await.status(),
        401
    );
    assert_eq!(deliver(&app, body.as_bytes(), None).await.status(), 401);
    assert_eq!(
        app.count("complaints").await + app.count("intake_rejects").await,
        0
    );

    // The known vector: the comment is a complaint, and the receipt goes under it.
    let sig = vectors["signatures"]["feed_comment.json"]
        .as_str()
        .expect("sig");
    let res = deliver(&app, body.as_bytes(), Some(sig)).await;
    assert_eq!(res.status(), 200);
    let rec = app.complaint_from(COMMENT).await;
    assert_eq!(rec.channel, "facebook");
    assert!(rec.body.starts_with("Air PDAM"));
    let receipt_path = format!("/{VERSION}/{COMMENT}/comments");

    // Edited: the text changes, the earlier text is kept. Removed: marked, kept.
    let edited = fixture("feed_comment_edited.json");
    assert_eq!(
        deliver(&app, edited.as_bytes(), Some(&sign(edited.as_bytes())))
            .await
            .status(),
        200
    );
    let removed = fixture("feed_comment_removed.json");
    assert_eq!(
        deliver(&app, removed.as_bytes(), Some(&sign(removed.as_bytes())))
            .await
            .status(),
        200
    );
    // Delivered again (Meta retries): nothing changes twice.
    assert_eq!(
        deliver(&app, edited.as_bytes(), Some(&sign(edited.as_bytes())))
            .await
            .status(),
        200
    );
    let rec = app.complaint_from(COMMENT).await;
    assert!(rec.body.contains("kemarin pagi"), "{}", rec.body);
    let first = &rec.messages[0];
    assert_eq!(first.history.len(), 2, "{:?}", first.history);
    assert_eq!(first.history[0].kind, "edited");
    assert!(first.history[0]
        .previous_body
        .contains("tidak mengalir sejak kemarin, tolong"));
    assert_eq!(first.history[1].kind, "removed");
    assert!(first.removed_at.is_some());
    assert_eq!(app.count("complaints").await, 1);

    // Non-ASCII escaped as \uXXXX by Meta, signed over the bytes as sent.
    // Written a minute ago (the fixture is a year old, too old for a receipt).
    let escaped = body
        .replace(COMMENT, "122100000000000001_1213500000000002")
        .replace(
            "Air PDAM di Kelurahan Kampung Dalam",
            "Jembatan di Desa Bunsur \\u2014 retak \\u00e9 \\ud83d\\ude1f",
        )
        .replace(
            "\"created_time\": 1763603990",
            &format!("\"created_time\": {}", now_millis() / 1000 - 60),
        );
    let reserialized =
        serde_json::to_vec(&serde_json::from_str::<Value>(&escaped).expect("json")).expect("json");
    assert_ne!(sign(escaped.as_bytes()), sign(&reserialized));
    assert_eq!(
        deliver(&app, escaped.as_bytes(), Some(&sign(&reserialized)))
            .await
            .status(),
        401,
        "a signature over re-serialized JSON is not Meta's"
    );
    assert_eq!(
        deliver(&app, escaped.as_bytes(), Some(&sign(escaped.as_bytes())))
            .await
            .status(),
        200
    );
    let rec = app
        .complaint_from("122100000000000001_1213500000000002")
        .await;
    assert!(rec.body.contains("Bunsur — retak é 😟"), "{}", rec.body);
    // A fresh comment gets its receipt under it; the year-old one got none.
    let fresh_path = format!("/{VERSION}/122100000000000001_1213500000000002/comments");
    assert!(
        eventually(Duration::from_secs(15), || {
            let done = fake.commented(&fresh_path, &rec.tracking_id);
            async move { done }
        })
        .await,
        "receipt under the comment: {:?}",
        fake.posts()
    );
    assert!(
        fake.posts().iter().all(|s| s.path != receipt_path),
        "no public reply under a year-old comment"
    );

    // The Page's own reply (our receipt, seen by the webhook) is never a complaint.
    let own = body
        .replace(COMMENT, "122100000000000001_1213500000000003")
        .replace(
            "\"id\": \"7100000000000001\"",
            &format!("\"id\": \"{PAGE}\""),
        );
    assert_eq!(
        deliver(&app, own.as_bytes(), Some(&sign(own.as_bytes())))
            .await
            .status(),
        200
    );
    assert_eq!(app.count("complaints").await, 2);

    // Polling: two feed pages (the link's token dropped), the comments under the Page's
    // post: the same comment as the webhook's is not filed again.
    fake.release_feed();
    assert!(
        app.await_count("complaints", 4, Duration::from_secs(20))
            .await,
        "two visitor posts added: {}",
        app.count("complaints").await
    );
    let seen = fake.seen();
    let page2 = seen
        .iter()
        .find(|s| {
            s.query
                .iter()
                .any(|(k, v)| k == "after" && v == "QVFIUkJ3ZA")
        })
        .expect("page 2 fetched");
    assert!(page2.query.iter().all(|(k, _)| k != "access_token"));
    assert_eq!(
        page2.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(seen
        .iter()
        .any(|s| s.path == format!("/{VERSION}/{PAGE_POST}/comments")));
    for s in &seen {
        assert!(
            s.query.iter().all(|(_, v)| !v.contains(TOKEN)),
            "the token never travels in a URL: {s:?}"
        );
    }
    let visitor = app
        .complaint_from("104500000000001_122100000000000888")
        .await;
    assert_eq!(visitor.channel, "facebook");
    assert_eq!(
        inbound(&app.complaint_from(COMMENT).await).len(),
        1,
        "polling found the same comment: no follow-up, no new complaint"
    );

    // A reply under the citizen's comment joins its complaint.
    let reply = body
        .replace(COMMENT, "122100000000000001_1213500000000004")
        .replace(
            &format!("\"parent_id\": \"{PAGE_POST}\""),
            &format!("\"parent_id\": \"{COMMENT}\""),
        )
        .replace("tidak mengalir", "masih belum mengalir");
    assert_eq!(
        deliver(&app, reply.as_bytes(), Some(&sign(reply.as_bytes())))
            .await
            .status(),
        200
    );
    assert_eq!(inbound(&app.complaint_from(COMMENT).await).len(), 2);
    assert_eq!(app.count("complaints").await, 4);

    // The queue's approved answer goes under the citizen's comment.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "pdam", "fb").await;
    let t = app.complaint_from(COMMENT).await.tracking_id;
    answer_through_queue(&queue, &staff, &t, "Pipa sudah diperbaiki petugas PDAM.").await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let done = fake.commented(&receipt_path, "Pipa sudah diperbaiki");
            async move { done }
        })
        .await,
        "{:?}",
        fake.posts()
    );
    app.stop().await;
}

/// A Messenger webhook body from `PSID` at `at_ms`.
fn messenger_body(mid: &str, at_ms: i64, message: Value) -> String {
    let mut message = message;
    message["mid"] = Value::from(mid);
    json!({
        "object": "page",
        "entry": [{
            "id": PAGE,
            "time": at_ms,
            "messaging": [{
                "sender": {"id": PSID},
                "recipient": {"id": PAGE},
                "timestamp": at_ms,
                "message": message,
            }]
        }]
    })
    .to_string()
}

async fn messenger_threads_attachments_echoes_and_the_window(b: Backend) {
    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("json");
    let fake = FakeGraph::start().await;
    let app = app_with(
        b,
        &fake,
        "poll_interval_secs = 3600\nmessenger_window_secs = 3600",
    )
    .await;

    // The fixture as Meta signed it: filed, without a receipt (it is a year old).
    let text = fixture("messaging_text.json");
    let sig = vectors["signatures"]["messaging_text.json"]
        .as_str()
        .expect("sig");
    assert_eq!(
        deliver(&app, text.as_bytes(), Some(sig)).await.status(),
        200
    );
    let old = app.complaint_from("m_AbCdEf0123456789").await;
    assert!(
        app.store
            .outbound_for(&old.tracking_id)
            .await
            .expect("outbox")
            .is_empty(),
        "no receipt for a year-old message"
    );

    // Its answer cannot go out on Messenger (outside the 24-hour window): it fails, and
    // the admins see why on the complaint.
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "dinsos", "ms").await;
    answer_through_queue(&queue, &staff, &old.tracking_id, "Sudah cair bulan lalu.").await;
    let refused = |q: aduan::queue::Queue, who: aduan::queue::Actor, t: String| async move {
        q.show(&who, &t, false).await.is_ok_and(|item| {
            item.deliveries.iter().any(|d| {
                d.status == "failed"
                    && d.kind == "answer"
                    && d.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("cannot be sent on Messenger"))
            })
        })
    };
    assert!(
        eventually(Duration::from_secs(15), || refused(
            queue.clone(),
            staff[0].clone(),
            old.tracking_id.clone()
        ))
        .await,
        "{:?}",
        queue
            .show(&staff[0], &old.tracking_id, false)
            .await
            .map(|i| i.deliveries)
    );

    // Today: a message (two hours ago), a photo a minute later, an echo, and a message
    // past the window.
    let now = now_millis();
    let first = messenger_body(
        "m_hari_ini_1",
        now - 2 * 3600 * 1000,
        json!({"text": "Bantuan sosial RT 03 belum cair, mohon dicek."}),
    );
    let photo = messenger_body(
        "m_hari_ini_2",
        now - 2 * 3600 * 1000 + 60_000,
        json!({"attachments": [{"type": "image", "payload": {"url": format!("{}/media/bansos-rt03.png", fake.base)}}]}),
    );
    let echo = fixture("messaging_echo.json");
    let later = messenger_body(
        "m_hari_ini_3",
        now,
        json!({"text": "Satu lagi: jalan di depan kantor desa berlubang."}),
    );
    for body in [&first, &photo, &echo, &later] {
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    let today = app.complaint_from("m_hari_ini_1").await;
    assert_ne!(
        today.tracking_id, old.tracking_id,
        "a year later: a new complaint"
    );
    let msgs = inbound(&today);
    assert_eq!(
        msgs.len(),
        2,
        "the photo a minute later joined: {:?}",
        today.messages
    );
    assert!(msgs[1].body.contains("/media/bansos-rt03.png"));
    assert_eq!(today.attachments.len(), 1, "the photo was downloaded");
    assert_eq!(today.attachments[0].content_type, "image/png");
    let newer = app.complaint_from("m_hari_ini_3").await;
    assert_ne!(
        newer.tracking_id, today.tracking_id,
        "two hours later, past the window: its own complaint"
    );
    assert_eq!(
        app.count("complaints").await,
        3,
        "the echo is not a complaint"
    );

    // Receipts by the Send API, as responses, to the sender.
    let sends = || {
        fake.posts()
            .into_iter()
            .filter(|s| s.path == format!("/{VERSION}/{PAGE}/messages"))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = sends().len();
            async move { n == 2 }
        })
        .await,
        "{:?}",
        sends()
    );
    for s in sends() {
        let body = s.body.expect("json");
        assert_eq!(body["recipient"]["id"], PSID);
        assert_eq!(body["messaging_type"], "RESPONSE");
        let text = body["message"]["text"].as_str().expect("text");
        assert!(
            text.contains("/laporan/") && !text.contains("{status_url}"),
            "{text}"
        );
    }

    // The approved answer goes to the person on Messenger.
    answer_through_queue(
        &queue,
        &staff,
        &today.tracking_id,
        "Bantuan tahap dua cair Jumat ini.",
    )
    .await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = sends()
                .iter()
                .filter(|s| {
                    s.body
                        .as_ref()
                        .is_some_and(|b| b.to_string().contains("tahap dua"))
                })
                .count();
            async move { n == 1 }
        })
        .await,
        "{:?}",
        sends()
    );

    // Polling the inbox finds the fixture's message again: one record.
    fake.release_inbox();
    let app = app.restart().await;
    assert!(
        eventually(Duration::from_secs(15), || {
            let f = fake.clone();
            async move {
                f.seen()
                    .iter()
                    .any(|s| s.path == format!("/{VERSION}/t_10160000000000001"))
            }
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("complaints").await, 3);
    app.stop().await;
}

async fn throttling_usage_and_bad_bodies_never_stop_the_channel(b: Backend) {
    let fake = FakeGraph::start().await;
    fake.release_feed();
    fake.push_fault(Fault::Throttled);
    fake.push_fault(Fault::Malformed);
    fake.push_fault(Fault::BusyUsage);
    let app = app_with(b, &fake, "messenger = false").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(40))
            .await,
        "filed once the faults passed: {} {:?}",
        app.count("complaints").await,
        fake.seen()
            .iter()
            .map(|s| (s.path.clone(), s.at))
            .collect::<Vec<_>>()
    );
    let quarantined: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_rejects WHERE disposition = 'quarantined'")
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("count");
    assert_eq!(quarantined, 1, "the malformed page is quarantined once");
    // After the usage header (76 %), the next call waited its spacing.
    let feed: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path.starts_with(&format!("/{VERSION}/")))
        .collect();
    let busy_at = feed.get(2).expect("the third call had the usage header").at;
    let next_at = feed.get(3).expect("a call after it").at;
    assert!(
        next_at.duration_since(busy_at).unwrap_or_default() >= Duration::from_secs(2),
        "calls are spaced out when usage is high"
    );
    app.stop().await;
}

/// An edit that leaves no text (found by fuzzing the webhook) keeps the filed text, and
/// an edit of a comment never filed files no complaint without text: both are recorded
/// as ignored.
async fn an_edit_without_text_keeps_the_text(b: Backend) {
    let fake = FakeGraph::start().await;
    let app = app_with(b, &fake, "messenger = false").await;
    let body = fixture("feed_comment.json");
    assert_eq!(
        deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
            .await
            .status(),
        200
    );
    let mut edited: Value =
        serde_json::from_str(&fixture("feed_comment_edited.json")).expect("json");
    edited["entry"][0]["changes"][0]["value"]
        .as_object_mut()
        .expect("value")
        .remove("message");
    let edited = edited.to_string();
    let missed = edited.replace(COMMENT, "122100000000000001_1213500000000009");
    for body in [&edited, &missed] {
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    let rec = app.complaint_from(COMMENT).await;
    assert!(rec.body.starts_with("Air PDAM"), "{:?}", rec.body);
    assert!(
        rec.messages[0].history.is_empty(),
        "{:?}",
        rec.messages[0].history
    );
    assert_eq!(app.count("complaints").await, 1);
    let ignored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_rejects WHERE disposition = 'ignored'")
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("count");
    assert_eq!(ignored, 2);
    app.stop().await;
}

on_both!(
    comments_edits_removals_polling_and_answers,
    messenger_threads_attachments_echoes_and_the_window,
    throttling_usage_and_bad_bodies_never_stop_the_channel,
    an_edit_without_text_keeps_the_text
);

/// A Messenger attachment whose link redirects to loopback, or that names a host not on
/// the list, is not downloaded: the message is filed all the same and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_attachments_off_the_media_hosts_are_not_downloaded() {
    let fake = FakeGraph::start().await;
    let app = app_with(
        Backend::Sqlite,
        &fake,
        "poll_interval_secs = 3600\nmedia_hosts = [\"localhost\"]\ninsecure_local_media_for_tests = true",
    )
    .await;
    let listed = fake.base.replace("127.0.0.1", "localhost");
    let now = now_millis();
    let cases = [
        ("m_alih_1", format!("{listed}/redirect/media/alih.png")),
        ("m_alih_2", format!("{}/media/langsung.png", fake.base)),
    ];
    for (i, (mid, url)) in cases.iter().enumerate() {
        let body = messenger_body(
            mid,
            now - (2 - i as i64) * 7 * 24 * 3600 * 1000,
            json!({"attachments": [{"type": "image", "payload": {"url": url}}]}),
        );
        assert_eq!(
            deliver(&app, body.as_bytes(), Some(&sign(body.as_bytes())))
                .await
                .status(),
            200
        );
    }
    for (mid, url) in &cases {
        let rec = app.complaint_from(mid).await;
        assert!(rec.attachments.is_empty(), "{mid}: {:?}", rec.attachments);
        assert!(
            rec.body
                .contains(&format!("[lampiran tidak diunduh: {url}]")),
            "{mid}: {}",
            rec.body
        );
    }
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.path == "/redirect/media/alih.png"),
        "the first hop was asked"
    );
    assert!(
        !fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "nothing was fetched from 127.0.0.1"
    );
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}

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
    let file = dir.path().join("aduan.toml");
    let run = |token: &str| {
        std::fs::write(
            &file,
            format!(
                "data_dir = \"{}\"\n{}",
                dir.path().join("data").display(),
                channel_toml(&fake.base, "").replace(TOKEN, token)
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
