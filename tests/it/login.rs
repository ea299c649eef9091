//! Logging in under attack: guesses are throttled per client address, and a stranger
//! cannot lock a known user out of their own account.

use std::net::IpAddr;

use aduan::queue::people::NewUser;
use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, TestApp};
use crate::{harness::spawn_app, on_both};

const PASSWORD: &str = "kata-sandi-panjang-sekali";

/// A client whose requests come from `from` (any 127.0.0.0/8 address reaches the app).
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .build()
        .expect("client")
}

async fn login(app: &TestApp, client: &reqwest::Client, user: &str, password: &str) -> StatusCode {
    client
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login")
        .status()
}

async fn a_stranger_cannot_lock_out_a_known_user(b: Backend) {
    let app = spawn_app(b).await;
    app.store
        .create_user(&NewUser {
            username: "admin",
            display_name: "Admin Siak",
            email: None,
            role: Role::Coordinator,
            unit: None,
            password: Some(PASSWORD),
        })
        .await
        .expect("user");
    let attacker = client_from([127, 0, 0, 2]);
    let mut throttled = None;
    for i in 0..20 {
        match login(&app, &attacker, "admin", "tebakan").await {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                throttled = Some(i);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(throttled.is_some(), "the guesses are throttled");
    let res = attacker
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));

    // The real admin, at their own address, logs in all the same.
    let admin = client_from([127, 0, 0, 3]);
    assert_eq!(login(&app, &admin, "admin", PASSWORD).await, StatusCode::OK);

    // Usernames no account can have are refused before anything is spent on them.
    let long = "a".repeat(100_000);
    assert_eq!(
        login(&app, &admin, &long, "x").await,
        StatusCode::UNAUTHORIZED
    );
    let long_password = "x".repeat(100_000);
    assert_eq!(
        login(&app, &admin, "admin", &long_password).await,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

on_both!(a_stranger_cannot_lock_out_a_known_user);
