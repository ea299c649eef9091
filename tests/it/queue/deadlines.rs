//! Working-day deadlines with a controlled clock: overdue flagged once, answered
//! complaints closed once, and the daily escalation digests.

use aduan::queue::jobs::{sla_pass, AUTO_CLOSE_DAYS, VERIFY_DAYS};
use aduan::queue::people::NewUser;
use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{call, forwarded_to, people, report};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn deadlines_flag_overdue_once_and_close_unanswered_answers(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let store = &app.store;
    let t = report(&app, "Lampu jalan padam", false).await;
    let received = aduan::store::micros(
        store
            .complaint(&t)
            .await
            .expect("read")
            .expect("complaint")
            .received_at,
    );
    let pass = sla_pass(store, received).await.expect("pass");
    assert_eq!(pass.scheduled, 1);
    let cal = aduan::queue::jobs::calendar(store).await.expect("calendar");
    let due = cal.add_working_days(received, VERIFY_DAYS);
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{t}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        v["due_at"].as_str().map(|s| s.to_owned()),
        Some(aduan::store::from_micros(due).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        "{v}"
    );
    assert_eq!(v["overdue"], false);

    // Before the deadline nothing happens; after it, flagged once, however many daemons run.
    assert_eq!(sla_pass(store, due).await.expect("pass").flagged_overdue, 0);
    let late = due + 1;
    let (x, y) = tokio::join!(sla_pass(store, late), sla_pass(store, late));
    assert_eq!(
        x.expect("x").flagged_overdue + y.expect("y").flagged_overdue,
        1
    );
    assert_eq!(
        sla_pass(store, late).await.expect("pass").flagged_overdue,
        0
    );
    let (_, list) = call(
        &app,
        &p.coord,
        "GET",
        "/api/v1/complaints?overdue=true",
        Value::Null,
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // Forwarded: the unit's deadline starts; answered: the auto-close clock starts.
    for (action, body) in [("verify", json!({})), ("forward", json!({"unit": "dpupr"}))] {
        let (s, v) = call(
            &app,
            &p.coord,
            "POST",
            &format!("/api/v1/complaints/{t}/{action}"),
            body,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, _) = call(
        &app,
        &p.ua,
        "POST",
        &format!("/api/v1/complaints/{t}/answer"),
        json!({"body": "Sudah diperbaiki."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        &p.li,
        "POST",
        &format!("/api/v1/complaints/{t}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let now = aduan::store::now_micros();
    assert_eq!(sla_pass(store, now).await.expect("pass").scheduled, 1);
    let close_at = cal.add_working_days(now, AUTO_CLOSE_DAYS);
    assert_eq!(sla_pass(store, close_at).await.expect("pass").closed, 0);
    let (x, y) = tokio::join!(sla_pass(store, close_at + 1), sla_pass(store, close_at + 1));
    assert_eq!(
        x.expect("x").closed + y.expect("y").closed,
        1,
        "closed once"
    );
    let (_, v) = call(
        &app,
        &p.coord,
        "GET",
        &format!("/api/v1/complaints/{t}"),
        Value::Null,
    )
    .await;
    assert_eq!(v["status"], "closed");
    app.stop().await;
}

/// Captures what would be sent.
#[derive(Default)]
struct Captured(std::sync::Mutex<Vec<aduan_kit::OutboundMessage>>);

#[async_trait::async_trait]
impl aduan_kit::OutboundSender for Captured {
    async fn send(
        &self,
        msg: &aduan_kit::OutboundMessage,
    ) -> Result<aduan_kit::SendReceipt, aduan_kit::ConnectorError> {
        self.0.lock().expect("lock").push(msg.clone());
        Ok(aduan_kit::SendReceipt::default())
    }
}

async fn escalation_digests_go_once_per_working_day_to_the_right_people(b: Backend) {
    use aduan::queue::jobs::digest_pass;
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let store = &app.store;
    for (name, role, unit, email) in [
        ("kepala", Role::Coordinator, None, "kepala@aduan.test"),
        ("pupr", Role::UnitAdmin, Some("dpupr"), "pupr@aduan.test"),
        (
            "capil",
            Role::UnitAdmin,
            Some("disdukcapil"),
            "capil@aduan.test",
        ),
    ] {
        store
            .create_user(&NewUser {
                username: name,
                display_name: name,
                email: Some(email),
                role,
                unit,
                password: None,
            })
            .await
            .expect("user");
    }
    let late_new = report(&app, "Laporan belum diverifikasi", true).await;
    let late_unit = forwarded_to(&app, &p, "Jembatan retak", "dpupr", false).await;
    let received = aduan::store::now_micros();
    sla_pass(store, received).await.expect("schedule");
    let cal = aduan::queue::jobs::calendar(store).await.expect("calendar");
    // Well after both deadlines, on a working day.
    let mut later = cal.add_working_days(received, 8) - 12 * 3_600 * 1_000_000;
    while !cal.is_working_day(aduan::queue::calendar::Calendar::local_date(later)) {
        later += 24 * 3_600 * 1_000_000;
    }
    assert_eq!(
        sla_pass(store, later).await.expect("pass").flagged_overdue,
        2
    );

    let sender = Captured::default();
    let ch = aduan_kit::ChannelName::parse("surel").expect("name");
    let url = "https://lapor.contoh.go.id";
    let (x, y) = tokio::join!(
        digest_pass(store, &sender, &ch, url, later),
        digest_pass(store, &sender, &ch, url, later)
    );
    assert_eq!(
        x.expect("x") + y.expect("y"),
        2,
        "kepala and pupr, once each"
    );
    assert_eq!(
        digest_pass(store, &sender, &ch, url, later)
            .await
            .expect("again"),
        0
    );
    let sent = sender.0.lock().expect("lock").clone();
    let to = |addr: &str| sent.iter().find(|m| m.recipient.address == addr).cloned();
    let kepala = to("kepala@aduan.test").expect("coordinator digest");
    assert!(
        kepala.body.contains(&late_new)
            && kepala
                .body
                .contains("Seluruh laporan yang terlambat, semua unit: 2"),
        "{}",
        kepala.body
    );
    assert!(
        !kepala.body.contains("siti@warga.test") && !kepala.body.contains("Siti"),
        "no reporter in digests"
    );
    let pupr = to("pupr@aduan.test").expect("unit digest");
    assert!(
        pupr.body.contains(&late_unit) && !pupr.body.contains(&late_new),
        "{}",
        pupr.body
    );
    assert!(
        to("capil@aduan.test").is_none(),
        "nothing overdue in that unit"
    );
    assert_eq!(kepala.kind, aduan_kit::OutboundKind::Notice);
    // The next working day brings the next digest.
    let mut next = later + 24 * 3_600 * 1_000_000;
    while !cal.is_working_day(aduan::queue::calendar::Calendar::local_date(next)) {
        next += 24 * 3_600 * 1_000_000;
    }
    assert_eq!(
        digest_pass(store, &sender, &ch, url, next)
            .await
            .expect("next day"),
        2
    );
    app.stop().await;
}

on_both!(
    deadlines_flag_overdue_once_and_close_unanswered_answers,
    escalation_digests_go_once_per_working_day_to_the_right_people
);
