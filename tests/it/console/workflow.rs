//! The LAPOR! workflow in the console, in a real browser: a citizen files through the
//! public form, the coordinator verifies and forwards, the unit drafts, the liaison
//! approves, the citizen sees the answer; script in a complaint never runs.

use std::time::Duration;

use aduan::queue::Role;
use fantoccini::Locator;
use serde_json::json;

use super::browser::Browser;
use super::{file_report, user};
use crate::harness::{eventually, spawn_app_with, Backend, Options};

/// A Facebook Page whose token has expired: every poll fails as Graph error 190 does.
struct ExpiredToken(aduan_kit::ChannelName);

#[async_trait::async_trait]
impl aduan_kit::PullSource for ExpiredToken {
    async fn run(&self, _ctx: aduan_kit::PullContext) -> Result<(), aduan_kit::ConnectorError> {
        Err(aduan_kit::ConnectorError::auth_expired(
            &self.0,
            "Error validating access token: Session has expired (code 190)",
        ))
    }
}

fn facebook_page() -> aduan_kit::Channel {
    let name = aduan_kit::ChannelName::parse("fb-halaman").expect("name");
    let mut c = aduan_kit::Channel::new("facebook", name.clone());
    c.pull = Some(std::sync::Arc::new(ExpiredToken(name)));
    c
}

