//! The server's own defences: slow clients, connection bounds.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
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

on_both!(
    a_half_sent_header_is_closed_at_the_header_deadline,
    shutdown_is_not_held_up_by_a_half_sent_header,
    connections_past_the_bound_wait_for_a_free_one,
);
