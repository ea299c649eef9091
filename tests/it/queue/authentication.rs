//! How one gets in: bearer tokens (none, unknown, of a disabled user here or through
//! another daemon), console sessions with their CSRF token, and the OpenAPI document
//! that names the bearer scheme.

use aduan::queue::people::NewUser;
use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{call, people, report};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

/// No token, an unknown one, or one whose user was disabled here: refused, at once (a
/// token already in use is not served from the cache after its user is disabled).
async fn tokens_of_nobody_or_of_a_disabled_user_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let (s, _) = call(&app, &p.ua, "GET", "/api/v1/complaints", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
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

/// Disabling a user here ends their tokens at once (the test above checks that);
/// disabling them through another daemon or the CLI, whose changes this daemon's token
/// cache does not hear of, ends them within the cache's second.
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

on_both!(
    tokens_of_nobody_or_of_a_disabled_user_are_refused,
    a_user_disabled_by_another_daemon_loses_access,
    console_sessions_need_the_password_and_a_csrf_token
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
