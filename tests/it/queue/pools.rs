//! PostgreSQL's pools under the queue: claim-next keeps one plan, and connections that
//! died (idle, or under a read) are replaced rather than handed out.

use std::time::Duration;

use reqwest::StatusCode;

use super::{claim_next, get, people, report};
use crate::harness::{spawn_app, Backend, TestApp};

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
