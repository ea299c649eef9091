//! `spawn_app()`: the real app on port 0 with its own fresh database (a SQLite file in a
//! temporary directory, or a new PostgreSQL database dropped afterwards).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aduan::app::RunningApp;
use aduan::config::Config;
use aduan::store::Store;
use aduan_kit::Channel;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per back end, each as its own `#[tokio::test]`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name($crate::harness::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::harness::Backend::Postgres).await }
        }
    )*};
}

/// The media settings a channel of a fake provider API needs unless `extra` sets its
/// own: the fakes serve media over plain http on loopback, which the tests allow
/// explicitly (a channel's defaults allow https from the provider's own hosts only).
pub fn local_media_unless_set(extra: &str) -> &'static str {
    if extra.contains("media_hosts") {
        ""
    } else {
        "media_hosts = [\"127.0.0.1\"]\ninsecure_local_media_for_tests = true"
    }
}

/// Runs `aduan check --online` on a configuration file holding `channels` (TOML), with
/// its data under `dir`: whether it passed, and what it printed (stdout, stderr).
pub fn check_online(dir: &Path, channels: &str) -> (bool, String, String) {
    let file = dir.join("aduan.toml");
    let config = format!("data_dir = \"{}\"\n{channels}", dir.join("data").display());
    std::fs::write(&file, config).expect("write the configuration");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--online", "--config"])
        .arg(&file)
        .output()
        .expect("run aduan check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub const FORM_SECRET: &str = "rahasia-mitra-formulir-uji";

fn admin_url() -> String {
    std::env::var("ADUAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database; dropped (PostgreSQL) or deleted with its directory (SQLite).
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        aduan::telemetry::init_for_tests();
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("aduan.db").display()
                );
                Self {
                    url,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = admin_url();
                let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {admin}: {e}. Start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                         or set ADUAN_TEST_PG (scripts/test.sh does both)"
                    )
                });
                let name = format!("aduan_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(admin);
                Self {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &self.data_dir(), 8)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = admin_url();
        // Drop runs inside a runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub extra_toml: String,
    pub configure: fn(&mut Config),
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub app: Option<RunningApp>,
    pub db: TestDb,
}

/// Extra configuration appended to the test default.
pub struct Options {
    /// Appended to the test configuration (more `[[channels]]`).
    pub extra_toml: String,
    /// Fake channels added to the configured ones.
    pub channels: Vec<Channel>,
    /// Changes to the loaded configuration (limits, intervals).
    pub configure: fn(&mut Config),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra_toml: String::new(),
            channels: Vec::new(),
            configure: |_| {},
        }
    }
}

pub fn config_for(db: &TestDb, extra_toml: &str) -> Config {
    let toml = format!(
        r#"
data_dir = "{data}"
public_url = "https://lapor.contoh.go.id"
[http]
listen = "127.0.0.1:0"
shutdown_grace_secs = 10
# Tests post many reports from one address; the limits' own tests switch them on.
rate_limit = {{ enabled = false }}
[database]
url = "{url}"
[outbox]
base_backoff_ms = 10
max_backoff_secs = 1
poll_interval_ms = 20
max_attempts = 3
[supervisor]
min_backoff_ms = 10
max_backoff_secs = 1
[[form.categories]]
slug = "air-bersih"
label = "Air bersih"
[[channels]]
kind = "webform"
name = "web"
[[channels]]
kind = "webform"
name = "mitra"
secret = "{secret}"
id_field = "/submission_id"
{extra_toml}
"#,
        data = db.data_dir().display(),
        url = db.url,
        secret = FORM_SECRET,
    );
    Config::from_toml_str(&toml).expect("test configuration")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

/// An app with `toml` appended to the test configuration (its channels, mostly).
pub async fn spawn_app_toml(backend: Backend, toml: String) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            extra_toml: toml,
            ..Options::default()
        },
    )
    .await
}

