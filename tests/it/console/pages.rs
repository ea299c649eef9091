//! The console's pages over plain HTTP, on both back ends: sessions, CSRF, cookie flags,
//! CSP, throttling, escaping, permissions, the operators' tables and the SLA badges.

use aduan::queue::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::{file_report, user, PASSWORD};
use crate::harness::{spawn_app, Backend, TestApp};
use crate::on_both;

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Logs in through the console's form (with its double-submit token), as a browser does.
async fn console_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let page = app.get("/admin/masuk").await;
    let cookie = set_cookie(&page, "aduan_login")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("login cookie");
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

/// A signed-in console session without a browser: its cookie and its CSRF token.
pub(crate) struct Session<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl<'a> Session<'a> {
    pub(crate) async fn open(app: &'a TestApp, username: &str) -> Session<'a> {
        let r = console_login(app, username, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{username} logs in");
        let cookie = set_cookie(&r, "aduan_session")
            .and_then(|c| c.split(';').next().map(str::to_owned))
            .expect("session cookie");
        let mut s = Session {
            app,
            cookie,
            csrf: String::new(),
        };
        let html = s.html("/admin/antrean").await;
        s.csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .expect("csrf field")
            .to_owned();
        s
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("GET")
    }

    pub(crate) async fn html(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.expect("html")
    }

    /// POSTs a form as it is sent by the page, CSRF token included.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf", self.csrf.as_str()));
        self.post_without_token(path, &fields).await
    }

    /// POSTs exactly `fields`, as a cross-site page could.
    async fn post_without_token(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}

async fn forms_need_the_session_and_its_csrf_token(b: Backend) {
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
    let set = set_cookie(&r, "aduan_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(flag), "{flag} missing: {set}");
    }

    let s = Session::open(&app, "sari").await;
    let page = s.get("/admin/antrean").await;
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

    // A form without the token, or with another, changes nothing.
    let unit = [("code", "dlh"), ("name", "Dinas LH")];
    let r = s.post_without_token("/admin/unit", &unit).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let wrong = "0".repeat(64);
    let r = s
        .post_without_token("/admin/unit", &[unit[0], unit[1], ("csrf", wrong.as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.store.units().await.expect("units").is_empty());
    let r = s.post("/admin/unit", &unit).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.store.units().await.expect("units").len(), 1);

    // Logging out needs the token too, and ends the session.
    let r = s.post_without_token("/admin/keluar", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s.post("/admin/keluar", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        s.get("/admin/antrean").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

on_both!(forms_need_the_session_and_its_csrf_token);

async fn every_page_renders_and_escapes_what_it_shows(b: Backend) {
    let app = spawn_app(b).await;
    user(&app, "sari", Role::Operator, None).await;
    let s = Session::open(&app, "sari").await;

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
    let html = s.html("/admin/karantina?kanal=mitra").await;
    assert!(html.contains("body is not JSON") && html.contains("kirim-1"));
    assert!(html.contains("&#60;script&#62;alert(1)") && !html.contains("<script>alert(1)"));

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
        let html = s.html(&path).await;
        assert!(
            !html.contains("<b>dua</b>"),
            "complaint text escaped on {path}"
        );
    }
    assert!(s
        .html(&format!("/admin/laporan/{t}"))
        .await
        .contains("&#60;b&#62;dua"));
    app.stop().await;
}

on_both!(every_page_renders_and_escapes_what_it_shows);

async fn operators_manage_users_holidays_and_categories(b: Backend) {
    let app = spawn_app(b).await;
    app.store
        .create_unit("dlh", "Dinas LH")
        .await
        .expect("unit");
    user(&app, "sari", Role::Operator, None).await;
    let s = Session::open(&app, "sari").await;

    // A new user's API token is shown once, and works.
    let r = s
        .post(
            "/admin/pengguna",
            &[
                ("username", "dewi"),
                ("display_name", "Dewi Lestari"),
                ("email", ""),
                ("role", "unit_admin"),
                ("unit", "dlh"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.expect("html");
    let token = html
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|v| v.split('<').next())
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
    assert!(
        !s.html("/admin/pengguna").await.contains(&token),
        "only once"
    );

    let holiday = [
        ("day", "2026-12-24"),
        ("name", "Cuti bersama Natal"),
        ("kind", "cuti_bersama"),
    ];
    assert_eq!(
        s.post("/admin/libur", &holiday).await.status(),
        StatusCode::SEE_OTHER
    );
    let category = [
        ("code", "jalan"),
        ("name", "Jalan dan jembatan"),
        ("parent", ""),
    ];
    assert_eq!(
        s.post("/admin/kategori", &category).await.status(),
        StatusCode::SEE_OTHER
    );
    let has_category = || async {
        app.store
            .categories()
            .await
            .expect("categories")
            .iter()
            .any(|c| c.code == "jalan")
    };
    assert!(has_category().await);
    assert!(app
        .store
        .holidays()
        .await
        .expect("holidays")
        .iter()
        .any(|h| h.name == "Cuti bersama Natal"));
    assert!(s.html("/admin/libur").await.contains("Cuti bersama Natal"));
    let r = s.post("/admin/kategori/jalan/hapus", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!has_category().await);

    // An invalid entry comes back as a message on the page, not an error page.
    let r = s
        .post(
            "/admin/libur",
            &[("day", "besok"), ("name", "x"), ("kind", "libur")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

on_both!(operators_manage_users_holidays_and_categories);

async fn password_guessing_is_throttled_through_either_door(b: Backend) {
    let app = spawn_app(b).await;
    user(&app, "sari", Role::Operator, None).await;
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
    // Even the right password waits now, on the console and the API alike.
    let r = console_login(&app, "sari", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r
        .text()
        .await
        .expect("html")
        .contains("Terlalu banyak percobaan"));
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
    // Another account is not affected.
    user(&app, "budi", Role::Operator, None).await;
    assert_eq!(
        console_login(&app, "budi", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

on_both!(password_guessing_is_throttled_through_either_door);

async fn units_see_only_their_complaints_and_only_their_pages(b: Backend) {
    let app = spawn_app(b).await;
    app.store.create_unit("dpupr", "PU").await.expect("unit");
    user(&app, "budi", Role::UnitAdmin, Some("dpupr")).await;
    let t = file_report(&app, "Lampu jalan mati", "Sudah seminggu.").await;
    let s = Session::open(&app, "budi").await;
    // Not forwarded to the unit: not found, in the list and by address.
    assert!(!s.html("/admin/antrean").await.contains(&t));
    for path in [
        format!("/admin/laporan/{t}"),
        format!("/admin/laporan/{t}/lampiran/0"),
        format!("/admin/laporan/{t}/asli"),
    ] {
        assert_eq!(s.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Actions on it are refused the same way, and change nothing.
    let r = s
        .post(&format!("/admin/laporan/{t}/aksi/verify"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.post(&format!("/admin/laporan/{t}/ambil"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Operator pages and changes are refused.
    for p in ["/admin/pengguna", "/admin/kanal", "/admin/karantina"] {
        assert_eq!(s.get(p).await.status(), StatusCode::FORBIDDEN, "{p}");
    }
    let r = s.post("/admin/unit", &[("code", "x"), ("name", "X")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.units().await.expect("units").len(), 1);
    app.stop().await;
}

on_both!(units_see_only_their_complaints_and_only_their_pages);

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
    let s = Session::open(&app, "sari").await;
    let html = s.html("/admin/antrean").await;
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
    let html = s.html("/admin/antrean?overdue=1").await;
    assert!(html.contains(&late) && !html.contains(&today) && !html.contains(&later));
    app.stop().await;
}

on_both!(the_queue_flags_deadlines_due_today_and_passed);

async fn attachments_are_downloads_and_only_raster_images_show_inline(b: Backend) {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app(b).await;
    user(&app, "sari", Role::Operator, None).await;
    let form = Form::new()
        .text("title", "Foto jalan rusak")
        .text("body", "Lihat foto.")
        .part(
            "attachments",
            Part::bytes(crate::api::PNG.to_vec()).file_name("jalan rusak.png"),
        );
    let r = app.post_multipart("/api/v1/reports", form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t = r.json::<serde_json::Value>().await.expect("json")["tracking_id"]
        .as_str()
        .expect("tracking id")
        .to_owned();
    let s = Session::open(&app, "sari").await;

    let r = s.get(&format!("/admin/laporan/{t}/lampiran/0")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream");
    let disposition = h["content-disposition"].to_str().expect("disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("jalan%20rusak.png"), "{disposition}");
    assert!(h["content-security-policy"]
        .to_str()
        .expect("csp")
        .contains("sandbox"));
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), crate::api::PNG);

    let r = s
        .get(&format!("/admin/laporan/{t}/lampiran/0?tampil=1"))
        .await;
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .expect("disposition")
        .starts_with("inline;"));
    assert_eq!(
        s.get(&format!("/admin/laporan/{t}/lampiran/1"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

on_both!(attachments_are_downloads_and_only_raster_images_show_inline);
