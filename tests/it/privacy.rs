//! Privacy across merges and reads, on both back ends: a rahasia complaint's answers stay
//! off every public page, and an anonymous reporter is reached only by an audited reveal.

use aduan::queue::Role;
use aduan::queue::{ActionKind, ActionRequest, AnswerRoutes, Queue};
use aduan::store::{IngestWriter, NewOutbound, Store, StoreSink};
use aduan_kit::{
    Batch, ComplaintDraft, Delivery, Inbound, InboundKind, OutboundKind, Raw, Recipient, Reporter,
    Threading,
};
use chrono::Utc;
use serde_json::{json, Value};

use crate::console::pages::Session;
use crate::console::user;
use crate::harness::{
    answer_through_queue, filed, queue_staff, spawn_app, staff_actor, Backend, TestApp, TestDb,
};
use crate::on_both;
use crate::store::channel;

/// A complaint from `email` on channel `web`, with its flags.
fn filed_by(ext: &str, title: &str, email: &str, anonymous: bool, confidential: bool) -> Inbound {
    Inbound {
        channel: "webform",
        channel_name: channel("web"),
        external_id: ext.to_owned(),
        received_at: Utc::now(),
        kind: InboundKind::Complaint(Box::new(ComplaintDraft {
            title: title.to_owned(),
            body: format!("{title}: mohon ditindaklanjuti"),
            reporter: Reporter {
                name: Some("Siti Aminah".into()),
                email: Some(email.to_owned()),
                ..Reporter::default()
            },
            anonymous,
            confidential,
            ..ComplaintDraft::default()
        })),
        thread: Threading::default(),
        raw: Raw {
            content_type: "application/json".into(),
            bytes: format!("{{\"email\": \"{email}\"}}").into(),
        },
        acknowledge: None,
    }
}

pub(crate) async fn file(store: &Store, items: Vec<Inbound>) -> Vec<String> {
    let (writer, _) = IngestWriter::spawn(store.clone(), 16, 1);
    let sink = StoreSink::new(store.clone(), writer);
    sink.ingest(Batch {
        items,
        cursor: None,
    })
    .await
    .expect("ingest")
    .into_iter()
    .map(|d| match d {
        Delivery::Committed {
            tracking_id: Some(t),
            ..
        } => t,
        other => panic!("not filed: {other:?}"),
    })
    .collect()
}

/// A public complaint merged into a rahasia one: the answer reaches both reporters and
/// neither status page, whether read before or after the delivery was sent.
async fn a_rahasia_answer_stays_off_the_pages_of_what_merged_into_it(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let queue = Queue::new(store.clone(), AnswerRoutes::default());
    let staff = queue_staff(&store, "pdam", "rh").await;
    let filed = file(
        &store,
        vec![
            filed_by(
                "w1",
                "Pungutan di loket PDAM",
                "siti@warga.test",
                false,
                true,
            ),
            filed_by(
                "w2",
                "Loket PDAM minta uang",
                "budi@warga.test",
                false,
                false,
            ),
        ],
    )
    .await;
    let (secret, open) = (&filed[0], &filed[1]);
    queue
        .act(
            &staff[0],
            open,
            ActionKind::Merge,
            &ActionRequest {
                into: Some(secret.clone()),
                ..ActionRequest::default()
            },
        )
        .await
        .expect("merge");
    answer_through_queue(
        &queue,
        &staff,
        secret,
        "Inspektorat memeriksa petugas loket.",
    )
    .await;
    for t in [secret, open] {
        let page = store.public_report(t).await.expect("read").expect("page");
        let text = serde_json::to_string(&page).expect("json");
        assert!(!text.contains("Inspektorat"), "{t}: {text}");
    }

    // The copy for the merged complaint's reporter, once a channel has sent it.
    let id = store
        .enqueue_outbound(&NewOutbound {
            tracking_id: open.clone(),
            channel_name: channel("surel"),
            kind: OutboundKind::Answer,
            idempotency_key: format!("answer:test:{open}"),
            recipient: Recipient {
                address: "budi@warga.test".into(),
                name: None,
            },
            subject: None,
            body: "Inspektorat memeriksa petugas loket (terkirim).".into(),
            in_reply_to: None,
            references: Vec::new(),
        })
        .await
        .expect("enqueue");
    let lease = Utc::now() + chrono::Duration::seconds(60);
    let row = store
        .claim_outbound(10, lease)
        .await
        .expect("claim")
        .into_iter()
        .find(|r| r.id == id)
        .expect("claimed");
    store
        .outbound_sent(&row, Some("<jawaban-1@aduan.test>"))
        .await
        .expect("sent");
    let public: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages m JOIN complaints c ON c.id = m.complaint_id
         WHERE c.tracking_id = $1 AND m.direction = 'out' AND m.public = TRUE",
    )
    .bind(open.as_str())
    .fetch_one(&store.pool_for_tests())
    .await
    .expect("count");
    assert_eq!(public, 0, "no message of {open} is marked public");
    for t in [secret, open] {
        let page = store.public_report(t).await.expect("read").expect("page");
        let text = serde_json::to_string(&page).expect("json");
        assert!(!text.contains("Inspektorat"), "{t}: {text}");
    }
}

