//! Who may see and do what. One table of (role, unit, action, expected), tried over
//! HTTP row by row, each row on a complaint of its own that the operator brought to
//! where the action applies; then what a status code cannot say: who sees an anonymous
//! reporter, and whose complaints a list holds.

use std::fmt;

use aduan::queue::Role::{self, Coordinator, Liaison, Operator, UnitAdmin};
use reqwest::StatusCode;
use serde_json::{json, Value};
use Act::{Do, Show, Table};
use Unit::{Any, Other, Own, Unassigned};

use super::{assert_problem, call, people, report, three, People, Three};
use crate::harness::{spawn_app, Backend, TestApp};
use crate::on_both;

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const NO_CONTENT: StatusCode = StatusCode::NO_CONTENT;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

/// The unit of the unit roles' people (`ua`, `li`).
const OWN_UNIT: &str = "dpupr";
/// A unit nobody in the table belongs to.
const OTHER_UNIT: &str = "disdukcapil";

/// Where the row's complaint is, seen from the one acting. Central roles have no unit
/// of their own: to them every unit is another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Not forwarded yet: no unit.
    Unassigned,
    /// Forwarded to the actor's unit.
    Own,
    /// Forwarded to another unit.
    Other,
    /// No complaint at all: the operator's tables, the same for every unit.
    Any,
}

#[derive(Debug, Clone, Copy)]
enum Act {
    /// `GET /api/v1/complaints/{t}`.
    Show,
    /// `POST /api/v1/complaints/{t}/{action}` (a workflow action, or `claim`).
    Do(&'static str),
    /// A request to the operator's tables: method and path.
    Table(&'static str, &'static str),
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Show => f.write_str("show"),
            Act::Do(action) => f.write_str(action),
            Act::Table(method, path) => write!(f, "{method} {path}"),
        }
    }
}

