//! The admin console at `/admin`: the whole LAPOR! workflow driven in real headless
//! Chromium through WebDriver (fantoccini + chromedriver) on SQLite ([`workflow`]), and
//! the pages' security and permissions checked over plain HTTP on both back ends
//! ([`pages`]).
//!
//! Screenshots of the main pages, at desktop and phone width, are saved under
//! `target/screenshots/` for people to look at.

mod browser;
pub(crate) mod pages;
mod workflow;

use aduan::queue::people::NewUser;
use aduan::queue::Role;
use serde_json::json;

use crate::harness::TestApp;

pub const PASSWORD: &str = "kata-sandi-uji-panjang";

pub async fn user(app: &TestApp, username: &str, role: Role, unit: Option<&str>) {
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

pub async fn file_report(app: &TestApp, title: &str, body: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            &json!({"title": title, "body": body, "name": "Siti Aminah", "email": "siti@warga.test"}),
        )
        .await;
    crate::harness::filed(res).await
}