on_both!(a_rahasia_answer_stays_off_the_pages_of_what_merged_into_it);

pub(crate) async fn api(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let req = if method == "GET" {
        app.client.get(app.url(path))
    } else {
        app.client.post(app.url(path)).json(&body)
    };
    let res = req.bearer_auth(token).send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn anonymous_report(app: &TestApp, title: &str, email: &str) -> String {
    filed(
        app.post_json(
            "/api/v1/reports",
            &json!({"title": title, "body": format!("{title}: mohon ditindaklanjuti"),
                    "name": "Pelapor Rahasia", "email": email, "phone": "081298765432",
                    "anonymous": true}),
        )
        .await,
    )
    .await
}

/// A message in a complaint's thread with a provider's id, as a channel records it.
async fn message(app: &TestApp, tracking_id: &str, direction: &str, external_id: &str) {
    sqlx::query(
        "INSERT INTO messages (complaint_id, direction, channel, channel_name, external_id, body, at, public)
         SELECT id, $1, 'email', 'surel', $2, 'Pesan dalam utas', $3, $4 FROM complaints WHERE tracking_id = $5",
    )
    .bind(direction)
    .bind(external_id)
    .bind(aduan::store::now_micros())
    .bind(false)
    .bind(tracking_id)
    .execute(&app.store.pool_for_tests())
    .await
    .expect("message");
}

fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let file = app.db.dir.path().join("cli.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\n[database]\nurl = \"{}\"\n",
            app.db.data_dir().display(),
            app.db.url
        ),
    )
    .expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(args)
        .arg("--config")
        .arg(&file)
        .env_remove("ADUAN_CONFIG")
        .output()
        .expect("aduan");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

const SECRET: &str = "pelapor.rahasia@warga.test";

/// An app with an operator, a coordinator (and its API token) and a unit admin.
async fn staffed(b: Backend) -> (TestApp, String) {
    let app = spawn_app(b).await;
    user(&app, "op", Role::Operator, None).await;
    user(&app, "koor", Role::Coordinator, None).await;
    app.store.create_unit("dpupr", "PU").await.expect("unit");
    user(&app, "unit", Role::UnitAdmin, Some("dpupr")).await;
    let koor = app
        .store
        .issue_token("koor", "test")
        .await
        .expect("token")
        .token;
    (app, koor)
}

/// An anonymous complaint's raw original names its reporter: not on the console's page,
/// not downloaded without a reveal; with one, downloaded by an operator and audited.
async fn an_anonymous_raw_original_is_only_an_audited_download(b: Backend) {
    let (app, _) = staffed(b).await;
    let anon = anonymous_report(&app, "Pungli di kantor desa", SECRET).await;
    let s = Session::open(&app, "op").await;
    let page = s.html(&format!("/admin/laporan/{anon}")).await;
    assert!(!page.contains(SECRET), "the raw original shown on the page");
    assert!(page.contains(&format!("/admin/laporan/{anon}/asli?reveal=identity")));
    let before = app.count("audit_events").await;
    let r = s.get(&format!("/admin/laporan/{anon}/asli")).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(!r.text().await.expect("body").contains(SECRET));
    assert_eq!(app.count("audit_events").await, before);
    let r = s
        .get(&format!("/admin/laporan/{anon}/asli?reveal=identity"))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("body").contains(SECRET));
    assert_eq!(
        app.count("audit_events").await,
        before + 1,
        "the raw original's reveal is audited"
    );
    // A named complaint's raw original is on the page, as before.
    let named = crate::console::file_report(&app, "Lampu mati", "Sudah seminggu.").await;
    let page = s.html(&format!("/admin/laporan/{named}")).await;
    assert!(page.contains("id=\"raw\""), "{page}");
    app.stop().await;
}

