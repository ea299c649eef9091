//! The admin queue over HTTP on both back ends: who may see and do what (a table),
//! claims under contention, and the working-day deadlines with a controlled clock.

use std::collections::HashSet;
use std::time::Duration;

use aduan::queue::jobs::{sla_pass, AUTO_CLOSE_DAYS, VERIFY_DAYS};
use aduan::queue::people::NewUser;
use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{spawn_app, Backend, TestApp};
use crate::on_both;

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
    t
}

async fn authorization_matrix(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let a = forwarded_to(
        &app,
        &p,
        "Jalan berlubang di Jl. Sultan Syarif Kasim",
        "dpupr",
        true,
    )
    .await;
    let bb = forwarded_to(&app, &p, "KTP elektronik belum jadi", "disdukcapil", false).await;
    let c = report(&app, "Air PDAM keruh", false).await;

    // Who sees what: a unit sees only its own unit's complaints, as "not found" otherwise.
    let seen: &[(&str, &String, &String, StatusCode)] = &[
        ("op", &p.op, &a, StatusCode::OK),
        ("op", &p.op, &c, StatusCode::OK),
        ("coord", &p.coord, &bb, StatusCode::OK),
        ("ua", &p.ua, &a, StatusCode::OK),
        ("ua", &p.ua, &bb, StatusCode::NOT_FOUND),
        ("ua", &p.ua, &c, StatusCode::NOT_FOUND),
        ("ub", &p.ub, &a, StatusCode::NOT_FOUND),
        ("li", &p.li, &a, StatusCode::OK),
        ("li", &p.li, &bb, StatusCode::NOT_FOUND),
    ];
    for (who, tok, t, want) in seen {
        let (s, _) = call(
            &app,
            tok,
            "GET",
            &format!("/api/v1/complaints/{t}"),
            Value::Null,
        )
        .await;
        assert_eq!(s, *want, "{who} GET {t}");
    }

    // Anonymous: units and liaisons never see the reporter, not even when asking; central
    // roles see it only by asking, and that view is audited.
    for tok in [&p.ua, &p.li] {
        let (_, v) = call(
            &app,
            tok,
            "GET",
            &format!("/api/v1/complaints/{a}?reveal=identity"),
            Value::Null,
        )
        .await;
        assert!(v["reporter"].is_null(), "{v}");
        assert_eq!(v["external_id"], "");
        assert!(!v.to_string().contains("siti@warga.test"), "{v}");
        assert!(!v.to_string().contains("081234567890"), "{v}");
        let (_, list) = call(&app, tok, "GET", "/api/v1/complaints", Value::Null).await;
        assert!(!list.to_string().contains("siti@warga.test"), "{list}");
    }
    let audits_before = app.count("audit_events").await;
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{a}"),
        Value::Null,
    )
    .await;
    assert!(v["reporter"].is_null(), "{v}");
    assert_eq!(
        app.count("audit_events").await,
        audits_before,
        "a plain view is not an identity view"
    );
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{a}?reveal=identity"),
        Value::Null,
    )
    .await;
    assert_eq!(v["reporter"]["email"], "siti@warga.test", "{v}");
    assert_eq!(
        app.count("audit_events").await,
        audits_before + 1,
        "the identity view is audited"
    );
    // A named reporter is visible to the unit.
    let (_, v) = call(
        &app,
        &p.ub,
        "GET",
        &format!("/api/v1/complaints/{bb}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["reporter"]["name"], "Siti Aminah", "{v}");

    // Lists never carry an anonymous reporter, for anyone.
    let (_, list) = call(&app, &p.coord, "GET", "/api/v1/complaints", Value::Null).await;
    let mine = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["tracking_id"] == a.as_str())
        .cloned()
        .expect("a listed");
    assert!(mine["reporter"].is_null(), "{mine}");
    assert_eq!(
        app.count("audit_events").await,
        audits_before + 1,
        "a list is not an identity view"
    );
    // The list is scoped the same way.
    let (_, list) = call(&app, &p.ua, "GET", "/api/v1/complaints", Value::Null).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["tracking_id"], a.as_str());

    // Actions: (who, token, action, complaint, body, expected status).
    let table: Vec<(&str, &String, &str, &String, Value, StatusCode)> = vec![
        ("ua", &p.ua, "verify", &c, json!({}), StatusCode::NOT_FOUND),
        ("li", &p.li, "verify", &c, json!({}), StatusCode::NOT_FOUND),
        (
            "ua",
            &p.ua,
            "forward",
            &a,
            json!({"unit": "disdukcapil"}),
            StatusCode::FORBIDDEN,
        ),
        (
            "ua",
            &p.ua,
            "answer",
            &bb,
            json!({"body": "x"}),
            StatusCode::NOT_FOUND,
        ),
        ("li", &p.li, "approve", &a, json!({}), StatusCode::CONFLICT), // nothing drafted yet
        (
            "ua",
            &p.ua,
            "answer",
            &a,
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ), // no body
        (
            "ua",
            &p.ua,
            "answer",
            &a,
            json!({"body": "Perbaikan dijadwalkan pekan depan."}),
            StatusCode::OK,
        ),
        ("ua", &p.ua, "approve", &a, json!({}), StatusCode::FORBIDDEN),
        (
            "coord",
            &p.coord,
            "approve",
            &a,
            json!({}),
            StatusCode::FORBIDDEN,
        ),
        ("ub", &p.ub, "approve", &a, json!({}), StatusCode::NOT_FOUND),
        (
            "li",
            &p.li,
            "return",
            &a,
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ), // no reason
        ("li", &p.li, "approve", &a, json!({}), StatusCode::OK),
        (
            "coord",
            &p.coord,
            "close",
            &bb,
            json!({}),
            StatusCode::CONFLICT,
        ), // not answered
        (
            "coord",
            &p.coord,
            "hold",
            &c,
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ), // no reason
        (
            "coord",
            &p.coord,
            "hold",
            &c,
            json!({"reason": "menunggu data"}),
            StatusCode::OK,
        ),
        ("coord", &p.coord, "resume", &c, json!({}), StatusCode::OK),
        (
            "coord",
            &p.coord,
            "forward",
            &c,
            json!({"unit": "dpupr"}),
            StatusCode::CONFLICT,
        ), // not verified
        (
            "coord",
            &p.coord,
            "verify",
            &c,
            json!({"classification": "keluhan"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "coord",
            &p.coord,
            "merge",
            &c,
            json!({"into": a}),
            StatusCode::OK,
        ),
        (
            "coord",
            &p.coord,
            "verify",
            &c,
            json!({}),
            StatusCode::CONFLICT,
        ), // merged
        (
            "ub",
            &p.ub,
            "not_authority",
            &bb,
            json!({"reason": "urusan kecamatan"}),
            StatusCode::OK,
        ),
        (
            "ub",
            &p.ub,
            "answer",
            &bb,
            json!({"body": "x"}),
            StatusCode::NOT_FOUND,
        ), // back with the coordinators
        (
            "coord",
            &p.coord,
            "forward",
            &bb,
            json!({"unit": "nowhere"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "op",
            &p.op,
            "forward",
            &bb,
            json!({"unit": "dpupr"}),
            StatusCode::OK,
        ),
        (
            "op",
            &p.op,
            "frobnicate",
            &bb,
            json!({}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (who, tok, action, t, body, want) in table {
        let (s, v) = call(
            &app,
            tok,
            "POST",
            &format!("/api/v1/complaints/{t}/{action}"),
            body,
        )
        .await;
        assert_eq!(s, want, "{who} {action} {t}: {v}");
        if s.is_client_error() {
            assert!(
                v["type"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("urn:aduan:problem:"),
                "{v}"
            );
        }
    }
    let (_, v) = call(
        &app,
        &p.op,
        "GET",
        &format!("/api/v1/complaints/{a}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["status"], "answered", "{v}");
    let (_, v) = call(
        &app,
        &p.op,
        "GET",
        &format!("/api/v1/complaints/{bb}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["unit"].as_str()),
        (Some("forwarded"), Some("dpupr")),
        "{v}"
    );
    let (_, v) = call(
        &app,
        &p.op,
        "GET",
        &format!("/api/v1/complaints/{c}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["status"], "merged");
    assert_eq!(v["merged_into"], a.as_str());
    // The duplicate's text moved to the survivor's thread.
    let (_, v) = call(
        &app,
        &p.ua,
        "GET",
        &format!("/api/v1/complaints/{a}"),
        Value::Null,
    )
    .await;
    assert!(
        v["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["body"].as_str().unwrap_or("").contains("Air PDAM keruh")),
        "{v}"
    );
    // The answer is on the public status page (the complaint is not confidential).
    let page = app
        .get(&format!("/api/v1/reports/{a}"))
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert!(page.to_string().contains("Perbaikan dijadwalkan"), "{page}");
    assert!(!page.to_string().contains("siti@warga.test"));

    // Operator-only tables, and no token at all.
    let (s, _) = call(
        &app,
        &p.coord,
        "POST",
        "/api/v1/users",
        json!({"username": "x", "display_name": "x", "role": "operator"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &app,
        &p.op,
        "POST",
        "/api/v1/users",
        json!({"username": "budi", "display_name": "Budi", "role": "liaison", "unit": "dpupr"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let budi = v["token"].as_str().expect("token").to_owned();
    let (s, _) = call(
        &app,
        &budi,
        "GET",
        &format!("/api/v1/complaints/{a}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        &p.ua,
        "PUT",
        "/api/v1/holidays",
        json!({"day": "2026-12-31", "name": "x", "kind": "libur"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &app,
        &p.ua,
        "PUT",
        "/api/v1/categories",
        json!({"code": "jalan", "name": "Jalan"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &app,
        &p.op,
        "PUT",
        "/api/v1/categories",
        json!({"code": "jalan-rusak", "name": "Jalan rusak", "parent": "air-bersih"}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _) = call(
        &app,
        &p.op,
        "PUT",
        "/api/v1/categories",
        json!({"code": "air-bersih", "name": "Air", "parent": "jalan-rusak"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a cycle");
    let (_, cats) = call(&app, &p.ua, "GET", "/api/v1/categories", Value::Null).await;
    assert!(cats.to_string().contains("jalan-rusak"), "{cats}");
    let (s, v) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{bb}/hold"),
        json!({"reason": "cek"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{bb}/resume"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("forwarded")),
        "{v}"
    );
    let (s, _) = call(&app, &p.ua, "GET", "/api/v1/channels", Value::Null).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = app.get("/api/v1/complaints").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let (s, _) = call(&app, "aduan_0000", "GET", "/api/v1/complaints", Value::Null).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    app.store
        .set_user_active("ua", false)
        .await
        .expect("disable");
    let (s, _) = call(&app, &p.ua, "GET", "/api/v1/complaints", Value::Null).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a disabled user's token is dead"
    );
    app.stop().await;
}

async fn claims_are_exclusive_under_fifty_concurrent_claimers(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let mut tokens = Vec::new();
    for i in 0..50 {
        let name = format!("k{i}");
        app.store
            .create_user(&NewUser {
                username: &name,
                display_name: &name,
                email: None,
                role: Role::Coordinator,
                unit: None,
                password: None,
            })
            .await
            .expect("user");
        tokens.push(
            app.store
                .issue_token(&name, "t")
                .await
                .expect("token")
                .token,
        );
    }
    let mut filed = Vec::new();
    for i in 0..30 {
        filed.push(report(&app, &format!("Laporan nomor {i}"), false).await);
    }
    // Someone else holds one: it is never handed out.
    let (s, _) = call(
        &app,
        &p.coord2,
        "POST",
        &format!("/api/v1/complaints/{}/claim", filed[0]),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{}/claim", filed[0]),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{}/verify", filed[0]),
        json!({}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a claimed complaint is worked by its claimer only"
    );

    let mut tasks = Vec::new();
    for tok in tokens {
        let client = app.client.clone();
        let url = app.url("/api/v1/complaints/next");
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(tok)
                .send()
                .await
                .expect("next");
            match res.status() {
                StatusCode::OK => Some(
                    res.json::<Value>().await.expect("json")["tracking_id"]
                        .as_str()
                        .expect("t")
                        .to_owned(),
                ),
                StatusCode::NO_CONTENT => None,
                s => panic!("next answered {s}"),
            }
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        if let Some(tid) = t.await.expect("task") {
            got.push(tid);
        }
    }
    let unique: HashSet<_> = got.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "a complaint was claimed twice: {got:?}"
    );
    assert_eq!(
        got.len(),
        29,
        "every free complaint claimed once, the held one never"
    );
    assert!(!unique.contains(&filed[0]));
    // Oldest first: the next claimer gets nothing; after a release, that one.
    let (s, _) = claim_next(&app, &p.coord).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        &p.coord2,
        "DELETE",
        &format!("/api/v1/complaints/{}/claim", filed[0]),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = claim_next(&app, &p.coord).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tracking_id"], filed[0].as_str());
    assert_eq!(v["claimed_by"], "coord");
    app.stop().await;
}

async fn deadlines_flag_overdue_once_and_close_unanswered_answers(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let store = &app.store;
    let t = report(&app, "Lampu jalan padam", false).await;
    let received = aduan::store::micros(
        store
            .complaint(&t)
            .await
            .expect("read")
            .expect("complaint")
            .received_at,
    );
    let pass = sla_pass(store, received).await.expect("pass");
    assert_eq!(pass.scheduled, 1);
    let cal = aduan::queue::jobs::calendar(store).await.expect("calendar");
    let due = cal.add_working_days(received, VERIFY_DAYS);
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{t}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        v["due_at"].as_str().map(|s| s.to_owned()),
        Some(aduan::store::from_micros(due).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        "{v}"
    );
    assert_eq!(v["overdue"], false);

    // Before the deadline nothing happens; after it, flagged once, however many daemons run.
    assert_eq!(sla_pass(store, due).await.expect("pass").flagged_overdue, 0);
    let late = due + 1;
    let (x, y) = tokio::join!(sla_pass(store, late), sla_pass(store, late));
    assert_eq!(
        x.expect("x").flagged_overdue + y.expect("y").flagged_overdue,
        1
    );
    assert_eq!(
        sla_pass(store, late).await.expect("pass").flagged_overdue,
        0
    );
    let (_, list) = call(
        &app,
        &p.coord,
        "GET",
        "/api/v1/complaints?overdue=true",
        Value::Null,
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // Forwarded: the unit's deadline starts; answered: the auto-close clock starts.
    for (action, body) in [("verify", json!({})), ("forward", json!({"unit": "dpupr"}))] {
        let (s, v) = call(
            &app,
            &p.coord,
            "POST",
            &format!("/api/v1/complaints/{t}/{action}"),
            body,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, _) = call(
        &app,
        &p.ua,
        "POST",
        &format!("/api/v1/complaints/{t}/answer"),
        json!({"body": "Sudah diperbaiki."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        &p.li,
        "POST",
        &format!("/api/v1/complaints/{t}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let now = aduan::store::now_micros();
    assert_eq!(sla_pass(store, now).await.expect("pass").scheduled, 1);
    let close_at = cal.add_working_days(now, AUTO_CLOSE_DAYS);
    assert_eq!(sla_pass(store, close_at).await.expect("pass").closed, 0);
    let (x, y) = tokio::join!(sla_pass(store, close_at + 1), sla_pass(store, close_at + 1));
    assert_eq!(
        x.expect("x").closed + y.expect("y").closed,
        1,
        "closed once"
    );
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{t}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["status"], "closed");
    app.stop().await;
}

/// Claim-next requests arriving together share one commit; each still gets a complaint
/// of its own scope, and none is handed out twice.
async fn batched_claims_keep_each_claimers_scope(b: Backend) {
    use aduan::queue::{ActionKind, ActionRequest, Actor};
    let app = spawn_app(b).await;
    let queue = app.app.as_ref().expect("app").queue.clone();
    let mut actors: Vec<Actor> = Vec::new();
    for (prefix, role, unit) in [
        ("ka", Role::UnitAdmin, Some("dinas-a")),
        ("kb", Role::UnitAdmin, Some("dinas-b")),
        ("kk", Role::Coordinator, None),
    ] {
        if let Some(u) = unit {
            app.store.create_unit(u, u).await.expect("unit");
        }
        for i in 0..5 {
            actors.push(
                crate::harness::staff_actor(&app.store, &format!("{prefix}{i}"), role, unit).await,
            );
        }
    }
    let coordinator = actors[10].clone();
    let mut filed = Vec::new();
    for i in 0..9 {
        filed.push(report(&app, &format!("Laporan antrean {i}"), false).await);
    }
    // Three go to each unit; three stay new.
    for (i, t) in filed.iter().take(6).enumerate() {
        let unit = if i < 3 { "dinas-a" } else { "dinas-b" };
        for (action, req) in [
            (ActionKind::Verify, ActionRequest::default()),
            (
                ActionKind::Forward,
                ActionRequest {
                    unit: Some(unit.into()),
                    ..ActionRequest::default()
                },
            ),
        ] {
            queue
                .act(&coordinator, t, action, &req)
                .await
                .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        }
    }
    let tasks: Vec<_> = actors
        .iter()
        .cloned()
        .map(|a| {
            let q = queue.clone();
            tokio::spawn(async move {
                let got = q.next(&a).await.expect("next");
                (a, got)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut per_scope = std::collections::HashMap::<String, usize>::new();
    for t in tasks {
        let (actor, got) = t.await.expect("task");
        let Some(item) = got else { continue };
        assert!(
            seen.insert(item.record.tracking_id.clone()),
            "handed out twice"
        );
        match actor.role {
            Role::UnitAdmin => {
                assert_eq!(item.record.unit, actor.unit, "{}", actor.username);
                assert_eq!(item.record.status, "forwarded");
            }
            _ => assert_eq!(item.record.status, "new"),
        }
        assert_eq!(item.claimed_by.as_deref(), Some(actor.username.as_str()));
        *per_scope
            .entry(actor.unit.clone().unwrap_or_else(|| "pusat".into()))
            .or_default() += 1;
    }
    assert_eq!(per_scope.get("dinas-a"), Some(&3));
    assert_eq!(per_scope.get("dinas-b"), Some(&3));
    assert_eq!(per_scope.get("pusat"), Some(&3));
    app.stop().await;
}

/// Coordinators and operators claim from overlapping statuses: when they press "next"
/// together, each waiting complaint goes to exactly one of them and nobody is told the
/// queue is empty while complaints wait.
async fn overlapping_scopes_claiming_at_once_share_the_queue(b: Backend) {
    use aduan::queue::Actor;
    let app = spawn_app(b).await;
    let queue = app.app.as_ref().expect("app").queue.clone();
    let mut actors: Vec<Actor> = Vec::new();
    for (prefix, role) in [("ko", Role::Coordinator), ("op", Role::Operator)] {
        for i in 0..4 {
            actors.push(
                crate::harness::staff_actor(&app.store, &format!("{prefix}{i}"), role, None).await,
            );
        }
    }
    let mut seen = HashSet::new();
    for round in 0..5 {
        let mut filed = HashSet::new();
        for i in 0..6 {
            filed.insert(report(&app, &format!("Laporan bersama {round}-{i}"), false).await);
        }
        let tasks: Vec<_> = actors
            .iter()
            .cloned()
            .map(|a| {
                let q = queue.clone();
                tokio::spawn(async move { q.next(&a).await.expect("next") })
            })
            .collect();
        let mut got = 0;
        for t in tasks {
            if let Some(item) = t.await.expect("task") {
                let id = item.record.tracking_id;
                assert!(filed.contains(&id), "round {round}: {id} was not waiting");
                assert!(seen.insert(id), "round {round}: handed out twice");
                got += 1;
            }
        }
        // Eight claimers, six waiting: all six claimed, two told there is nothing.
        assert_eq!(got, 6, "round {round}");
    }
    app.stop().await;
}

/// A claim whose lease ran out is handed out again by claim-next.
async fn an_expired_claim_is_handed_out_again(b: Backend) {
    use aduan::queue::{AnswerRoutes, Queue};
    let app = spawn_app(b).await;
    let staff = crate::harness::queue_staff(&app.store, "dinas-c", "lease").await;
    let filed = report(&app, "Laporan yang ditinggal", false).await;
    // A lease of no time at all: expired as soon as it is taken.
    let mut queue = Queue::new(app.store.clone(), AnswerRoutes::default());
    queue.claim_lease_secs = 0;
    let first = queue.next(&staff[0]).await.expect("next").expect("one");
    assert_eq!(first.record.tracking_id, filed);
    let other = aduan::queue::Actor {
        user_id: staff[1].user_id,
        username: staff[1].username.clone(),
        role: Role::Coordinator,
        unit: None,
    };
    let again = queue.next(&other).await.expect("next").expect("again");
    assert_eq!(again.record.tracking_id, filed);
    let holder: Option<i64> =
        sqlx::query_scalar("SELECT claimed_by FROM complaints WHERE tracking_id = $1")
            .bind(&filed)
            .fetch_one(&app.store.pool_for_tests())
            .await
            .expect("row");
    assert_eq!(
        holder,
        Some(staff[1].user_id),
        "the second claimer holds it"
    );
    app.stop().await;
}

/// On PostgreSQL claim-next's batch statement keeps one generic plan instead of being
/// planned for every batch: its probe's size is a parameter, and PostgreSQL, guessing a
/// tenth of the table for it, never chose the generic plan by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_batches_keep_one_plan_on_postgres() {
    let app = spawn_app(Backend::Postgres).await;
    let p = people(&app).await;
    for i in 0..8 {
        report(&app, &format!("Jalan berlubang nomor {i}"), false).await;
    }
    // One at a time, each a batch of its own: more than the five custom plans
    // PostgreSQL makes before it may choose a generic one.
    for i in 0..8 {
        let (s, v) = claim_next(&app, &p.coord).await;
        assert_eq!(s, StatusCode::OK, "claim {i}: {v}");
    }
    let (generic, custom) = app.store.claim_plans_for_tests().await.expect("plans");
    assert_eq!(
        (generic, custom),
        (8, 0),
        "the batch statement's plans (generic, custom)"
    );
    app.stop().await;
}

/// Pooled PostgreSQL connections that died while idle (a restarted server, a dropped
/// network path) are checked and replaced before they are handed out, in every pool:
/// the writes', the reads', the lists' and claim-next's. Connections in steady use are
/// handed out unchecked (the check was a second round trip for every query); this is
/// what the check on idle ones is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_died_while_idle_are_replaced() {
    let app = spawn_app(Backend::Postgres).await;
    let p = people(&app).await;
    let rounds = async |round: &str| {
        let t = report(&app, &format!("Lampu jalan padam, {round}"), false).await;
        let (s, v) = get(&app, &p.coord, "/api/v1/complaints").await;
        assert_eq!(s, StatusCode::OK, "{round}: list: {v}");
        let (s, v) = get(&app, &p.coord, &format!("/api/v1/complaints/{t}")).await;
        assert_eq!(s, StatusCode::OK, "{round}: show: {v}");
        let (s, v) = claim_next(&app, &p.coord2).await;
        assert_eq!(s, StatusCode::OK, "{round}: claim-next: {v}");
    };
    rounds("before").await;
    let killed = end_connections(&app).await;
    assert!(killed >= 4, "the daemon's connections ended: {killed}");
    tokio::time::sleep(aduan::store::CHECK_IF_IDLE_FOR + Duration::from_millis(300)).await;
    rounds("after the server ended every connection").await;
    app.stop().await;
}

/// A list connection whose read failed is dropped, not handed out again: connections
/// used in the last moment are not pinged first, so a broken one would otherwise fail
/// every list until it sat idle long enough to be checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_connection_whose_read_failed_is_not_reused() {
    let app = spawn_app(Backend::Postgres).await;
    let p = people(&app).await;
    report(&app, "Air PDAM keruh", false).await;
    let (s, v) = get(&app, &p.coord, "/api/v1/complaints").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    end_connections(&app).await;
    // At once, well within the window in which a connection is handed out unchecked.
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(get(&app, &p.coord, "/api/v1/complaints").await.0);
    }
    let first_ok = answers.iter().position(|s| *s == StatusCode::OK);
    assert!(
        first_ok.is_some_and(|i| i <= 2 && answers[i..].iter().all(|s| *s == StatusCode::OK)),
        "the lists after every connection ended: {answers:?}"
    );
    app.stop().await;
}

/// Ends every connection of the app's database on the server; how many there were.
async fn end_connections(app: &TestApp) -> i64 {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&app.db.url)
        .await
        .expect("connect");
    let (ended,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut admin)
    .await
    .expect("terminate");
    ended
}

/// Disabling a user here ends their tokens at once (the authorization matrix checks
/// that); disabling them through another daemon or the CLI, whose changes this daemon's
/// token cache does not hear of, ends them within the cache's second.
async fn a_user_disabled_by_another_daemon_loses_access(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let (s, _) = call(&app, &p.ua, "GET", "/api/v1/complaints", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    let other = app.db.store().await;
    other.set_user_active("ua", false).await.expect("disable");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (s, _) = call(&app, &p.ua, "GET", "/api/v1/complaints", Value::Null).await;
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(s, StatusCode::OK);
        assert!(
            std::time::Instant::now() < deadline,
            "the token of a user disabled by another daemon still works after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The others' tokens still work.
    let (s, _) = call(&app, &p.ub, "GET", "/api/v1/complaints", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    other.close().await;
    app.stop().await;
}

/// Claim-next reads what it hands out for the whole batch at once; the caller must get
/// what opening the complaint shows it, an anonymous reporter hidden included.
async fn claim_next_answers_as_show_does(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let named = report(&app, "Lampu jalan padam di Jl. Sudirman", false).await;
    let anonymous = report(&app, "Pungli di kantor desa", true).await;
    for (t, hidden) in [(named, false), (anonymous, true)] {
        let (s, next) = claim_next(&app, &p.coord).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(next["tracking_id"], t.as_str());
        let (s, shown) = call(
            &app,
            &p.coord,
            "GET",
            &format!("/api/v1/complaints/{t}"),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(next, shown, "claim-next answers {t} as show does");
        assert!(
            next["messages"].as_array().is_some_and(|m| !m.is_empty()),
            "{next}"
        );
        assert_eq!(next["reporter"].is_null(), hidden, "{next}");
    }
    app.stop().await;
}

on_both!(
    a_user_disabled_by_another_daemon_loses_access,
    claim_next_answers_as_show_does,
    an_expired_claim_is_handed_out_again,
    authorization_matrix,
    batched_claims_keep_each_claimers_scope,
    claims_are_exclusive_under_fifty_concurrent_claimers,
    deadlines_flag_overdue_once_and_close_unanswered_answers,
    overlapping_scopes_claiming_at_once_share_the_queue
);

#[tokio::test]
async fn the_openapi_document_lists_the_admin_api() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app
        .get("/api/v1/openapi.json")
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{doc}"
    );
    for path in [
        "/api/v1/complaints",
        "/api/v1/complaints/{tracking_id}",
        "/api/v1/complaints/next",
        "/api/v1/complaints/{tracking_id}/{action}",
        "/api/v1/holidays",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}

/// Captures what would be sent.
#[derive(Default)]
struct Captured(std::sync::Mutex<Vec<aduan_kit::OutboundMessage>>);

#[async_trait::async_trait]
impl aduan_kit::OutboundSender for Captured {
    async fn send(
        &self,
        msg: &aduan_kit::OutboundMessage,
    ) -> Result<aduan_kit::SendReceipt, aduan_kit::ConnectorError> {
        self.0.lock().expect("lock").push(msg.clone());
        Ok(aduan_kit::SendReceipt::default())
    }
}

async fn escalation_digests_go_once_per_working_day_to_the_right_people(b: Backend) {
    use aduan::queue::jobs::digest_pass;
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let store = &app.store;
    for (name, role, unit, email) in [
        ("kepala", Role::Coordinator, None, "kepala@aduan.test"),
        ("pupr", Role::UnitAdmin, Some("dpupr"), "pupr@aduan.test"),
        (
            "capil",
            Role::UnitAdmin,
            Some("disdukcapil"),
            "capil@aduan.test",
        ),
    ] {
        store
            .create_user(&NewUser {
                username: name,
                display_name: name,
                email: Some(email),
                role,
                unit,
                password: None,
            })
            .await
            .expect("user");
    }
    let late_new = report(&app, "Laporan belum diverifikasi", true).await;
    let late_unit = forwarded_to(&app, &p, "Jembatan retak", "dpupr", false).await;
    let received = aduan::store::now_micros();
    sla_pass(store, received).await.expect("schedule");
    let cal = aduan::queue::jobs::calendar(store).await.expect("calendar");
    // Well after both deadlines, on a working day.
    let mut later = cal.add_working_days(received, 8) - 12 * 3_600 * 1_000_000;
    while !cal.is_working_day(aduan::queue::calendar::Calendar::local_date(later)) {
        later += 24 * 3_600 * 1_000_000;
    }
    assert_eq!(
        sla_pass(store, later).await.expect("pass").flagged_overdue,
        2
    );

    let sender = Captured::default();
    let ch = aduan_kit::ChannelName::parse("surel").expect("name");
    let url = "https://lapor.contoh.go.id";
    let (x, y) = tokio::join!(
        digest_pass(store, &sender, &ch, url, later),
        digest_pass(store, &sender, &ch, url, later)
    );
    assert_eq!(
        x.expect("x") + y.expect("y"),
        2,
        "kepala and pupr, once each"
    );
    assert_eq!(
        digest_pass(store, &sender, &ch, url, later)
            .await
            .expect("again"),
        0
    );
    let sent = sender.0.lock().expect("lock").clone();
    let to = |addr: &str| sent.iter().find(|m| m.recipient.address == addr).cloned();
    let kepala = to("kepala@aduan.test").expect("coordinator digest");
    assert!(
        kepala.body.contains(&late_new)
            && kepala
                .body
                .contains("Seluruh laporan yang terlambat, semua unit: 2"),
        "{}",
        kepala.body
    );
    assert!(
        !kepala.body.contains("siti@warga.test") && !kepala.body.contains("Siti"),
        "no reporter in digests"
    );
    let pupr = to("pupr@aduan.test").expect("unit digest");
    assert!(
        pupr.body.contains(&late_unit) && !pupr.body.contains(&late_new),
        "{}",
        pupr.body
    );
    assert!(
        to("capil@aduan.test").is_none(),
        "nothing overdue in that unit"
    );
    assert_eq!(kepala.kind, aduan_kit::OutboundKind::Notice);
    // The next working day brings the next digest.
    let mut next = later + 24 * 3_600 * 1_000_000;
    while !cal.is_working_day(aduan::queue::calendar::Calendar::local_date(next)) {
        next += 24 * 3_600 * 1_000_000;
    }
    assert_eq!(
        digest_pass(store, &sender, &ch, url, next)
            .await
            .expect("next day"),
        2
    );
    app.stop().await;
}

on_both!(escalation_digests_go_once_per_working_day_to_the_right_people);

async fn console_sessions_need_the_password_and_a_csrf_token(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    app.store
        .create_user(&NewUser {
            username: "sari",
            display_name: "Sari",
            email: None,
            role: Role::Coordinator,
            unit: None,
            password: Some("kata-sandi-panjang-sekali"),
        })
        .await
        .expect("user");
    let t = report(&app, "Sampah menumpuk", false).await;
    let login = |password: &'static str| {
        app.client
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "sari", "password": password}))
            .send()
    };
    assert_eq!(
        login("salah").await.expect("login").status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "tidak-ada", "password": "x"}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = login("kata-sandi-panjang-sekali").await.expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_owned();
    let csrf = res.json::<Value>().await.expect("json")["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();

    let with_cookie = |m: reqwest::Method, path: &str| {
        app.client
            .request(m, app.url(path))
            .header("cookie", cookie.clone())
    };
    let r = with_cookie(reqwest::Method::GET, &format!("/api/v1/complaints/{t}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK, "reading needs only the cookie");
    let verify = format!("/api/v1/complaints/{t}/verify");
    let r = with_cookie(reqwest::Method::POST, &verify)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = with_cookie(reqwest::Method::POST, &verify)
        .header("x-csrf-token", "0".repeat(64))
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong CSRF token");
    let r = with_cookie(reqwest::Method::POST, &verify)
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    // The audit names the person behind the session.
    let (_, v) = call(
        &app,
        &p.op,
        "GET",
        &format!("/api/v1/complaints/{t}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["status"], "verified");
    let r = with_cookie(reqwest::Method::DELETE, "/api/v1/session")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = with_cookie(reqwest::Method::GET, "/api/v1/complaints")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the session is over");
    app.stop().await;
}

on_both!(console_sessions_need_the_password_and_a_csrf_token);

async fn filters_full_text_search_and_keyset_pages(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let road = forwarded_to(&app, &p, "Jalan berlubang di Kampung Dalam", "dpupr", false).await;
    let id_card = report(&app, "KTP elektronik belum dicetak", false).await;
    let water = report(&app, "Air PDAM keruh dan berbau", false).await;
    for i in 0..25 {
        report(
            &app,
            &format!("Lampu penerangan jalan mati nomor {i}"),
            false,
        )
        .await;
    }
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let get = |q: &str| {
        let path = format!("/api/v1/complaints?{q}");
        let app = &app;
        let token = p.coord.clone();
        async move { call(app, &token, "GET", &path, Value::Null).await }
    };

    // Whole words, any case, on both back ends; Indonesian text is not stemmed into
    // something else, and a word's prefix is not the word.
    let (s, v) = get("q=berlubang").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(titles(&v), vec!["Jalan berlubang di Kampung Dalam"]);
    let (_, v) = get("q=ktp").await;
    assert_eq!(titles(&v), vec!["KTP elektronik belum dicetak"]);
    let (_, v) = get("q=keruh%20berbau").await;
    assert_eq!(v["items"][0]["tracking_id"], water.as_str());
    let (_, v) = get("q=jalan&limit=100").await;
    assert_eq!(titles(&v).len(), 26, "{v}");
    let (_, v) = get("q=lampu%20berlubang").await;
    assert!(titles(&v).is_empty(), "all words must match");
    let (_, v) = get("q=berlub").await;
    assert!(titles(&v).is_empty(), "a prefix is not a word: {v}");
    // Search syntax in user input is only text.
    for hostile in [
        "%22",
        "jalan%20OR%20x",
        "NEAR(a%20b)",
        "*",
        "%27%3B%20DROP%20TABLE%20complaints",
        "-jalan",
    ] {
        let (s, v) = get(&format!("q={hostile}")).await;
        assert_eq!(s, StatusCode::OK, "{hostile}: {v}");
    }

    // Filters.
    let (_, v) = get("status=forwarded").await;
    assert_eq!(titles(&v), vec!["Jalan berlubang di Kampung Dalam"]);
    let (_, v) = get("unit=dpupr&channel=webform").await;
    assert_eq!(v["items"][0]["tracking_id"], road.as_str());
    let (_, v) = get("channel=email").await;
    assert!(titles(&v).is_empty());
    let (s, _) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{id_card}/claim"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = get("claimed_by=coord").await;
    assert_eq!(v["items"][0]["tracking_id"], id_card.as_str());
    assert_eq!(titles(&v).len(), 1);

    // Keyset pages: every complaint once, oldest first, however the pages fall.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (s, v) = get(&format!("limit=7{after}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        seen.extend(
            v["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["tracking_id"].as_str().unwrap_or("").to_owned()),
        );
        match v["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 28);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 28);
    assert_eq!(seen[0], road);
    let (s, v) = get("after=bogus").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    app.stop().await;
}

on_both!(filters_full_text_search_and_keyset_pages);