const SCRIPT_TITLE: &str = "<script>window.__pwned = 1; document.title = 'PWNED';</script>";
const SCRIPT_BODY: &str =
    "Jalan rusak <img src=x onerror=\"window.__pwned = 2; document.title = 'PWNED'\"> \"'&";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lapor_workflow_runs_in_the_console_in_a_real_browser() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            channels: vec![facebook_page()],
            ..Options::default()
        },
    )
    .await;
    for (code, name) in [
        ("dpupr", "Dinas Pekerjaan Umum dan Penataan Ruang"),
        ("dinkes", "Dinas Kesehatan"),
    ] {
        app.store.create_unit(code, name).await.expect("unit");
    }
    user(&app, "operator", Role::Operator, None).await;
    user(&app, "koordinator", Role::Coordinator, None).await;
    user(&app, "admin-pu", Role::UnitAdmin, Some("dpupr")).await;
    user(&app, "pejabat-pu", Role::Liaison, Some("dpupr")).await;

    // Another unit's complaint, and one whose text tries to run script.
    let other = file_report(&app, "Puskesmas tutup", "Puskesmas tutup di jam kerja.").await;
    let queue = &app.app.as_ref().expect("running").queue;
    let coord = aduan::queue::Actor {
        user_id: app
            .store
            .user_by_name("koordinator")
            .await
            .expect("lookup")
            .expect("coordinator")
            .id,
        username: "koordinator".into(),
        role: Role::Coordinator,
        unit: None,
    };
    for (kind, req) in [
        (aduan::queue::ActionKind::Verify, Default::default()),
        (
            aduan::queue::ActionKind::Forward,
            aduan::queue::ActionRequest {
                unit: Some("dinkes".into()),
                ..Default::default()
            },
        ),
    ] {
        queue
            .act(&coord, &other, kind, &req)
            .await
            .expect("to dinkes");
    }
    let evil = file_report(&app, SCRIPT_TITLE, SCRIPT_BODY).await;

    let b = Browser::start().await;

    // 1. A citizen files a complaint through the public form, with a photo.
    let photo = app.db.dir.path().join("jalan.png");
    std::fs::write(&photo, crate::api::PNG).expect("photo");
    b.goto(&app.url("/")).await;
    b.fill("#title", "Jalan berlubang di Jl. Sudirman").await;
    b.fill(
        "#body",
        "Lubang besar di depan pasar, sudah dua motor jatuh minggu ini.",
    )
    .await;
    b.fill("#email", "warga@contoh.id").await;
    b.c()
        .find(Locator::Css("input[type=file]"))
        .await
        .expect("file input")
        .send_keys(&photo.to_string_lossy())
        .await
        .expect("attach");
    b.click("form[action='/'] button[type=submit]").await;
    let tid = b.text("#tracking-id").await;
    assert_eq!(tid.len(), 9, "a tracking number: {tid:?}");

    // 2. The coordinator logs in; the complaint is in the queue.
    b.goto(&app.url("/admin/antrean")).await;
    b.c()
        .wait()
        .for_element(Locator::Css("#login-submit"))
        .await
        .expect("login page");
    b.screenshots("login").await;
    // A wrong password is refused with a message, not a session.
    b.fill("#username", "koordinator").await;
    b.fill("#password", "bukan-kata-sandinya").await;
    b.click("#login-submit").await;
    assert!(b.text("#login-error").await.contains("salah"));
    b.login(&app, "koordinator").await;
    let row = format!("tr[data-tracking='{tid}']");
    assert!(b.exists(&row).await, "the new complaint is in the queue");
    assert!(b.text(&row).await.contains("Jalan berlubang"));
    // The script complaint is listed as text.
    assert!(b.text("#queue").await.contains("<script>window.__pwned"));
    b.screenshots("queue").await;

    // Search finds it; a filter that excludes it hides it.
    b.fill("#q", "berlubang").await;
    b.click(".filters button[type=submit]").await;
    b.c()
        .wait()
        .for_element(Locator::Css(&row))
        .await
        .expect("found by search");
    assert!(!b.exists(&format!("tr[data-tracking='{evil}']")).await);

    // 3. Claim, verify, forward.
    b.click(&format!("{row} .q-title a")).await;
    assert_eq!(b.text("#tracking-id").await, tid);
    assert!(b.exists(".thumb").await, "the photo is previewed");
    b.click("#claim").await;
    assert!(b.text(".flash-ok").await.contains("diambil"));
    b.select("#v-class", "pengaduan").await;
    b.click("#do-verify").await;
    assert_eq!(b.text("#complaint-status").await, "Terverifikasi");
    b.select("#f-unit", "dpupr").await;
    b.screenshots("detail").await;
    b.click("#do-forward").await;
    assert_eq!(b.text("#complaint-status").await, "Didisposisikan");
    assert_eq!(b.text("#complaint-unit").await, "dpupr");
    let audit = b.text("#audit").await;
    assert!(
        audit.contains("Verifikasi") && audit.contains("Teruskan ke unit"),
        "{audit}"
    );

    // 4. Complaint text never runs as script in an admin's browser.
    b.goto(&app.url(&format!("/admin/laporan/{evil}"))).await;
    assert_eq!(b.text("#complaint-title").await, SCRIPT_TITLE);
    assert!(b.text("#thread").await.contains("<img src=x onerror="));
    let ran = b
        .js("return [typeof window.__pwned, document.title.indexOf('PWNED')]")
        .await;
    assert_eq!(ran, json!(["undefined", -1]), "the payload ran");
    b.screenshot("detail-script-payload").await;
    b.logout().await;

    // 5. The unit admin sees it, drafts an answer, previews what the citizen gets.
    b.login(&app, "admin-pu").await;
    assert!(b.exists(&row).await, "forwarded to the unit's queue");
    assert!(!b.exists(&format!("tr[data-tracking='{other}']")).await);
    // "Ambil berikutnya" claims the oldest complaint waiting for this unit and opens it.
    b.click("#take-next").await;
    assert_eq!(b.text("#tracking-id").await, tid);
    assert!(b.exists("#held-by-me").await, "claimed by the unit admin");
    let answer =
        "Lubang sudah ditambal oleh tim UPT Jalan pada hari ini. Terima kasih atas laporannya.";
    b.fill("#answer-body", answer).await;
    b.click("#preview-button").await;
    let preview = b.text("#preview-text").await;
    assert!(preview.contains(answer), "{preview}");
    b.screenshots("answer").await;
    b.click("#do-answer").await;
    assert_eq!(b.text("#complaint-status").await, "Ditindaklanjuti");
    assert_eq!(b.text("#pending-answer").await, answer);
    assert!(
        !b.exists("#do-approve").await,
        "a unit admin cannot approve"
    );

    // 6. Another unit's complaint is "not found" for this unit.
    b.goto(&app.url(&format!("/admin/laporan/{other}"))).await;
    assert_eq!(b.text("h1").await, "Tidak ditemukan");
    assert!(!b.exists("#thread").await);
    b.logout().await;

    // 7. The liaison approves.
    b.login(&app, "pejabat-pu").await;
    b.goto(&app.url(&format!("/admin/laporan/{tid}"))).await;
    assert_eq!(b.text("#pending-answer").await, answer);
    assert!(!b.exists("#do-verify").await);
    b.click("#do-approve").await;
    assert_eq!(b.text("#complaint-status").await, "Ditanggapi");
    b.logout().await;

    // 8. The citizen's status page shows the answer.
    b.goto(&app.url(&format!("/laporan/{tid}"))).await;
    let status = b.text("main").await;
    assert!(status.contains(answer), "{status}");

    // 9. The operator's pages: dashboard, channel health, tables, English.
    b.login(&app, "operator").await;
    b.goto(&app.url("/admin/dasbor")).await;
    assert!(b.exists("#chart-daily rect").await, "bars are drawn");
    assert!(b.exists("#chart-funnel").await && b.exists("#chart-sla").await);
    b.screenshots("dashboard").await;
    let fb = aduan_kit::ChannelName::parse("fb-halaman").expect("name");
    let health = app
        .app
        .as_ref()
        .expect("running")
        .health
        .get(&fb)
        .expect("fb")
        .clone();
    assert!(
        eventually(Duration::from_secs(30), || {
            let h = health.clone();
            async move { h.snapshot().status == "reauthorize" }
        })
        .await
    );
    b.goto(&app.url("/admin/kanal")).await;
    assert!(b.text("#channel-web").await.contains("Siap menerima"));
    let fb_card = b.text("#channel-fb-halaman").await;
    for what in ["Perlu otorisasi ulang", "code 190", "Meta for Developers"] {
        assert!(fb_card.contains(what), "{what} missing: {fb_card}");
    }
    b.screenshots("health").await;
    b.goto(&app.url(&format!("/admin/laporan/{evil}"))).await;
    // Folded away in <details>: its text is there, not rendered.
    let raw = b
        .find("#raw")
        .await
        .prop("textContent")
        .await
        .expect("raw text")
        .unwrap_or_default();
    assert!(
        raw.contains("<script>"),
        "raw original shown to operators: {raw}"
    );
    b.goto(&app.url("/admin/unit")).await;
    assert!(b.text("#units").await.contains("admin-pu"));
    b.screenshot("units").await;
    b.click("a.lang").await;
    assert_eq!(b.text("h1").await, "Units");
    b.click("a.lang").await;
    assert_eq!(b.text("h1").await, "Unit");

    b.stop().await;
    app.stop().await;
}
