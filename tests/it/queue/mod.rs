//! The admin queue over HTTP on both back ends, one concern a file: who may see and do
//! what (a table), how one gets in, what the workflow refuses, claims under contention,
//! working-day deadlines with a controlled clock, search and pages, the operator's
//! tables, attachment downloads, and PostgreSQL's pools when connections die. The
//! people and the requests they all use are here.

mod attachments;
mod authentication;
mod authorization;
mod claims;
mod deadlines;
mod pools;
mod search;
mod tables;
mod workflow;

use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestApp;

/// Tokens of the test people, by name.
struct People {
    op: String,
    coord: String,
    coord2: String,
    ua: String,
    ub: String,
    li: String,
}

async fn people(app: &TestApp) -> People {
    let s = &app.store;
    s.create_unit("dpupr", "Dinas Pekerjaan Umum dan Penataan Ruang")
        .await
        .expect("unit");
    s.create_unit("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil")
        .await
        .expect("unit");
    let make = async |name: &str, role: Role, unit: Option<&str>| {
        crate::harness::staff_actor(s, name, role, unit).await;
        s.issue_token(name, "test").await.expect("token").token
    };
    People {
        op: make("op", Role::Operator, None).await,
        coord: make("coord", Role::Coordinator, None).await,
        coord2: make("coord2", Role::Coordinator, None).await,
        ua: make("ua", Role::UnitAdmin, Some("dpupr")).await,
        ub: make("ub", Role::UnitAdmin, Some("disdukcapil")).await,
        li: make("li", Role::Liaison, Some("dpupr")).await,
    }
}

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let req = match method {
        "GET" => app.client.get(app.url(path)),
        "DELETE" => app.client.delete(app.url(path)),
        "PUT" => app.client.put(app.url(path)).json(&body),
        _ => app.client.post(app.url(path)).json(&body),
    };
    let res = req.bearer_auth(token).send().await.expect("request");
    let status = res.status();
    let v = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

/// A refusal (a 4xx) must be one of our problem documents; `what` names the request.
fn assert_problem(status: StatusCode, v: &Value, what: &str) {
    if status.is_client_error() {
        assert!(
            v["type"]
                .as_str()
                .unwrap_or("")
                .starts_with("urn:aduan:problem:"),
            "{what}: {v}"
        );
    }
}

/// `GET path` as `token`'s user.
async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    call(app, token, "GET", path, Value::Null).await
}

/// `POST /api/v1/complaints/next` as `token`'s user.
async fn claim_next(app: &TestApp, token: &str) -> (StatusCode, Value) {
    call(app, token, "POST", "/api/v1/complaints/next", Value::Null).await
}

async fn report(app: &TestApp, title: &str, anonymous: bool) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            &json!({"title": title, "body": format!("{title}: mohon segera ditangani"), "name": "Siti Aminah",
                    "email": "siti@warga.test", "phone": "081234567890", "anonymous": anonymous}),
        )
        .await;
    crate::harness::filed(res).await
}

async fn forwarded_to(
    app: &TestApp,
    p: &People,
    title: &str,
    unit: &str,
    anonymous: bool,
) -> String {
    let t = report(app, title, anonymous).await;
    forward(app, p, &t, unit).await;
    t
}

/// The coordinator verifies complaint `t` and forwards it to `unit`.
async fn forward(app: &TestApp, p: &People, t: &str, unit: &str) {
    let (s, v) = call(
        app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{t}/verify"),
        json!({"classification": "pengaduan"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{t}/forward"),
        json!({"unit": unit}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// The complaints several tests start from, by the same reporter (Siti Aminah).
struct Three {
    /// Forwarded to dpupr; its reporter chose to be anonymous.
    a: String,
    /// Forwarded to disdukcapil; its reporter is named.
    bb: String,
    /// New: not verified, no unit.
    c: String,
}

async fn three(app: &TestApp, p: &People) -> Three {
    let a = forwarded_to(
        app,
        p,
        "Jalan berlubang di Jl. Sultan Syarif Kasim",
        "dpupr",
        true,
    )
    .await;
    let bb = forwarded_to(app, p, "KTP elektronik belum jadi", "disdukcapil", false).await;
    let c = report(app, "Air PDAM keruh", false).await;
    Three { a, bb, c }
}
