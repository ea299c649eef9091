//! Forwarders: signed webhooks of a complaint's events (filed, status changed, answer
//! approved) to a local receiver, retries and the visible failed state, filters, the
//! anonymous reporter and rahasia complaints kept back, several instances on one
//! database sending each event once, and the Open311 client filing into another aduan.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aduan::queue::Role;
use aduan::store::{ForwardFilter, ForwardRow, ForwardStatus};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    answer_through_queue, config_for, eventually, filed, queue_staff, spawn_app_toml,
    spawn_app_with, staff_actor, Backend, Options, TestApp, TestDb,
};
use crate::on_both;

const SECRET: &str = "rahasia-webhook-uji-0123";

/// What the receiver got: each request's headers and raw body.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// The statuses to answer, in order; 200 once they run out.
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Self, String) {
        let r = Receiver::default();
        r.script.lock().expect("lock").extend(script);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    /// The accepted events (those answered 2xx), as (headers, parsed body).
    fn events(&self) -> Vec<(HeaderMap, Value)> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|(h, _)| h.get("x-answered").is_none())
            .map(|(h, b)| (h.clone(), serde_json::from_slice(b).expect("json body")))
            .collect()
    }

    fn raw(&self) -> Vec<(HeaderMap, Bytes)> {
        self.got.lock().expect("lock").clone()
    }

    async fn await_events(&self, n: usize) -> Vec<(HeaderMap, Value)> {
        let ok = eventually(Duration::from_secs(20), || async {
            self.events().len() >= n
        })
        .await;
        let got = self.events();
        assert!(
            ok,
            "expected {n} events, got {}: {:?}",
            got.len(),
            got.iter().map(|e| &e.1).collect::<Vec<_>>()
        );
        got
    }
}

async fn take(State(r): State<Receiver>, mut headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = r.script.lock().expect("lock").pop_front().unwrap_or(200);
    if status >= 300 {
        // Marks a request that was refused, so `events` shows the accepted ones only.
        headers.insert("x-answered", status.into());
    }
    r.got.lock().expect("lock").push((headers, body));
    StatusCode::from_u16(status).expect("status")
}

fn hook(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[forwarders]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ninsecure_local_http_for_tests = true\n{extra}\n"
    )
}

/// Checks the signature as a receiver would, and returns the event's type.
fn verified(h: &HeaderMap, body: &Bytes) -> String {
    let sig = h["aduan-signature"].to_str().expect("ascii");
    let now = chrono::Utc::now().timestamp();
    assert!(
        aduan::forward::verify(SECRET.as_bytes(), sig, body, now, 300),
        "signature {sig} does not verify"
    );
    let v: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(h["aduan-event-id"].to_str().expect("id"), v["id"]);
    assert_eq!(h["aduan-event-type"].to_str().expect("type"), v["type"]);
    v["type"].as_str().expect("type").to_owned()
}