/// (role, unit, action, expected). Refusals: "not found" for what the role may not see
/// (a unit cannot probe for other units' tracking numbers), "forbidden" for what it sees
/// but may not do. The role is checked before the status, so a unit role asked to act on
/// a status that never has a unit (verify, forward) is answered on its own unit's
/// forwarded complaint.
#[rustfmt::skip]
const MATRIX: &[(Role, Unit, Act, StatusCode)] = &[
    // Seeing a complaint.
    (Operator,    Unassigned, Show, OK),
    (Operator,    Other,      Show, OK),
    (Coordinator, Unassigned, Show, OK),
    (Coordinator, Other,      Show, OK),
    (UnitAdmin,   Own,        Show, OK),
    (UnitAdmin,   Other,      Show, NOT_FOUND),
    (UnitAdmin,   Unassigned, Show, NOT_FOUND),
    (Liaison,     Own,        Show, OK),
    (Liaison,     Other,      Show, NOT_FOUND),
    (Liaison,     Unassigned, Show, NOT_FOUND),
    // Claiming: whoever sees it.
    (Operator,    Unassigned, Do("claim"), OK),
    (Operator,    Other,      Do("claim"), OK),
    (Coordinator, Unassigned, Do("claim"), OK),
    (Coordinator, Other,      Do("claim"), OK),
    (UnitAdmin,   Own,        Do("claim"), OK),
    (UnitAdmin,   Other,      Do("claim"), NOT_FOUND),
    (UnitAdmin,   Unassigned, Do("claim"), NOT_FOUND),
    (Liaison,     Own,        Do("claim"), OK),
    (Liaison,     Other,      Do("claim"), NOT_FOUND),
    (Liaison,     Unassigned, Do("claim"), NOT_FOUND),
    // Verifying and forwarding: central roles only.
    (Operator,    Unassigned, Do("verify"), OK),
    (Coordinator, Unassigned, Do("verify"), OK),
    (UnitAdmin,   Unassigned, Do("verify"), NOT_FOUND),
    (UnitAdmin,   Own,        Do("verify"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("verify"), NOT_FOUND),
    (Liaison,     Unassigned, Do("verify"), NOT_FOUND),
    (Liaison,     Own,        Do("verify"), FORBIDDEN),
    (Liaison,     Other,      Do("verify"), NOT_FOUND),
    (Operator,    Unassigned, Do("forward"), OK),
    (Coordinator, Unassigned, Do("forward"), OK),
    (UnitAdmin,   Unassigned, Do("forward"), NOT_FOUND),
    (UnitAdmin,   Own,        Do("forward"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("forward"), NOT_FOUND),
    (Liaison,     Unassigned, Do("forward"), NOT_FOUND),
    (Liaison,     Own,        Do("forward"), FORBIDDEN),
    (Liaison,     Other,      Do("forward"), NOT_FOUND),
    // Holding: a unit admin too, on its own unit's.
    (Operator,    Other,      Do("hold"), OK),
    (Coordinator, Other,      Do("hold"), OK),
    (UnitAdmin,   Own,        Do("hold"), OK),
    (UnitAdmin,   Other,      Do("hold"), NOT_FOUND),
    (UnitAdmin,   Unassigned, Do("hold"), NOT_FOUND),
    (Liaison,     Own,        Do("hold"), FORBIDDEN),
    (Liaison,     Other,      Do("hold"), NOT_FOUND),
    // Resuming, archiving, rejecting, merging, closing: central roles only.
    (Operator,    Other,      Do("resume"), OK),
    (Coordinator, Other,      Do("resume"), OK),
    (UnitAdmin,   Own,        Do("resume"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("resume"), NOT_FOUND),
    (Liaison,     Own,        Do("resume"), FORBIDDEN),
    (Liaison,     Other,      Do("resume"), NOT_FOUND),
    (Operator,    Other,      Do("archive"), OK),
    (Coordinator, Other,      Do("archive"), OK),
    (UnitAdmin,   Own,        Do("archive"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("archive"), NOT_FOUND),
    (Liaison,     Own,        Do("archive"), FORBIDDEN),
    (Liaison,     Other,      Do("archive"), NOT_FOUND),
    (Operator,    Other,      Do("reject"), OK),
    (Coordinator, Other,      Do("reject"), OK),
    (UnitAdmin,   Own,        Do("reject"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("reject"), NOT_FOUND),
    (Liaison,     Own,        Do("reject"), FORBIDDEN),
    (Liaison,     Other,      Do("reject"), NOT_FOUND),
    (Operator,    Other,      Do("merge"), OK),
    (Coordinator, Other,      Do("merge"), OK),
    (UnitAdmin,   Own,        Do("merge"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("merge"), NOT_FOUND),
    (Liaison,     Own,        Do("merge"), FORBIDDEN),
    (Liaison,     Other,      Do("merge"), NOT_FOUND),
    (Operator,    Other,      Do("close"), OK),
    (Coordinator, Other,      Do("close"), OK),
    (UnitAdmin,   Own,        Do("close"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("close"), NOT_FOUND),
    (Liaison,     Own,        Do("close"), FORBIDDEN),
    (Liaison,     Other,      Do("close"), NOT_FOUND),
    // Saying "not ours" and drafting the answer: the unit admin, not the liaison.
    (Operator,    Other,      Do("not_authority"), OK),
    (Coordinator, Other,      Do("not_authority"), OK),
    (UnitAdmin,   Own,        Do("not_authority"), OK),
    (UnitAdmin,   Other,      Do("not_authority"), NOT_FOUND),
    (Liaison,     Own,        Do("not_authority"), FORBIDDEN),
    (Liaison,     Other,      Do("not_authority"), NOT_FOUND),
    (Operator,    Other,      Do("answer"), OK),
    (Coordinator, Other,      Do("answer"), OK),
    (UnitAdmin,   Own,        Do("answer"), OK),
    (UnitAdmin,   Other,      Do("answer"), NOT_FOUND),
    (Liaison,     Own,        Do("answer"), FORBIDDEN),
    (Liaison,     Other,      Do("answer"), NOT_FOUND),
    // Approving or returning a draft: the liaison of its unit and the operator; a unit
    // never approves its own answer, and a coordinator approves none.
    (Operator,    Other,      Do("approve"), OK),
    (Coordinator, Other,      Do("approve"), FORBIDDEN),
    (UnitAdmin,   Own,        Do("approve"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("approve"), NOT_FOUND),
    (Liaison,     Own,        Do("approve"), OK),
    (Liaison,     Other,      Do("approve"), NOT_FOUND),
    (Operator,    Other,      Do("return"), OK),
    (Coordinator, Other,      Do("return"), FORBIDDEN),
    (UnitAdmin,   Own,        Do("return"), FORBIDDEN),
    (UnitAdmin,   Other,      Do("return"), NOT_FOUND),
    (Liaison,     Own,        Do("return"), OK),
    (Liaison,     Other,      Do("return"), NOT_FOUND),
    // The operator's tables: every staff member reads units, holidays and categories;
    // only the operator writes them, and lists or makes users; channels' health is for
    // central roles.
    (Operator,    Any, Table("GET", "/api/v1/users"), OK),
    (Coordinator, Any, Table("GET", "/api/v1/users"), FORBIDDEN),
    (UnitAdmin,   Any, Table("GET", "/api/v1/users"), FORBIDDEN),
    (Liaison,     Any, Table("GET", "/api/v1/users"), FORBIDDEN),
    (Operator,    Any, Table("POST", "/api/v1/users"), CREATED),
    (Coordinator, Any, Table("POST", "/api/v1/users"), FORBIDDEN),
    (UnitAdmin,   Any, Table("POST", "/api/v1/users"), FORBIDDEN),
    (Liaison,     Any, Table("POST", "/api/v1/users"), FORBIDDEN),
    (Operator,    Any, Table("GET", "/api/v1/units"), OK),
    (Coordinator, Any, Table("GET", "/api/v1/units"), OK),
    (UnitAdmin,   Any, Table("GET", "/api/v1/units"), OK),
    (Liaison,     Any, Table("GET", "/api/v1/units"), OK),
    (Operator,    Any, Table("POST", "/api/v1/units"), CREATED),
    (Coordinator, Any, Table("POST", "/api/v1/units"), FORBIDDEN),
    (UnitAdmin,   Any, Table("POST", "/api/v1/units"), FORBIDDEN),
    (Liaison,     Any, Table("POST", "/api/v1/units"), FORBIDDEN),
    (Operator,    Any, Table("GET", "/api/v1/holidays"), OK),
    (Coordinator, Any, Table("GET", "/api/v1/holidays"), OK),
    (UnitAdmin,   Any, Table("GET", "/api/v1/holidays"), OK),
    (Liaison,     Any, Table("GET", "/api/v1/holidays"), OK),
    (Operator,    Any, Table("PUT", "/api/v1/holidays"), NO_CONTENT),
    (Coordinator, Any, Table("PUT", "/api/v1/holidays"), FORBIDDEN),
    (UnitAdmin,   Any, Table("PUT", "/api/v1/holidays"), FORBIDDEN),
    (Liaison,     Any, Table("PUT", "/api/v1/holidays"), FORBIDDEN),
    (Coordinator, Any, Table("DELETE", "/api/v1/holidays/2026-12-30"), FORBIDDEN),
    (UnitAdmin,   Any, Table("DELETE", "/api/v1/holidays/2026-12-30"), FORBIDDEN),
    (Liaison,     Any, Table("DELETE", "/api/v1/holidays/2026-12-30"), FORBIDDEN),
    (Operator,    Any, Table("DELETE", "/api/v1/holidays/2026-12-30"), NO_CONTENT),
    (Operator,    Any, Table("GET", "/api/v1/categories"), OK),
    (Coordinator, Any, Table("GET", "/api/v1/categories"), OK),
    (UnitAdmin,   Any, Table("GET", "/api/v1/categories"), OK),
    (Liaison,     Any, Table("GET", "/api/v1/categories"), OK),
    (Operator,    Any, Table("PUT", "/api/v1/categories"), NO_CONTENT),
    (Coordinator, Any, Table("PUT", "/api/v1/categories"), FORBIDDEN),
    (UnitAdmin,   Any, Table("PUT", "/api/v1/categories"), FORBIDDEN),
    (Liaison,     Any, Table("PUT", "/api/v1/categories"), FORBIDDEN),
    (Coordinator, Any, Table("DELETE", "/api/v1/categories/sampah"), FORBIDDEN),
    (UnitAdmin,   Any, Table("DELETE", "/api/v1/categories/sampah"), FORBIDDEN),
    (Liaison,     Any, Table("DELETE", "/api/v1/categories/sampah"), FORBIDDEN),
    (Operator,    Any, Table("DELETE", "/api/v1/categories/sampah"), NO_CONTENT),
    (Operator,    Any, Table("GET", "/api/v1/channels"), OK),
    (Coordinator, Any, Table("GET", "/api/v1/channels"), OK),
    (UnitAdmin,   Any, Table("GET", "/api/v1/channels"), FORBIDDEN),
    (Liaison,     Any, Table("GET", "/api/v1/channels"), FORBIDDEN),
];

async fn authorization_matrix(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    // What the operator's deletions in the table take away.
    for (path, body) in [
        (
            "/api/v1/holidays",
            json!({"day": "2026-12-30", "name": "Libur uji", "kind": "libur"}),
        ),
        (
            "/api/v1/categories",
            json!({"code": "sampah", "name": "Sampah"}),
        ),
    ] {
        let (s, v) = call(&app, &p.op, "PUT", path, body).await;
        assert_eq!(s, NO_CONTENT, "{path}: {v}");
    }
    // What the merge rows merge into.
    let survivor = report(&app, "Laporan induk untuk penggabungan", false).await;
    for (i, &(role, unit, act, want)) in MATRIX.iter().enumerate() {
        let row = format!("row {i} ({role:?}, {unit:?}, {act})");
        let token = match role {
            Operator => &p.op,
            Coordinator => &p.coord,
            UnitAdmin => &p.ua,
            Liaison => &p.li,
        };
        let (s, v) = match act {
            Show => {
                let t = prepared(&app, &p, &row, role, unit, "show").await;
                call(
                    &app,
                    token,
                    "GET",
                    &format!("/api/v1/complaints/{t}"),
                    Value::Null,
                )
                .await
            }
            Do(action) => {
                let t = prepared(&app, &p, &row, role, unit, action).await;
                // Everything any action needs, so that only who acts decides the answer.
                let body = json!({"reason": "uji hak akses", "unit": OWN_UNIT, "into": survivor,
                                  "body": "Jawaban uji hak akses."});
                let path = format!("/api/v1/complaints/{t}/{action}");
                call(&app, token, "POST", &path, body).await
            }
            Table(method, path) => call(&app, token, method, path, table_body(path, i)).await,
        };
        assert_eq!(s, want, "{row}: {v}");
        assert_problem(s, &v, &row);
    }
    app.stop().await;
}

/// A new complaint for `row`, which the operator brought to where `action` applies, in
/// the unit `unit` names for `role`. A complaint gets a unit by being forwarded, so one
/// with a unit is forwarded first whatever the action.
async fn prepared(
    app: &TestApp,
    p: &People,
    row: &str,
    role: Role,
    unit: Unit,
    action: &str,
) -> String {
    let unit = match unit {
        Unassigned => None,
        Own if matches!(role, Operator | Coordinator) => {
            panic!("{row}: central roles have no unit of their own")
        }
        Own => Some(OWN_UNIT),
        Other => Some(OTHER_UNIT),
        Any => panic!("{row}: a complaint is always somewhere"),
    };
    let reason = json!({"reason": "disiapkan untuk uji"});
    let draft = json!({"body": "Rancangan jawaban."});
    let mut steps = Vec::new();
    match unit {
        Some(u) => steps.extend([("verify", json!({})), ("forward", json!({"unit": u}))]),
        None if action == "forward" => steps.push(("verify", json!({}))),
        None => {}
    }
    match action {
        "resume" | "archive" | "reject" => steps.push(("hold", reason)),
        "approve" | "return" => steps.push(("answer", draft)),
        "close" => steps.extend([("answer", draft), ("approve", json!({}))]),
        _ => {}
    }
    let t = report(app, &format!("Laporan uji hak akses, {row}"), false).await;
    for (step, body) in steps {
        let path = format!("/api/v1/complaints/{t}/{step}");
        let (s, v) = call(app, &p.op, "POST", &path, body).await;
        assert_eq!(s, OK, "{row}: preparing, {step}: {v}");
    }
    t
}

/// What a row's request to the operator's tables sends: new names per row, so that the
/// operator's rows succeed.
fn table_body(path: &str, row: usize) -> Value {
    match path {
        "/api/v1/users" => json!({"username": format!("baru{row}"), "display_name": "Pegawai baru",
                                  "role": "liaison", "unit": OWN_UNIT}),
        "/api/v1/units" => json!({"code": format!("unit-{row}"), "name": "Unit baru"}),
        "/api/v1/holidays" => json!({"day": "2026-12-31", "name": "Libur uji", "kind": "libur"}),
        "/api/v1/categories" => json!({"code": "jalan", "name": "Jalan"}),
        _ => Value::Null,
    }
}

/// What the table's status codes cannot say: who sees an anonymous reporter, and whose
/// complaints a list holds.
async fn anonymous_reporters_and_the_lists_scope(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let Three { a, bb, .. } = three(&app, &p).await;

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

    app.stop().await;
}

on_both!(
    authorization_matrix,
    anonymous_reporters_and_the_lists_scope
);