pub async fn spawn_app_with(backend: Backend, opts: Options) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut cfg = config_for(&db, &opts.extra_toml);
    (opts.configure)(&mut cfg);
    let app = aduan::app::start(cfg, opts.channels)
        .await
        .expect("app starts");
    let base = format!("http://{}", app.addr);
    TestApp {
        extra_toml: opts.extra_toml,
        configure: opts.configure,
        base,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        store: app.store.clone(),
        app: Some(app),
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    pub async fn post_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .expect("POST")
    }

    /// The complaint filed from `external_id` (with its thread), or a panic naming it.
    pub async fn complaint_from(&self, external_id: &str) -> aduan::store::ComplaintRecord {
        let list = self
            .store
            .complaints(&aduan::store::ComplaintFilter::default())
            .await
            .expect("list");
        let c = list
            .iter()
            .find(|c| c.external_id == external_id)
            .unwrap_or_else(|| panic!("no complaint {external_id}"));
        self.store
            .complaint(&c.tracking_id)
            .await
            .expect("read")
            .expect("record")
    }

    /// The health a running channel reports.
    pub fn health(&self, channel: &str) -> aduan_kit::HealthHandle {
        let name = aduan_kit::ChannelName::parse(channel).expect("channel name");
        self.app
            .as_ref()
            .expect("app")
            .health
            .get(&name)
            .expect("health")
            .clone()
    }

    /// Waits up to `within` for `channel` to report `status`; whether it did, and its
    /// health at the end.
    pub async fn await_status(
        &self,
        channel: &str,
        status: &str,
        within: Duration,
    ) -> (bool, aduan_kit::HealthState) {
        let health = self.health(channel);
        let reached = eventually(within, || {
            let h = health.clone();
            async move { h.snapshot().status == status }
        })
        .await;
        (reached, health.snapshot())
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.store.count(table).await.expect("count")
    }

    /// Waits until `table` holds exactly `n` rows; whether it did within `within`.
    pub async fn await_count(&self, table: &str, n: i64, within: Duration) -> bool {
        let store = self.store.clone();
        eventually(within, || {
            let store = store.clone();
            async move { store.count(table).await.unwrap_or(0) == n }
        })
        .await
    }

    /// Files in the blob store (attachments), excluding the temporary directory.
    pub fn blob_files(&self) -> usize {
        let root = self.db.data_dir().join("blobs");
        let mut n = 0;
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            if entry.file_name() == "tmp" {
                n += std::fs::read_dir(entry.path())
                    .map(|d| d.count())
                    .unwrap_or(0);
                continue;
            }
            n += std::fs::read_dir(entry.path())
                .map(|d| d.count())
                .unwrap_or(0);
        }
        n
    }

    /// Stops the daemon and starts it again on the same database and data directory, as
    /// after a restart of the process (fake channels are not carried over).
    pub async fn restart(mut self) -> TestApp {
        if let Some(app) = self.app.take() {
            assert!(
                app.stop(Duration::from_secs(10)).await,
                "app did not stop within its grace period"
            );
        }
        let mut cfg = config_for(&self.db, &self.extra_toml);
        (self.configure)(&mut cfg);
        let app = aduan::app::start(cfg, Vec::new())
            .await
            .expect("app restarts");
        self.base = format!("http://{}", app.addr);
        self.store = app.store.clone();
        self.app = Some(app);
        self
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            assert!(
                app.stop(Duration::from_secs(10)).await,
                "app did not stop within its grace period"
            );
        }
    }
}

/// Polls `f` until it returns true or `within` passes.
/// The tracking number of a report the API accepted (`201 Created`).
pub async fn filed(res: reqwest::Response) -> String {
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    res.json::<serde_json::Value>().await.expect("json")["tracking_id"]
        .as_str()
        .expect("tracking id")
        .to_owned()
}

/// A fixture file, by its path under the workspace root.
pub fn fixture(dir: &str, name: &str) -> String {
    std::fs::read_to_string(format!("{}/{dir}/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new user without a password, as the queue sees them.
pub async fn staff_actor(
    store: &Store,
    name: &str,
    role: aduan::queue::Role,
    unit: Option<&str>,
) -> aduan::queue::Actor {
    let u = store
        .create_user(&aduan::queue::people::NewUser {
            username: name,
            display_name: name,
            email: None,
            role,
            unit,
            password: None,
        })
        .await
        .expect("user");
    aduan::queue::Actor {
        user_id: u.id,
        username: u.username,
        role,
        unit: u.unit,
    }
}

/// A coordinator, a unit admin and a liaison (`{prefix}-k`, `-u`, `-l`) of a new unit.
pub async fn queue_staff(store: &Store, unit: &str, prefix: &str) -> [aduan::queue::Actor; 3] {
    use aduan::queue::Role;
    store.create_unit(unit, unit).await.expect("unit");
    let mut make = Vec::new();
    for (suffix, role, unit) in [
        ("k", Role::Coordinator, None),
        ("u", Role::UnitAdmin, Some(unit)),
        ("l", Role::Liaison, Some(unit)),
    ] {
        make.push(staff_actor(store, &format!("{prefix}-{suffix}"), role, unit).await);
    }
    make.try_into().expect("three")
}

/// The LAPOR! path to an answer: the coordinator verifies and forwards to the staff's
/// unit, the unit admin drafts `body`, the liaison approves (the answer goes out).
pub async fn answer_through_queue(
    queue: &aduan::queue::Queue,
    staff: &[aduan::queue::Actor; 3],
    tracking_id: &str,
    body: &str,
) {
    use aduan::queue::{ActionKind, ActionRequest};
    let steps = [
        (0, ActionKind::Verify, ActionRequest::default()),
        (
            0,
            ActionKind::Forward,
            ActionRequest {
                unit: staff[1].unit.clone(),
                ..ActionRequest::default()
            },
        ),
        (
            1,
            ActionKind::DraftAnswer,
            ActionRequest {
                body: Some(body.to_owned()),
                ..ActionRequest::default()
            },
        ),
        (2, ActionKind::ApproveAnswer, ActionRequest::default()),
    ];
    for (who, action, req) in steps {
        queue
            .act(&staff[who], tracking_id, action, &req)
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    }
}