/// The daemon's deliveries, newest first: all, or those of a status or a complaint.
async fn deliveries(
    app: &TestApp,
    status: Option<ForwardStatus>,
    tracking_id: Option<&str>,
) -> Vec<ForwardRow> {
    app.store
        .forwards(&ForwardFilter {
            status,
            tracking_id: tracking_id.map(str::to_owned),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("forwards")
}

/// Waits until `n` deliveries have failed for good (within 20 s), and returns them.
async fn await_failed(app: &TestApp, n: usize) -> Vec<ForwardRow> {
    let failed = || deliveries(app, Some(ForwardStatus::Failed), None);
    let reached = eventually(Duration::from_secs(20), || async {
        failed().await.len() >= n
    })
    .await;
    let rows = failed().await;
    assert!(reached, "expected {n} failed deliveries: {rows:?}");
    rows
}

async fn report(app: &TestApp, fields: Value) -> String {
    filed(app.post_json("/api/v1/reports", &fields).await).await
}

fn named(title: &str) -> Value {
    json!({
        "title": title,
        "body": "Air PDAM tidak mengalir sejak tiga hari di RT 02.",
        "category": "air-bersih",
        "name": "Siti Aminah",
        "email": "siti.teruskan@contoh.id",
        "phone": "081234567890",
    })
}

async fn a_complaints_life_reaches_the_webhook_signed(b: Backend) {
    let (rx, url) = Receiver::start(&[]).await;
    let app = spawn_app_toml(b, hook("lapor", &url, "")).await;
    let tid = report(&app, named("Air mati di RT 02")).await;
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "pdam", "fw").await;
    answer_through_queue(&queue, &staff, &tid, "Pipa sudah diperbaiki petugas PDAM.").await;

    // The filing, each change of status and the approval, in the order they happened.
    let approved_in = eventually(Duration::from_secs(20), || async {
        rx.events()
            .last()
            .is_some_and(|(_, v)| v["type"] == "answer.approved")
    })
    .await;
    assert!(
        approved_in,
        "{:?}",
        rx.events().iter().map(|e| &e.1).collect::<Vec<_>>()
    );
    let events = rx.events();
    let raw = rx.raw();
    let types: Vec<String> = raw.iter().map(|(h, b)| verified(h, b)).collect();
    assert_eq!(types.first().map(String::as_str), Some("complaint.filed"));
    assert_eq!(
        types.last().map(String::as_str),
        Some("answer.approved"),
        "{types:?}"
    );
    assert!(
        types
            .iter()
            .filter(|t| *t == "complaint.status_changed")
            .count()
            >= 2,
        "{types:?}"
    );
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|(_, v)| v["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");

    let first = &events[0].1;
    assert_eq!(first["complaint"]["tracking_id"], tid.as_str());
    assert_eq!(first["complaint"]["category"], "air-bersih");
    assert_eq!(
        first["complaint"]["status_url"],
        format!("https://lapor.contoh.go.id/laporan/{tid}")
    );
    // Who filed it is not sent unless the forwarder asks for it.
    assert!(first["complaint"]["reporter"].is_null(), "{first}");
    let verified_event = events
        .iter()
        .find(|(_, v)| v["change"]["to"] == "verified")
        .expect("the verification is told");
    assert_eq!(verified_event.1["change"]["from"], "new");
    let approved = &events.last().expect("last").1;
    assert_eq!(
        approved["answer"]["body"],
        "Pipa sudah diperbaiki petugas PDAM."
    );
    assert_eq!(approved["change"]["to"], "answered");
    assert_eq!(approved["complaint"]["unit"], "pdam");

    // Every delivery is recorded as sent (just after the receiver answered); nothing
    // is left waiting.
    let all_sent = eventually(Duration::from_secs(10), || async {
        let rows = deliveries(&app, None, None).await;
        rows.len() == events.len() && rows.iter().all(|r| r.status == ForwardStatus::Sent)
    })
    .await;
    assert!(all_sent, "{:?}", deliveries(&app, None, None).await);
    assert_eq!(app.count("forward_events").await, 0);
    app.stop().await;
}

async fn failures_are_retried_and_a_refusal_is_shown_and_can_be_retried(b: Backend) {
    // The first receiver is down twice (503), then takes it; the second refuses (410).
    let (flaky, flaky_url) = Receiver::start(&[503, 503]).await;
    let (gone, gone_url) = Receiver::start(&[410]).await;
    let toml = format!(
        "{}{}",
        hook("flaky", &flaky_url, "events = [\"complaint.filed\"]"),
        hook("gone", &gone_url, "events = [\"complaint.filed\"]")
    );
    let app = spawn_app_toml(b, toml).await;
    let tid = report(&app, named("Lampu jalan padam")).await;
    let got = flaky.await_events(1).await;
    assert_eq!(got[0].1["complaint"]["tracking_id"], tid.as_str());
    // The same event each time: a receiver drops a repeat by its id.
    let raw = flaky.raw();
    assert_eq!(raw.len(), 3);
    assert!(raw
        .iter()
        .all(|(h, _)| h["aduan-event-id"] == raw[0].0["aduan-event-id"]));

    let failed = || deliveries(&app, Some(ForwardStatus::Failed), None);
    let row = await_failed(&app, 1).await.remove(0);
    assert_eq!(row.forwarder, "gone");
    assert_eq!(row.attempts, 1, "a 410 is not tried again");
    assert!(
        row.last_error.as_deref().unwrap_or("").contains("410"),
        "{row:?}"
    );

    // Operators see it over HTTP; a unit admin may not; a retry sends it again.
    app.store.create_unit("pdam", "PDAM").await.expect("unit");
    staff_actor(&app.store, "fw-op", Role::Operator, None).await;
    staff_actor(&app.store, "fw-ua", Role::UnitAdmin, Some("pdam")).await;
    let op = app
        .store
        .issue_token("fw-op", "t")
        .await
        .expect("token")
        .token;
    let ua = app
        .store
        .issue_token("fw-ua", "t")
        .await
        .expect("token")
        .token;
    let list = app
        .client
        .get(app.url("/api/v1/forwards?status=failed"))
        .bearer_auth(&op)
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.expect("json");
    assert_eq!(list[0]["forwarder"], "gone");
    assert_eq!(list[0]["event"], "complaint.filed");
    assert_eq!(list[0]["tracking_id"], tid.as_str());
    assert_eq!(list[0]["status"], "failed");
    let denied = app
        .client
        .get(app.url("/api/v1/forwards"))
        .bearer_auth(&ua)
        .send()
        .await
        .expect("list");
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let bad = app
        .client
        .get(app.url("/api/v1/forwards?status=lost"))
        .bearer_auth(&op)
        .send()
        .await
        .expect("list");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let retry = |id: i64| {
        app.client
            .post(app.url(&format!("/api/v1/forwards/{id}/retry")))
            .bearer_auth(&op)
            .send()
    };
    assert_eq!(
        retry(row.id).await.expect("retry").status(),
        StatusCode::ACCEPTED
    );
    let again = gone.await_events(1).await;
    assert_eq!(again[0].1["complaint"]["tracking_id"], tid.as_str());
    // Only a failed delivery can be retried.
    assert!(
        eventually(Duration::from_secs(10), || async {
            failed().await.is_empty()
        })
        .await,
        "the retried delivery was sent"
    );
    assert_eq!(
        retry(row.id).await.expect("retry").status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

async fn anonymous_reporters_and_rahasia_complaints_are_kept_back(b: Backend) {
    let (rx, url) = Receiver::start(&[]).await;
    let (roads, roads_url) = Receiver::start(&[]).await;
    let toml = format!(
        "{}{}\n[[form.categories]]\nslug = \"jalan\"\nlabel = \"Jalan\"\n",
        hook(
            "agency",
            &url,
            "include_reporter = true\nevents = [\"complaint.filed\"]"
        ),
        hook(
            "roads",
            &roads_url,
            "categories = [\"jalan\"]\nevents = [\"complaint.filed\"]"
        ),
    );
    let app = spawn_app_toml(b, toml).await;
    let mut anon = named("Pungutan liar di kantor desa");
    anon["anonymous"] = json!(true);
    let anon_tid = report(&app, anon).await;
    let mut secret = named("Rahasia: bantuan sosial dipotong");
    secret["confidential"] = json!(true);
    let secret_tid = report(&app, secret).await;
    let mut road = named("Jalan berlubang di Jl. Sultan");
    road["category"] = json!("jalan");
    let road_tid = report(&app, road).await;
    let named_tid = report(&app, named("Air keruh")).await;

    // Deliveries to one forwarder go in order: once the last one is in, every earlier
    // one has been decided.
    let got = rx.await_events(3).await;
    let by_tid = |tid: &str| {
        got.iter()
            .find(|(_, v)| v["complaint"]["tracking_id"] == tid)
            .map(|(_, v)| v.clone())
    };
    let anon_event = by_tid(&anon_tid).expect("the anonymous complaint is told");
    assert!(
        anon_event["complaint"]["reporter"].is_null(),
        "{anon_event}"
    );
    assert_eq!(anon_event["complaint"]["anonymous"], true);
    for (_, raw) in rx.raw() {
        let text = String::from_utf8_lossy(&raw);
        if text.contains(anon_tid.as_str()) {
            assert!(
                !text.contains("siti.teruskan") && !text.contains("Siti") && !text.contains("0812"),
                "{text}"
            );
        }
        assert!(
            !text.contains(secret_tid.as_str()),
            "a rahasia complaint left: {text}"
        );
    }
    let named_event = by_tid(&named_tid).expect("the named complaint is told");
    assert_eq!(
        named_event["complaint"]["reporter"]["email"],
        "siti.teruskan@contoh.id"
    );
    assert!(by_tid(&road_tid).is_some());
    assert!(by_tid(&secret_tid).is_none());

    // The roads forwarder hears only of the road.
    let roads_got = roads.await_events(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(roads.events().len(), 1);
    assert_eq!(
        roads_got[0].1["complaint"]["tracking_id"],
        road_tid.as_str()
    );
    assert!(roads_got[0].1["complaint"]["reporter"].is_null());
    app.stop().await;
}

/// Another aduan with its Open311 endpoint on (key `their_key`, `their_toml` added),
/// and an aduan whose Open311 forwarder `kota` files into it (`forwarder_toml` added).
async fn open311_pair(
    b: Backend,
    their_key: &str,
    their_toml: &str,
    forwarder_toml: &str,
) -> (TestApp, TestApp) {
    let other = spawn_app_toml(
        b,
        format!("[open311]\nenabled = true\napi_key = \"{their_key}\"\n{their_toml}"),
    )
    .await;
    let toml = format!(
        "[[forwarders]]\nname = \"kota\"\nkind = \"open311\"\nurl = \"{}/open311/v2\"\ninsecure_local_http_for_tests = true\n{forwarder_toml}",
        other.base
    );
    let app = spawn_app_toml(b, toml).await;
    (other, app)
}

async fn the_open311_forwarder_files_into_another_endpoint(b: Backend) {
    // The other system is another aduan with its Open311 endpoint on.
    let (other, app) = open311_pair(
        b,
        "kunci-kota-tetangga",
        "[[form.categories]]\nslug = \"air-minum\"\nlabel = \"Air minum\"\n",
        "api_key = \"kunci-kota-tetangga\"\nservice_codes = { \"air-bersih\" = \"air-minum\" }\n",
    )
    .await;
    let mut fields = named("Pipa bocor di depan SD 3");
    fields["location"] = json!("Jl. Sultan Syarif Kasim, Siak");
    let tid = report(&app, fields).await;
    let sent = || deliveries(&app, None, Some(&tid));
    assert!(
        eventually(Duration::from_secs(20), || async {
            sent()
                .await
                .first()
                .is_some_and(|r| r.status == ForwardStatus::Sent)
        })
        .await,
        "{:?}",
        sent().await
    );
    let row = sent().await.remove(0);
    let their_id = row.external_id.expect("their service_request_id is kept");
    let res = other
        .get(&format!("/open311/v2/requests/{their_id}.json"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let theirs: Value = res.json().await.expect("json");
    assert_eq!(theirs[0]["service_code"], "air-minum");
    assert!(theirs[0]["description"]
        .as_str()
        .is_some_and(|d| d.contains("Pipa bocor")));
    // Without include_reporter, nobody's name went with it.
    let record = other
        .store
        .complaint(&their_id)
        .await
        .expect("read")
        .expect("filed");
    assert_eq!(
        record.location.as_ref().and_then(|l| l.text.as_deref()),
        Some("Jl. Sultan Syarif Kasim, Siak")
    );
    assert!(
        record
            .reporter
            .as_ref()
            .is_none_or(|r| r.email.is_none() && r.name.is_none()),
        "{record:?}"
    );
    app.stop().await;
    other.stop().await;
}

/// A wrong key is refused by the other endpoint: the delivery fails with its words.
async fn the_open311_forwarder_reports_a_refusal(b: Backend) {
    let (other, app) = open311_pair(b, "kunci-benar", "", "api_key = \"kunci-salah\"\n").await;
    report(&app, named("Air mati")).await;
    let err = await_failed(&app, 1)
        .await
        .remove(0)
        .last_error
        .unwrap_or_default();
    assert!(err.contains("403") && err.contains("api_key"), "{err}");
    assert_eq!(other.count("complaints").await, 0);
    app.stop().await;
    other.stop().await;
}

/// A delivery waiting on a receiver that is down is kept across a restart of the
/// daemon and sent once the receiver is back; so is an event not yet fanned out.
async fn what_waits_survives_a_restart(b: Backend) {
    let (rx, url) = Receiver::start(&[503; 1000]).await;
    let app = spawn_app_with(
        b,
        Options {
            extra_toml: hook("lapor", &url, ""),
            configure: |c| c.outbox.max_attempts = 1000,
            ..Options::default()
        },
    )
    .await;
    let tid = report(&app, named("Sampah menumpuk di pasar")).await;
    assert!(eventually(Duration::from_secs(10), || async { !rx.raw().is_empty() }).await);
    let app = app.restart().await;
    rx.script.lock().expect("lock").clear();
    let got = rx.await_events(1).await;
    assert_eq!(got[0].1["complaint"]["tracking_id"], tid.as_str());
    assert_eq!(got[0].1["type"], "complaint.filed");
    app.stop().await;
}

/// A forwarder reaches only the public internet and follows no redirect: a name that
/// resolves to a loopback address is refused at the connection, and a 3xx fails the
/// delivery with the reason (the operator configures the new address).
async fn no_private_address_and_no_redirect(b: Backend) {
    let (moved, moved_url) = Receiver::start(&[307]).await;
    let toml = format!(
        "{}[[forwarders]]\nname = \"inside\"\nkind = \"webhook\"\nurl = \"https://localhost:9/hook\"\nsecret = \"{SECRET}\"\nevents = [\"complaint.filed\"]\n",
        hook("moved", &moved_url, "events = [\"complaint.filed\"]"),
    );
    let app = spawn_app_toml(b, toml).await;
    report(&app, named("Air mati")).await;
    let rows = await_failed(&app, 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let reason = |name: &str| {
        rows.iter()
            .find(|r| r.forwarder == name)
            .and_then(|r| r.last_error.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("inside").contains("not public"),
        "{}",
        reason("inside")
    );
    assert!(reason("moved").contains("redirect"), "{}", reason("moved"));
    assert_eq!(moved.raw().len(), 1, "a redirect is not tried again");
    app.stop().await;
}

/// A later event of a complaint waits while an earlier one is being retried: the
/// receiver never hears of a verification before the filing it follows.
async fn a_complaints_events_keep_their_order_through_a_retry(b: Backend) {
    let (rx, url) = Receiver::start(&[503, 503]).await;
    let app = spawn_app_toml(b, hook("lapor", &url, "")).await;
    let tid = report(&app, named("Jembatan retak")).await;
    assert!(eventually(Duration::from_secs(10), || async { !rx.raw().is_empty() }).await);
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "pupr", "ord").await;
    queue
        .act(
            &staff[0],
            &tid,
            aduan::queue::ActionKind::Verify,
            &aduan::queue::ActionRequest::default(),
        )
        .await
        .expect("verify");
    let got = rx.await_events(2).await;
    let types: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["complaint.filed", "complaint.status_changed"]);
    app.stop().await;
}

/// The console's channel page lists what failed, with the reason, and sends it again
/// for an operator; a unit admin can do neither.
async fn the_console_shows_a_failed_delivery_and_sends_it_again(b: Backend) {
    use crate::console::pages::Session;
    let (rx, url) = Receiver::start(&[422]).await;
    let app = spawn_app_toml(b, hook("dasbor", &url, "events = [\"complaint.filed\"]")).await;
    let tid = report(&app, named("Drainase tersumbat")).await;
    let row = await_failed(&app, 1).await.remove(0);
    app.store.create_unit("pupr", "PUPR").await.expect("unit");
    crate::console::user(&app, "fw-cop", Role::Operator, None).await;
    crate::console::user(&app, "fw-cua", Role::UnitAdmin, Some("pupr")).await;
    let ua = Session::open(&app, "fw-cua").await;
    let action = format!("/admin/penerusan/{}/ulang", row.id);
    assert_eq!(ua.post(&action, &[]).await.status(), StatusCode::FORBIDDEN);
    let op = Session::open(&app, "fw-cop").await;
    let html = op.html("/admin/kanal").await;
    assert!(
        html.contains("dasbor") && html.contains(tid.as_str()),
        "{html}"
    );
    assert!(html.contains("422"), "the reason is shown");
    assert!(html.contains(&action));
    let res = op.post(&action, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let got = rx.await_events(1).await;
    assert_eq!(got[0].1["complaint"]["tracking_id"], tid.as_str());
    app.stop().await;
}

on_both!(
    the_console_shows_a_failed_delivery_and_sends_it_again,
    a_complaints_events_keep_their_order_through_a_retry,
    no_private_address_and_no_redirect,
    what_waits_survives_a_restart,
    a_complaints_life_reaches_the_webhook_signed,
    failures_are_retried_and_a_refusal_is_shown_and_can_be_retried,
    anonymous_reporters_and_rahasia_complaints_are_kept_back,
    the_open311_forwarder_files_into_another_endpoint,
    the_open311_forwarder_reports_a_refusal,
);

/// Two instances on one PostgreSQL database, both with the forwarder: each event is
/// sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_event_once() {
    let (rx, url) = Receiver::start(&[]).await;
    let db = TestDb::new(Backend::Postgres).await;
    let toml = hook("lapor", &url, "events = [\"complaint.filed\"]");
    let a = aduan::app::start(config_for(&db, &toml), vec![])
        .await
        .expect("first instance");
    let b = aduan::app::start(config_for(&db, &toml), vec![])
        .await
        .expect("second instance");
    let client = reqwest::Client::new();
    let mut tids = Vec::new();
    for i in 0..40 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let res = client
            .post(format!("http://{addr}/api/v1/reports"))
            .json(&named(&format!("Laporan nomor {i}")))
            .send()
            .await
            .expect("post");
        tids.push(filed(res).await);
    }
    let got = rx.await_events(40).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_now = rx.events();
    assert_eq!(got_now.len(), 40, "sent more than once: {}", got_now.len());
    let mut told: Vec<String> = got
        .iter()
        .map(|(_, v)| {
            v["complaint"]["tracking_id"]
                .as_str()
                .expect("tid")
                .to_owned()
        })
        .collect();
    told.sort();
    tids.sort();
    assert_eq!(told, tids);
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
}
