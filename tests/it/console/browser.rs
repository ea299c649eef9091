//! chromedriver and a headless Chromium session for the browser tests, with the few
//! steps they take (fill, click and wait for the next page, read, screenshot).

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::PASSWORD;
use crate::harness::{eventually, TestApp};

/// chromedriver on a free port and a headless Chromium session; both end on drop.
pub struct Browser {
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
    pub async fn start() -> Self {
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

    pub fn c(&self) -> &Client {
        self.client.as_ref().expect("browser session")
    }

    pub async fn stop(mut self) {
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
    pub async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigate");
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.c().wait().for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                let url = self.url().await;
                let page = self.c().source().await.unwrap_or_default();
                panic!("no {css} on {url}: {e}\n{page}")
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .c()
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    pub async fn fill(&self, css: &str, value: &str) {
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
    pub async fn click(&self, css: &str) {
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

    pub async fn select(&self, css: &str, value: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.c()
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.c().execute(script, Vec::new()).await.expect("script")
    }

    /// Saves the page as `target/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// The whole page at desktop width, then at phone width (390 px), then back.
    pub async fn screenshots(&self, name: &str) {
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

    pub async fn login(&self, app: &TestApp, username: &str) {
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

    pub async fn logout(&self) {
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
