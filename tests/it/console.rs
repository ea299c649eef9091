//! The admin console at `/admin`, driven in real headless Chromium through WebDriver
//! (fantoccini + chromedriver), on SQLite. The HTTP-level security checks (CSRF, cookie
//! flags, CSP, throttling) run without a browser on both back ends.
//!
//! Screenshots of the main pages, at desktop and phone width, are saved under
//! `target/screenshots/` for people to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aduan::queue::people::NewUser;
use aduan::queue::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{eventually, spawn_app, spawn_app_with, Backend, Options, TestApp};
use crate::on_both;

const PASSWORD: &str = "kata-sandi-uji-panjang";

/// chromedriver on a free port and a headless Chromium session; both end on drop.
struct Browser {
    client: Option<Client>,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    async fn start() -> Self {
        let driver_bin = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| which("chromedriver"))
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver is not installed: the console's browser tests need Chromium \
                     and its driver. Install them with `apt-get install -y chromium chromium-driver` \
                     (scripts/test.sh does it), or set CHROMEDRIVER and CHROME"
                )
            });
        let chrome_bin = std::env::var_os("CHROME")
            .map(PathBuf::from)
            .or_else(|| which("chromium"))
            .or_else(|| which("chromium-browser"))
            .or_else(|| which("google-chrome"))
            .unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed: `apt-get install -y chromium chromium-driver` \
                     (scripts/test.sh does it), or set CHROME"
                )
            });
        let port = free_port();
        let driver = tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, with the browsers it starts: a failed test ends
            // them all by that group's id (see Drop).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let profile = tempfile::tempdir().expect("profile directory");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome_bin.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--disable-breakpad", "--disable-crash-reporter",
                    "--window-size=1280,4000", "--force-device-scale-factor=1", "--lang=id-ID",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; the first session request tells.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("no WebDriver session from {}: {e}", driver_bin.display())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        // Headless Chromium's screen is as large as the first window: tall, so that
        // screenshots can take whole pages; the pages themselves are used at 1280x900.
        client
            .set_window_size(1280, 900)
            .await
            .expect("window size");
        Browser {
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("browser session")
    }

    async fn stop(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigate");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.c().wait().for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let url = self.url().await;
                let page = self.c().source().await.unwrap_or_default();
                panic!("no {css} on {url}: {e}\n{page}")
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn exists(&self, css: &str) -> bool {
        !self
            .c()
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self
            .c()
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    /// Clicks a link or a submit button and waits for the next page to have loaded (a
    /// mark left on the old page is gone and the new one is complete).
    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.js("window.__old_page = true; return null").await;
        e.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        let loaded = eventually(Duration::from_secs(30), || async {
            self.c()
                .execute(
                    "return window.__old_page === undefined && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await
                .ok()
                == Some(json!(true))
        })
        .await;
        assert!(
            loaded,
            "clicking {css} on {} led to no new page",
            self.url().await
        );
    }

    async fn select(&self, css: &str, value: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    async fn url(&self) -> String {
        self.c()
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    async fn js(&self, script: &str) -> Value {
        self.c().execute(script, Vec::new()).await.expect("script")
    }

    /// Saves the page as `target/screenshots/NAME.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// The whole page at desktop width, then at phone width (390 px), then back.
    async fn screenshots(&self, name: &str) {
        for (suffix, width) in [("", 1280), ("-phone", 390)] {
            let mut height = 900;
            // Resizing reflows the page; measure again until the window holds it all.
            for _ in 0..3 {
                self.c()
                    .set_window_size(width, height)
                    .await
                    .expect("resize");
                let needed = self
                    .js(
                        "return Math.ceil(Math.max(document.documentElement.scrollHeight, \
                         document.body.getBoundingClientRect().bottom + window.scrollY)) \
                         + (window.outerHeight - window.innerHeight)",
                    )
                    .await
                    .as_f64()
                    .map(|h| h as u32)
                    .unwrap_or(900)
                    .clamp(600, 4000);
                if needed <= height {
                    break;
                }
                height = needed;
            }
            self.screenshot(&format!("{name}{suffix}")).await;
        }
        self.c().set_window_size(1280, 900).await.expect("resize");
    }

    async fn login(&self, app: &TestApp, username: &str) {
        self.goto(&app.url("/admin/antrean")).await;
        // Not signed in: the console sends the browser to the login page.
        self.c()
            .wait()
            .for_element(Locator::Css("#login-submit"))
            .await
            .expect("login page");
        self.fill("#username", username).await;
        self.fill("#password", PASSWORD).await;
        self.click("#login-submit").await;
        self.c()
            .wait()
            .for_element(Locator::Css("#take-next"))
            .await
            .unwrap_or_else(|e| panic!("{username} did not reach the queue: {e}"));
    }

    async fn logout(&self) {
        self.click("header form[action='/admin/keluar'] button")
            .await;
        self.c()
            .wait()
            .for_element(Locator::Css("#login-submit"))
            .await
            .expect("back on the login page");
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

async fn user(app: &TestApp, username: &str, role: Role, unit: Option<&str>) {
    app.store
        .create_user(&NewUser {
            username,
            display_name: username,
            email: None,
            role,
            unit,
            password: Some(PASSWORD),
        })
        .await
        .expect("user");
}

async fn file_report(app: &TestApp, title: &str, body: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            &json!({"title": title, "body": body, "name": "Siti Aminah", "email": "siti@warga.test"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.expect("json")["tracking_id"]
        .as_str()
        .expect("tracking id")
        .to_owned()
}

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

/// A session cookie and the CSRF token from the console's login form, without a browser.
async fn console_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let page = app.get("/admin/masuk").await;
    let cookie = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aduan_login="))
        .and_then(|v| v.split(';').next())
        .expect("login cookie")
        .to_owned();
    let html = page.text().await.expect("html");
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("login token")
        .to_owned();
    app.client
        .post(app.url("/admin/masuk"))
        .header(reqwest::header::COOKIE, cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .expect("login")
}

async fn console_forms_need_the_session_csrf_token_and_logins_are_throttled(b: Backend) {
    let app = spawn_app(b).await;
    user(&app, "sari", Role::Operator, None).await;

    // Without a session, pages send the browser to the login page.
    let r = app.get("/admin/antrean").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .expect("location")
        .starts_with("/admin/masuk?ke="));

    // The login form's own token is required.
    let r = app
        .client
        .post(app.url("/admin/masuk"))
        .form(&[("username", "sari"), ("password", PASSWORD), ("token", "x")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = console_login(&app, "sari", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aduan_session="))
        .expect("session cookie")
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(flag), "{flag} missing: {set}");
    }
    let session = set.split(';').next().expect("cookie").to_owned();

    let page = app
        .client
        .get(app.url("/admin/antrean"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .expect("queue");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    assert!(!html.contains("<script>"), "no inline script");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf field")
        .to_owned();

    // A form without the token (as a cross-site page would send it) changes nothing.
    let post = |fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url("/admin/unit"))
            .header(reqwest::header::COOKIE, &session)
            .form(&fields)
            .send()
    };
    let r = post(vec![("code", "dlh".into()), ("name", "Dinas LH".into())])
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(vec![
        ("csrf", "0".repeat(64)),
        ("code", "dlh".into()),
        ("name", "Dinas LH".into()),
    ])
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.store.units().await.expect("units").is_empty());
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("code", "dlh".into()),
        ("name", "Dinas LH".into()),
    ])
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.store.units().await.expect("units").len(), 1);

    // A message that could not be read is listed with its reason and, for operators,
    // its raw original, escaped.
    sqlx::query(
        "INSERT INTO intake_rejects (channel, channel_name, external_id, disposition, reason, raw_content_type, raw, received_at)
         VALUES ('webform', 'mitra', 'kirim-1', 'quarantined', 'body is not JSON: expected value at line 1', 'application/json', $1, $2)",
    )
    .bind(b"<script>alert(1)</script>{".to_vec())
    .bind(aduan::store::now_micros())
    .execute(&app.store.pool_for_tests())
    .await
    .expect("quarantined message");
    let html = app
        .client
        .get(app.url("/admin/karantina?kanal=mitra"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .expect("quarantine")
        .text()
        .await
        .expect("html");
    assert!(html.contains("body is not JSON") && html.contains("kirim-1"));
    assert!(html.contains("&#60;script&#62;alert(1)") && !html.contains("<script>alert(1)"));

    // Every page renders on this back end, with a complaint in the store.
    let t = file_report(
        &app,
        "Sampah menumpuk",
        "Sampah belum diangkut <b>dua</b> minggu.",
    )
    .await;
    for path in [
        "/admin/antrean".to_owned(),
        "/admin/antrean?q=sampah&status=new&channel=webform&overdue=1&mine=1".to_owned(),
        format!("/admin/laporan/{t}"),
        "/admin/dasbor".to_owned(),
        "/admin/kanal".to_owned(),
        "/admin/karantina".to_owned(),
        "/admin/unit".to_owned(),
        "/admin/pengguna".to_owned(),
        "/admin/libur".to_owned(),
        "/admin/kategori".to_owned(),
    ] {
        let r = app
            .client
            .get(app.url(&path))
            .header(reqwest::header::COOKIE, &session)
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let html = r.text().await.expect("html");
        assert!(
            !html.contains("<b>dua</b>"),
            "complaint text escaped on {path}"
        );
    }

    // Operators make users (the API token is shown once and works), holidays and
    // categories from the console.
    let form = |path: &'static str, fields: Vec<(&'static str, &'static str)>| {
        let mut fields: Vec<(&str, &str)> = fields;
        fields.push(("csrf", csrf.as_str()));
        app.client
            .post(app.url(path))
            .header(reqwest::header::COOKIE, &session)
            .form(&fields)
            .send()
    };
    let r = form(
        "/admin/pengguna",
        vec![
            ("username", "dewi"),
            ("display_name", "Dewi Lestari"),
            ("email", ""),
            ("role", "unit_admin"),
            ("unit", "dlh"),
            ("password", ""),
        ],
    )
    .await
    .expect("create user");
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.expect("html");
    let token = html
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("token shown once")
        .to_owned();
    let r = app
        .client
        .get(app.url("/api/v1/units"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::OK);
    let r = form(
        "/admin/libur",
        vec![
            ("day", "2026-12-24"),
            ("name", "Cuti bersama Natal"),
            ("kind", "cuti_bersama"),
        ],
    )
    .await
    .expect("holiday");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = form(
        "/admin/kategori",
        vec![
            ("code", "jalan"),
            ("name", "Jalan dan jembatan"),
            ("parent", ""),
        ],
    )
    .await
    .expect("category");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app
        .store
        .holidays()
        .await
        .expect("holidays")
        .iter()
        .any(|h| h.name == "Cuti bersama Natal"));
    assert!(app
        .store
        .categories()
        .await
        .expect("categories")
        .iter()
        .any(|c| c.code == "jalan"));
    let r = form("/admin/kategori/jalan/hapus", Vec::new())
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!app
        .store
        .categories()
        .await
        .expect("categories")
        .iter()
        .any(|c| c.code == "jalan"));

    // Password guessing against one account is throttled, through either door.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            console_login(&app, "sari", "salah-salah-salah")
                .await
                .status(),
        );
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let r = app
        .post_json(
            "/api/v1/session",
            &json!({"username": "sari", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the API shares the limit"
    );
    assert!(r.headers().contains_key("retry-after"));
    app.stop().await;
}

on_both!(console_forms_need_the_session_csrf_token_and_logins_are_throttled);

async fn units_see_only_their_complaints_and_only_their_actions(b: Backend) {
    let app = spawn_app(b).await;
    app.store.create_unit("dpupr", "PU").await.expect("unit");
    user(&app, "budi", Role::UnitAdmin, Some("dpupr")).await;
    let t = file_report(&app, "Lampu jalan mati", "Sudah seminggu.").await;
    let r = console_login(&app, "budi", PASSWORD).await;
    let session = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aduan_session="))
        .and_then(|v| v.split(';').next())
        .expect("session")
        .to_owned();
    let get = |path: String| {
        app.client
            .get(app.url(&path))
            .header(reqwest::header::COOKIE, &session)
            .send()
    };
    // Not forwarded to the unit: not found, in the list and by address.
    let page = get("/admin/antrean".into()).await.expect("queue");
    assert!(!page.text().await.expect("html").contains(&t));
    let r = get(format!("/admin/laporan/{t}")).await.expect("detail");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(format!("/admin/laporan/{t}/lampiran/0"))
        .await
        .expect("file");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Operator pages are refused.
    for p in ["/admin/pengguna", "/admin/kanal", "/admin/karantina"] {
        let r = get(p.into()).await.expect("page");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{p}");
    }
    app.stop().await;
}

on_both!(units_see_only_their_complaints_and_only_their_actions);

async fn the_queue_flags_deadlines_due_today_and_passed(b: Backend) {
    let app = spawn_app(b).await;
    user(&app, "sari", Role::Operator, None).await;
    let today = file_report(&app, "Tenggat hari ini", "Isi.").await;
    let late = file_report(&app, "Sudah lewat tenggat", "Isi.").await;
    let later = file_report(&app, "Masih lama", "Isi.").await;
    // Deadlines as the SLA job would set them: the last second of today (Jakarta), an
    // hour ago, and next week.
    let now = aduan::store::now_micros();
    let day = 86_400_000_000_i64;
    let wib = 7 * 3_600_000_000_i64;
    let end_of_today = ((now + wib).div_euclid(day) + 1) * day - wib - 1;
    for (t, due) in [
        (&today, end_of_today),
        (&late, now - 3_600_000_000),
        (&later, now + 7 * day),
    ] {
        sqlx::query("UPDATE complaints SET due_at = $1 WHERE tracking_id = $2")
            .bind(due)
            .bind(t.as_str())
            .execute(&app.store.pool_for_tests())
            .await
            .expect("due date");
    }
    let r = console_login(&app, "sari", PASSWORD).await;
    let session = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aduan_session="))
        .and_then(|v| v.split(';').next())
        .expect("session")
        .to_owned();
    let queue = |q: &'static str| {
        app.client
            .get(app.url(&format!("/admin/antrean{q}")))
            .header(reqwest::header::COOKIE, &session)
            .send()
    };
    let html = queue("").await.expect("queue").text().await.expect("html");
    let row = |t: &str| {
        html.split(&format!("data-tracking=\"{t}\""))
            .nth(1)
            .and_then(|s| s.split("</tr>").next())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row(&today).contains("sla-today") && !row(&today).contains("sla-overdue"));
    assert!(row(&late).contains("sla-overdue"));
    assert!(!row(&later).contains("sla-today") && !row(&later).contains("sla-overdue"));
    // The overdue filter keeps only the late one.
    let html = queue("?overdue=1")
        .await
        .expect("queue")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&late) && !html.contains(&today) && !html.contains(&later));
    app.stop().await;
}

on_both!(the_queue_flags_deadlines_due_today_and_passed);
