//! The server's own defences: slow clients, connection bounds, per-address limits
//! behind and without proxies.

use std::net::SocketAddr;
use std::time::Duration;

use aduan::http::client_addr::TrustedProxies;
use aduan::http::rate_limit::{Rate, RateLimitConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{spawn_app_with, Backend, Options};
use crate::on_both;

/// A guard that turns a hang into a failure; not a measure of speed.
const HANG: Duration = Duration::from_secs(30);

/// A connection that has sent part of a request's headers and nothing more.
async fn half_sent_header(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: aduan\r\nX-Slow: ")
        .await
        .expect("write");
    s
}

/// Reads until the server closes the connection; what it sent, or `None` if it kept the
/// connection open for longer than `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut got)).await {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

async fn a_half_sent_header_is_closed_at_the_header_deadline(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| c.http.header_read_timeout_secs = 1,
            ..Options::default()
        },
    )
    .await;
    let addr = app.app.as_ref().expect("app").addr;
    let mut slow = half_sent_header(addr).await;
    assert!(
        read_until_closed(&mut slow, HANG).await.is_some(),
        "a connection that never finished its headers was kept open"
    );
    // An idle kept-alive connection is on the same clock.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: aduan\r\n\r\n")
        .await
        .expect("write");
    let answered = read_until_closed(&mut idle, HANG)
        .await
        .expect("an idle connection was kept open");
    assert!(answered.starts_with(b"HTTP/1.1 200"), "{answered:?}");
    // Whole requests are still answered.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await;
}

async fn shutdown_is_not_held_up_by_a_half_sent_header(b: Backend) {
    let mut app = spawn_app_with(
        b,
        Options {
            // Longer than the grace period given below.
            configure: |c| c.http.header_read_timeout_secs = 600,
            ..Options::default()
        },
    )
    .await;
    let running = app.app.take().expect("app");
    let mut slow = half_sent_header(running.addr).await;
    let mut idle = TcpStream::connect(running.addr).await.expect("connect");
    // Accepted and waiting for its headers.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert!(
        running.stop(Duration::from_secs(10)).await,
        "shutdown waited for a client that never finished its headers"
    );
    assert!(read_until_closed(&mut slow, HANG).await.is_some());
    assert!(read_until_closed(&mut idle, HANG).await.is_some());
}

async fn connections_past_the_bound_wait_for_a_free_one(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| c.http.max_connections = 1,
            ..Options::default()
        },
    )
    .await;
    let addr = app.app.as_ref().expect("app").addr;
    let holder = half_sent_header(addr).await;
    let mut waiting = TcpStream::connect(addr).await.expect("connect");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: aduan\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut first))
            .await
            .is_err(),
        "a connection past the bound was served"
    );
    drop(holder);
    let answered = read_until_closed(&mut waiting, HANG)
        .await
        .expect("the waiting connection was served once the other closed");
    assert!(answered.starts_with(b"HTTP/1.1 200"), "{answered:?}");
    app.stop().await;
}

fn limited(c: &mut aduan::config::Config) {
    c.http.rate_limit = RateLimitConfig {
        enabled: true,
        submit: Rate {
            burst: 1,
            per_minute: 1,
        },
        lookup: Rate {
            burst: 2,
            per_minute: 1,
        },
        session: Rate {
            burst: 1,
            per_minute: 1,
        },
    };
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

async fn each_public_door_answers_429_with_retry_after_past_its_allowance(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: limited,
            ..Options::default()
        },
    )
    .await;
    // Lookups: the API, the page and the lookup form share one allowance.
    for path in ["/api/v1/reports/ABCD-EFGH", "/laporan/ABCD-EFGH"] {
        assert_eq!(app.get(path).await.status(), StatusCode::NOT_FOUND);
    }
    for path in [
        "/api/v1/reports/ABCD-EFGH",
        "/laporan/ABCD-EFGH",
        "/laporan?nomor=ABCD-EFGH",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let wait = retry_after(&res);
        assert!((1..=60).contains(&wait), "{path}: Retry-After {wait}");
        if path.starts_with("/api/") {
            let p: Value = res.json().await.expect("problem");
            assert_eq!(p["status"], 429);
        } else {
            assert!(res.text().await.expect("page").contains("Terlalu banyak"));
        }
    }
    // Filing: the API and the form share one.
    let res = app.post_json("/api/v1/reports", &json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .post(app.url("/"))
        .form(&[("title", "Jalan rusak")])
        .send()
        .await
        .expect("POST /");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&res);
    let res = app.post_json("/api/v1/reports", &json!({})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The API's login.
    let login = json!({"username": "siapa", "password": "salah-sekali"});
    let res = app.post_json("/api/v1/session", &login).await;
    assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = app.post_json("/api/v1/session", &login).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&res);
    // Nothing filed past the limit; other pages are not limited.
    assert_eq!(app.count("complaints").await, 0);
    for _ in 0..5 {
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
    }
    app.stop().await;
}

async fn a_forged_forwarded_for_does_not_escape_the_limit(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| {
                limited(c);
                // Trusted proxies elsewhere: the test's own address is not one.
                c.http.trusted_proxies = TrustedProxies::parse(["10.0.0.0/8"]).expect("list");
            },
            ..Options::default()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let res = app
            .client
            .get(app.url("/api/v1/reports/ABCD-EFGH"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .expect("GET");
        statuses.push(res.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    app.stop().await;
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| {
                limited(c);
                c.http.trusted_proxies = TrustedProxies::parse(["127.0.0.1"]).expect("list");
            },
            ..Options::default()
        },
    )
    .await;
    let get = |forwarded: &'static str| {
        let req = app.client.get(app.url("/api/v1/reports/ABCD-EFGH"));
        async move {
            req.header("x-forwarded-for", forwarded)
                .send()
                .await
                .expect("GET")
                .status()
        }
    };
    assert_eq!(get("203.0.113.1").await, StatusCode::NOT_FOUND);
    assert_eq!(get("203.0.113.1").await, StatusCode::NOT_FOUND);
    assert_eq!(get("203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get("203.0.113.2").await, StatusCode::NOT_FOUND);
    // What the client wrote to the left of the proxy's entry is not believed.
    assert_eq!(
        get("203.0.113.9, 203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}

on_both!(
    a_half_sent_header_is_closed_at_the_header_deadline,
    shutdown_is_not_held_up_by_a_half_sent_header,
    connections_past_the_bound_wait_for_a_free_one,
    each_public_door_answers_429_with_retry_after_past_its_allowance,
    a_forged_forwarded_for_does_not_escape_the_limit,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance,
);
