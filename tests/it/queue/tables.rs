//! The operator's tables: a user made over the API can work at once, and the category
//! tree takes no cycle and is read by every unit. Who may write them is the
//! authorization table's.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{call, people, three, Three};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn operators_add_users_and_categories_without_cycles(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let Three { a, .. } = three(&app, &p).await;
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
    app.stop().await;
}

on_both!(operators_add_users_and_categories_without_cycles);
