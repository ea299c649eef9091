//! The fault test in its short form: three daemons (the built binary) on one
//! PostgreSQL database poll one X account on a fake X API while citizens keep posting;
//! the instance holding the channel's lease is killed with SIGKILL once. At the end
//! every post is exactly one complaint with exactly one receipt, and the take-over time
//! is printed.
//!
//! X takes no idempotency key: a receipt the killed daemon sent but had not yet marked
//! sent is sent again by a peer, and X refuses it as a duplicate of the account's own
//! post. The fake does the same and the test prints how often that happened.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::harness::{eventually, Backend, TestDb};

const ACCOUNT: &str = "1500000000000000000";
const CHANNEL: &str = "x-siak";
/// Posts by citizens, one every `EVERY`; the kill falls among them.
const POSTS: u64 = 80;
const EVERY: Duration = Duration::from_millis(200);
const KILL_AFTER: u64 = 20;

/// What the fake X holds: the citizens' posts, and the replies under them.
#[derive(Default)]
struct Timeline {
    /// Post id to (author id, text).
    posts: BTreeMap<u64, (u64, String)>,
    /// Replies accepted, by the post they answer.
    replies: BTreeMap<u64, Vec<String>>,
    /// Replies refused as duplicates (X refuses a post whose text repeats one of the
    /// account's recent posts).
    duplicates: usize,
}

type Shared = Arc<Mutex<Timeline>>;

const FIRST_POST: u64 = 1_865_000_000_000_001_000;

async fn mentions(State(t): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let since: u64 = q
        .iter()
        .find(|(k, _)| k == "since_id")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let t = t.lock().expect("lock");
    // Newest first, as X answers; the fake never has more than a page waiting.
    let newer: Vec<(&u64, &(u64, String))> = t.posts.range(since + 1..).rev().take(100).collect();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let data: Vec<Value> = newer
        .iter()
        .map(|(id, (author, text))| {
            json!({"id": id.to_string(), "text": text, "author_id": author.to_string(),
                   "conversation_id": id.to_string(), "created_at": now, "lang": "in"})
        })
        .collect();
    let users: Vec<Value> = newer
        .iter()
        .map(|(_, (author, _))| {
            json!({"id": author.to_string(), "username": format!("warga{author}"), "name": "Warga"})
        })
        .collect();
    let meta = match (newer.first(), newer.last()) {
        (Some((newest, _)), Some((oldest, _))) => json!({"newest_id": newest.to_string(),
            "oldest_id": oldest.to_string(), "result_count": newer.len()}),
        _ => json!({"result_count": 0}),
    };
    let mut page = json!({"meta": meta});
    if !data.is_empty() {
        page["data"] = data.into();
        page["includes"] = json!({ "users": users });
    }
    (
        [
            ("content-type", "application/json"),
            ("x-rate-limit-remaining", "440"),
        ],
        page.to_string(),
    )
        .into_response()
}