/// The provider ids in an anonymous complaint's thread, the citizen's and ours to them,
/// are hidden like the reporter; merged into a named complaint, they stay hidden there.
async fn an_anonymous_threads_provider_ids_are_hidden_even_after_a_merge(b: Backend) {
    let (app, koor) = staffed(b).await;
    let anon = anonymous_report(&app, "Pungli di kantor desa", SECRET).await;
    message(&app, &anon, "in", "<susulan-1@warga.test>").await;
    message(&app, &anon, "out", "<balasan-1@aduan.test>").await;
    let ids = ["susulan-1@warga.test", "balasan-1@aduan.test", SECRET];
    let (_, v) = api(
        &app,
        &koor,
        "GET",
        &format!("/api/v1/complaints/{anon}"),
        Value::Null,
    )
    .await;
    assert!(
        v["messages"].as_array().is_some_and(|m| m.len() == 3),
        "{v}"
    );
    for id in ids {
        assert!(!v.to_string().contains(id), "{id} shown: {v}");
    }

    let named = crate::console::file_report(&app, "Pungli di desa", "Dimintai uang.").await;
    let (st, v) = api(
        &app,
        &koor,
        "POST",
        &format!("/api/v1/complaints/{anon}/merge"),
        json!({"into": named}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api(
        &app,
        &koor,
        "GET",
        &format!("/api/v1/complaints/{named}"),
        Value::Null,
    )
    .await;
    let shown = v.to_string();
    assert!(
        shown.contains("Pesan dalam utas"),
        "the thread moved: {shown}"
    );
    assert!(
        shown.contains("siti@warga.test"),
        "the named reporter is shown: {shown}"
    );
    for id in ids {
        assert!(!shown.contains(id), "{id} shown after the merge: {shown}");
    }
    app.stop().await;
}

/// Lifting anonymity at verification shows the reporter to the unit from then on: it is
/// audited on its own.
async fn lifting_anonymity_is_audited(b: Backend) {
    let (app, koor) = staffed(b).await;
    let t = anonymous_report(&app, "Jalan rusak", SECRET).await;
    let (st, v) = api(
        &app,
        &koor,
        "POST",
        &format!("/api/v1/complaints/{t}/verify"),
        json!({"anonymous": false, "reason": "pelapor bersedia disebut"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["anonymous"], false, "{v}");
    let auditor = staff_actor(&app.store, "auditor", Role::Operator, None).await;
    let trail = app
        .app
        .as_ref()
        .expect("app")
        .queue
        .audit_trail(&auditor, &t)
        .await
        .expect("trail");
    assert!(
        trail.iter().any(|e| e.action == "anonymity_lifted"
            && e.actor == "user:koor"
            && e.reason.as_deref() == Some("pelapor bersedia disebut")),
        "{trail:?}"
    );
    app.stop().await;
}

/// `aduan complaints show` and `list` leave an anonymous reporter out; a central role's
/// `--reveal-identity` shows it, audited; a unit role's shows nothing.
async fn the_command_line_reveals_an_anonymous_reporter_only_audited(b: Backend) {
    let (app, _) = staffed(b).await;
    let t = anonymous_report(&app, "Bansos dipotong", SECRET).await;
    let before = app.count("audit_events").await;
    for args in [
        vec!["complaints", "show", t.as_str(), "--json"],
        vec!["complaints", "show", t.as_str()],
        vec!["complaints", "list", "--json"],
    ] {
        let (ok, out) = cli(&app, &args);
        assert!(ok, "{args:?}: {out}");
        assert!(out.contains("Bansos dipotong"), "{args:?}: {out}");
        assert!(!out.contains(SECRET), "{args:?}: {out}");
    }
    assert_eq!(app.count("audit_events").await, before);
    let reveal = |who: &'static str| {
        let t = t.clone();
        let app = &app;
        move || {
            cli(
                app,
                &[
                    "complaints",
                    "show",
                    &t,
                    "--json",
                    "--reveal-identity",
                    "--as",
                    who,
                ],
            )
        }
    };
    let (ok, out) = reveal("unit")();
    assert!(
        !out.contains(SECRET),
        "a unit role got a reveal: {ok} {out}"
    );
    assert_eq!(app.count("audit_events").await, before);
    let (ok, out) = reveal("koor")();
    assert!(ok && out.contains(SECRET), "{out}");
    assert_eq!(
        app.count("audit_events").await,
        before + 1,
        "the command line's reveal is audited"
    );
    app.stop().await;
}

on_both!(
    an_anonymous_raw_original_is_only_an_audited_download,
    an_anonymous_threads_provider_ids_are_hidden_even_after_a_merge,
    lifting_anonymity_is_audited,
    the_command_line_reveals_an_anonymous_reporter_only_audited
);
