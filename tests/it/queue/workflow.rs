//! The workflow over HTTP: what an action refuses (no reason, no body, a status it does
//! not start from, an unknown unit or action), and what the accepted ones leave behind:
//! the merged text on the survivor's thread, the answer on the public status page, a
//! held complaint resuming where it was. Who may act is the authorization table's.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_problem, call, people, three, Three};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn actions_refuse_what_does_not_fit_and_move_the_rest(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let Three { a, bb, c } = three(&app, &p).await;

    // (who, token, action, complaint, body, expected status), in order: each row starts
    // where the rows before it left the complaint.
    let table: Vec<(&str, &String, &str, &String, Value, StatusCode)> = vec![
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
        assert_problem(s, &v, &format!("{who} {action} {t}"));
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
    app.stop().await;
}

on_both!(actions_refuse_what_does_not_fit_and_move_the_rest);