async fn create_tweet(State(t): State<Shared>, Json(body): Json<Value>) -> Response {
    let parent: u64 = body["reply"]["in_reply_to_tweet_id"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let text = body["text"].as_str().unwrap_or("").to_owned();
    let mut t = t.lock().expect("lock");
    let replies = t.replies.entry(parent).or_default();
    if replies.contains(&text) {
        t.duplicates += 1;
        return (
            StatusCode::FORBIDDEN,
            Json(
                json!({"detail": "You are not allowed to create a Tweet with duplicate content.",
                        "type": "about:blank", "title": "Forbidden", "status": 403}),
            ),
        )
            .into_response();
    }
    replies.push(text);
    let id = format!("19{}", parent % 10u64.pow(17));
    (
        StatusCode::CREATED,
        Json(json!({"data": {"id": id, "text": "ok"}})),
    )
        .into_response()
}

async fn fake_x(t: Shared) -> String {
    let app = Router::new()
        .route("/2/users/{id}/mentions", get(mentions))
        .route("/2/tweets", post(create_tweet))
        .with_state(t);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

struct Daemon {
    id: String,
    child: Child,
}

impl Daemon {
    fn start(dir: &Path, id: &str, db_url: &str, x_base: &str) -> Self {
        let port = crate::e2e::free_port();
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"
data_dir = "{data}"
public_url = "https://lapor.contoh.go.id"
[http]
listen = "127.0.0.1:{port}"
shutdown_grace_secs = 5
[database]
url = "{db_url}"
max_connections = 4
[outbox]
base_backoff_ms = 100
max_backoff_secs = 2
poll_interval_ms = 100
# A daemon killed while sending leaves its claims; a peer takes them after this.
lease_secs = 10
[supervisor]
min_backoff_ms = 100
max_backoff_secs = 2
[instance]
id = "{id}"
[[channels]]
kind = "x"
name = "{CHANNEL}"
user_id = "{ACCOUNT}"
handle = "PemkabSiak"
bearer_token = "bearer-contoh"
consumer_key = "ck-contoh"
consumer_secret = "cs-contoh"
access_token = "at-contoh"
access_token_secret = "ats-contoh"
api_base = "{x_base}"
poll_interval_secs = 1
"#,
                data = dir.join(id).display(),
            ),
        )
        .expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_aduan"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("ADUAN_CONFIG")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start aduan");
        Self {
            id: id.to_owned(),
            child,
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), signal).expect("signal");
    }

    async fn exited(&mut self, within: Duration) -> bool {
        let child = &mut self.child;
        eventually(within, || {
            let done = matches!(child.try_wait(), Ok(Some(_)));
            async move { done }
        })
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The live holder of the channel's lease, by the database.
async fn holder(store: &aduan::store::Store) -> Option<String> {
    store
        .leases()
        .await
        .ok()?
        .into_iter()
        .find(|l| l.channel_name == CHANNEL && l.live)
        .map(|l| l.holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_lease_holder_loses_and_doubles_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    // Migrated once here, so the daemons start on a ready database.
    let store = db.store().await;
    let timeline = Shared::default();
    let x_base = fake_x(timeline.clone()).await;
    let mut daemons: Vec<Daemon> = (1..=3)
        .map(|n| Daemon::start(db.dir.path(), &format!("daemon-{n}"), &db.url, &x_base))
        .collect();
    assert!(
        eventually(Duration::from_secs(60), || async {
            holder(&store).await.is_some()
        })
        .await,
        "one daemon takes the channel's lease"
    );

    let mut takeover = None;
    for i in 0..POSTS {
        {
            let mut t = timeline.lock().expect("lock");
            t.posts.insert(
                FIRST_POST + i,
                (
                    1_570_000_000_000_000_000 + i,
                    format!("@PemkabSiak lampu jalan nomor {i} mati"),
                ),
            );
        }
        if i == KILL_AFTER {
            let victim = holder(&store).await.expect("a holder");
            let at = daemons
                .iter()
                .position(|d| d.id == victim)
                .expect("the holder is one of ours");
            let mut dead = daemons.remove(at);
            dead.signal(Signal::SIGKILL);
            takeover = Some((
                victim.clone(),
                tokio::spawn(took_over(store.clone(), victim)),
            ));
            assert!(dead.exited(Duration::from_secs(5)).await, "killed");
        }
        tokio::time::sleep(EVERY).await;
    }
    let (victim, watch) = takeover.expect("the holder was killed");
    let took = tokio::time::timeout(Duration::from_secs(60), watch)
        .await
        .expect("another daemon takes the lease over")
        .expect("watcher");
    println!("fault test: take-over after SIGKILL: {took:?}");

    // Every post becomes a complaint and gets its receipt.
    let replied = || {
        let t = timeline.lock().expect("lock");
        t.posts.keys().all(|id| t.replies.contains_key(id))
    };
    assert!(
        eventually(Duration::from_secs(90), || async { replied() }).await,
        "every post got a receipt"
    );
    let complaints = store
        .complaints(&aduan::store::ComplaintFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("complaints");
    let mut filed: BTreeMap<String, usize> = BTreeMap::new();
    for c in &complaints {
        *filed.entry(c.external_id.clone()).or_default() += 1;
    }
    assert_eq!(
        store.count("outbox").await.expect("outbox"),
        i64::try_from(POSTS).expect("posts"),
        "one receipt queued per complaint"
    );
    let duplicates = {
        let t = timeline.lock().expect("lock");
        for id in t.posts.keys() {
            assert_eq!(
                filed.get(&id.to_string()).copied(),
                Some(1),
                "post {id} is one complaint"
            );
            let replies = t.replies.get(id).map(Vec::len);
            assert_eq!(replies, Some(1), "post {id} has one receipt");
        }
        assert_eq!(complaints.len(), t.posts.len(), "no other complaints");
        t.duplicates
    };
    println!(
        "fault test: {POSTS} posts, holder {victim} killed; {duplicates} receipts sent again were refused as duplicates"
    );

    for d in &daemons {
        d.signal(Signal::SIGTERM);
    }
    for d in &mut daemons {
        assert!(d.exited(Duration::from_secs(15)).await, "{} stops", d.id);
    }
}

/// How long, from now (the kill), until a daemon other than `victim` holds the lease.
async fn took_over(store: aduan::store::Store, victim: String) -> Duration {
    let killed = Instant::now();
    loop {
        if holder(&store).await.is_some_and(|h| h != victim) {
            return killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
