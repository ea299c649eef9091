//! The server's own defences and operations: slow clients, connection bounds,
//! per-address limits behind and without proxies, readiness when the database does not
//! answer, `/metrics` apart, HSTS.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aduan::http::client_addr::TrustedProxies;
use aduan::http::rate_limit::{Rate, RateLimitConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{config_for, spawn_app_with, Backend, Options, TestDb};
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

/// A TCP proxy to PostgreSQL that can be made to stop answering: after `freeze`, what
/// either side sends is never passed on and new connections are accepted but never
/// served, as from a database host that hangs.
struct FreezingProxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let frozen = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let frozen = frozen.clone();
            async move {
                let mut conns = tokio::task::JoinSet::new();
                while let Ok((client, _)) = listener.accept().await {
                    let frozen = frozen.clone();
                    conns.spawn(async move {
                        if frozen.load(Ordering::SeqCst) {
                            // Held open, never answered.
                            let _held = client;
                            return std::future::pending().await;
                        }
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::join!(pipe(cr, sw, &frozen), pipe(sr, cw, &frozen));
                    });
                }
            }
        });
        Self { addr, frozen, task }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        // Every held connection closes with the task.
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: &AtomicBool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Only PostgreSQL is reached over a network that can hang; a SQLite file answers or
/// fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_refused_promptly_when_the_database_does_not_answer() {
    let db = TestDb::new(Backend::Postgres).await;
    // postgres://user@host:port/name, with the proxy in place of host:port.
    let (scheme, rest) = db.url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database name");
    let (user, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let upstream = tokio::net::lookup_host(host)
        .await
        .expect("PostgreSQL's address")
        .next()
        .expect("an address");
    let proxy = FreezingProxy::start(upstream).await;
    let at = if user.is_empty() { "" } else { "@" };
    let proxied = format!("{scheme}://{user}{at}{}/{path}", proxy.addr);
    let mut cfg = config_for(&db, "");
    cfg.database.url = secrecy::SecretString::from(proxied);
    let app = aduan::app::start(cfg, Vec::new())
        .await
        .expect("app starts");
    let client = reqwest::Client::new();
    let readyz = format!("http://{}/readyz", app.addr);
    let res = client.get(&readyz).send().await.expect("readyz");
    assert_eq!(res.status(), StatusCode::OK);

    proxy.freeze();
    // Readiness promises an answer within 2 s; the guard leaves room for a busy machine.
    let res = client
        .get(&readyz)
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .expect("readiness answered while the database hangs");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.expect("json");
    // A fixed word, not the driver's error text.
    assert_eq!(
        body,
        json!({"status": "not_ready", "reason": "database_timeout"})
    );
    drop(proxy);
    app.stop(Duration::from_secs(10)).await;
}

async fn metrics_can_be_served_apart(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| c.http.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..Options::default()
        },
    )
    .await;
    let apart = app
        .app
        .as_ref()
        .expect("app")
        .metrics_addr
        .expect("a metrics address");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .get(format!("http://{apart}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .text()
        .await
        .expect("text")
        .contains("aduan_http_requests_total"));
    // Only the metrics there.
    let res = app
        .client
        .get(format!("http://{apart}/api/v1/reports/ABCD-EFGH"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn hsts_is_sent_when_the_public_address_is_https(b: Backend) {
    // The test configuration's public_url is https.
    let app = crate::harness::spawn_app(b).await;
    for path in [
        "/",
        "/healthz",
        "/api/v1/reports/ABCD-EFGH",
        "/no-such-page",
    ] {
        let res = app.get(path).await;
        assert_eq!(
            res.headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    app.stop().await;
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| c.public_url = "http://127.0.0.1:8080".into(),
            ..Options::default()
        },
    )
    .await;
    let res = app.get("/healthz").await;
    assert!(res.headers().get("strict-transport-security").is_none());
    app.stop().await;
}

on_both!(
    metrics_can_be_served_apart,
    hsts_is_sent_when_the_public_address_is_https
);
