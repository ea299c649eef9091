//! Claims: exclusive under contention, batched claim-next keeping each claimer's scope,
//! expired leases handed out again, and claim-next answering as opening does.

use std::collections::HashSet;

use aduan::queue::people::NewUser;
use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{call, claim_next, people, report};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

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
    claims_are_exclusive_under_fifty_concurrent_claimers,
    batched_claims_keep_each_claimers_scope,
    overlapping_scopes_claiming_at_once_share_the_queue,
    an_expired_claim_is_handed_out_again,
    claim_next_answers_as_show_does
);
