//! The fault test: three daemons (the built binary) on one PostgreSQL database poll one
//! X account on a fake X API and one IMAP mailbox (Dovecot on loopback) while citizens
//! keep posting and mailing. The instance holding the most channel leases is killed with
//! SIGKILL and a fresh one started in its place, `ADUAN_FAULT_KILLS` times: once by
//! default (the short form the test suite runs), more from `bench/fault.sh`. At the end
//! every post and every mail is exactly one complaint with exactly one receipt (a reply
//! on X, a mail through Postfix into the citizen's mailbox), and each take-over time is
//! printed, with the minimum, median and maximum.
//!
//! X takes no idempotency key: a receipt the killed daemon sent but had not yet marked
//! sent is sent again by a peer, and X refuses it as a duplicate of the account's own
//! post. The fake does the same and the test prints how often that happened. A receipt
//! mail sent again the same way carries the same Message-ID; the test counts receipts
//! by Message-ID and prints how many arrived twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
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

use crate::email::mail_server;
use crate::harness::{eventually, Backend, TestDb};

const ACCOUNT: &str = "1500000000000000000";
const CHANNEL: &str = "x-siak";
/// A citizen posts every `EVERY` (and mails every other time) from the start to
/// `BETWEEN_KILLS` after the last kill; a kill comes `BETWEEN_KILLS` after the last
/// take-over.
const EVERY: Duration = Duration::from_millis(200);
const BETWEEN_KILLS: Duration = Duration::from_secs(3);

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

/// The mailbox the daemons poll, and where their receipts go.
struct Mailbox {
    folder: String,
    /// In every subject and Message-ID of this run, so that its receipts are told apart
    /// in the citizen's inbox.
    tag: String,
}

const MAILBOX_USER: &str = "pengaduan@aduan.test";
const CITIZEN: &str = "warga@warga.test";

impl Mailbox {
    async fn new() -> Self {
        let mut session = mail_server::imap(MAILBOX_USER).await;
        let folder = mail_server::fresh_folder(&mut session).await;
        let _ = session.logout().await;
        Self {
            folder,
            tag: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    fn message_id(&self, i: u64) -> String {
        format!("<m{i}-{}@warga.test>", self.tag)
    }

    /// A citizen's mail arriving, as our receiving server would file it.
    async fn arrive(&self, i: u64) {
        let raw = format!(
            "{}From: Warga Siak <{CITIZEN}>\nTo: {MAILBOX_USER}\nSubject: Saluran {i} tersumbat {}\nMessage-ID: {}\nContent-Type: text/plain; charset=utf-8\n\nSaluran air nomor {i} tersumbat.\n",
            mail_server::AUTHENTICATED,
            self.tag,
            self.message_id(i),
        );
        mail_server::append_fresh(MAILBOX_USER, &self.folder, &raw).await;
    }

    /// The channel's configuration: a receipt for every mail, at once.
    fn channel_toml(&self) -> String {
        let mut toml =
            mail_server::channel_toml(MAILBOX_USER, &self.folder, mail_server::PASSWORD, 1);
        toml.push_str(&format!(
            "smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"plain\", from = \"{MAILBOX_USER}\", from_name = \"Layanan Pengaduan\" }}\nack = {{ window_secs = 0, max_per_hour = 0 }}\n",
            mail_server::smtp_port()
        ));
        toml
    }

    /// The receipts in the citizen's inbox, by the mail they answer: their Message-IDs
    /// (a receipt sent again carries its Message-ID again).
    async fn receipts(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_mail: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for raw in mail_server::inbox_with(CITIZEN, &self.tag).await {
            let (Some(to), Some(id)) = (
                mail_server::header_of(&raw, "In-Reply-To"),
                mail_server::header_of(&raw, "Message-ID"),
            ) else {
                continue;
            };
            by_mail.entry(to.trim().to_owned()).or_default().push(id);
        }
        by_mail
    }
}

struct Daemon {
    id: String,
    child: Child,
}

impl Daemon {
    fn start(dir: &Path, id: &str, db_url: &str, x_base: &str, mailbox: &Mailbox) -> Self {
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
{mail}"#,
                data = dir.join(id).display(),
                mail = mailbox.channel_toml(),
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

/// The live holder of each channel's lease, by the database.
async fn holders(store: &aduan::store::Store) -> BTreeMap<String, String> {
    store
        .leases()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.live)
        .map(|l| (l.channel_name, l.holder))
        .collect()
}

/// How many kills: `ADUAN_FAULT_KILLS`, else one.
fn kills() -> usize {
    std::env::var("ADUAN_FAULT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .filter(|k| *k > 0)
        .unwrap_or(1)
}

/// Citizens post on X every `EVERY` and mail every other time, until `stop`; returns
/// how many posts and mails they sent.
fn citizens(
    timeline: Shared,
    mailbox: Arc<Mailbox>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let (mut posts, mut mails) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            timeline.lock().expect("lock").posts.insert(
                FIRST_POST + posts,
                (
                    1_570_000_000_000_000_000 + posts,
                    format!("@PemkabSiak lampu jalan nomor {posts} mati"),
                ),
            );
            if posts % 2 == 0 {
                mailbox.arrive(mails).await;
                mails += 1;
            }
            posts += 1;
            tokio::time::sleep(EVERY).await;
        }
        (posts, mails)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_lease_holder_loses_and_doubles_nothing() {
    let db = TestDb::new(Backend::Postgres).await;
    // Migrated once here, so the daemons start on a ready database.
    let store = db.store().await;
    let timeline = Shared::default();
    let x_base = fake_x(timeline.clone()).await;
    let mailbox = Arc::new(Mailbox::new().await);
    let start = |n: usize| {
        let id = format!("daemon-{n}");
        Daemon::start(db.dir.path(), &id, &db.url, &x_base, &mailbox)
    };
    // The first daemon takes both leases before the others start, so that the first
    // kill takes both channels over.
    let mut daemons = vec![start(1)];
    assert!(
        eventually(Duration::from_secs(60), || async {
            holders(&store).await.len() == 2
        })
        .await,
        "the first daemon takes both channels' leases"
    );
    daemons.extend((2..=3).map(start));
    let stop = Arc::new(AtomicBool::new(false));
    let citizens = citizens(timeline.clone(), mailbox.clone(), stop.clone());

    let mut took = Vec::new();
    for kill_no in 1..=kills() {
        tokio::time::sleep(BETWEEN_KILLS).await;
        let held = holders(&store).await;
        // The instance holding the most leases (the X channel's on a tie).
        let victim = held
            .values()
            .max_by_key(|h| {
                let n = held.values().filter(|o| o == h).count();
                (n, held.get(CHANNEL) == Some(*h))
            })
            .expect("a holder")
            .clone();
        let channels: Vec<String> = held
            .iter()
            .filter(|(_, h)| **h == victim)
            .map(|(c, _)| c.clone())
            .collect();
        let at = daemons
            .iter()
            .position(|d| d.id == victim)
            .expect("the holder is one of ours");
        let mut dead = daemons.remove(at);
        dead.signal(Signal::SIGKILL);
        let killed = Instant::now();
        assert!(dead.exited(Duration::from_secs(5)).await, "killed");
        let mut line = Vec::new();
        for channel in &channels {
            let after = tokio::time::timeout(
                Duration::from_secs(60),
                taken_over(&store, channel, &victim, killed),
            )
            .await
            .unwrap_or_else(|_| panic!("another daemon takes {channel} over"));
            line.push(format!("{channel} {:.1} s", after.as_secs_f64()));
            took.push(after);
        }
        println!(
            "fault test: kill {kill_no}: {victim} (SIGKILL); taken over: {}",
            line.join(", ")
        );
        daemons.push(start(3 + kill_no));
    }
    tokio::time::sleep(BETWEEN_KILLS).await;
    stop.store(true, Ordering::Relaxed);
    let (posts, mails) = citizens.await.expect("citizens");
    took.sort();
    println!(
        "fault test: take-over after SIGKILL, {} take-overs: min {:.1} s, median {:.1} s, max {:.1} s",
        took.len(),
        took[0].as_secs_f64(),
        took[took.len() / 2].as_secs_f64(),
        took[took.len() - 1].as_secs_f64(),
    );

    // Every post and every mail becomes a complaint and gets its receipt.
    let replied = || {
        let t = timeline.lock().expect("lock");
        t.posts.keys().all(|id| t.replies.contains_key(id))
    };
    let answered = eventually(Duration::from_secs(120), || {
        let mailbox = mailbox.clone();
        async move { replied() && mailbox.receipts().await.len() as u64 == mails }
    })
    .await;
    assert!(answered, "every post and every mail got a receipt");
    // A receipt still on its way would show up late as a second one.
    tokio::time::sleep(Duration::from_secs(2)).await;
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
        i64::try_from(posts + mails).expect("count"),
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
        t.duplicates
    };
    let receipts = mailbox.receipts().await;
    let mut mailed_twice = 0;
    for i in 0..mails {
        let id = mailbox.message_id(i);
        assert_eq!(
            filed.get(&id).copied(),
            Some(1),
            "mail {id} is one complaint"
        );
        let mut got = receipts.get(&id).cloned().unwrap_or_default();
        let copies = got.len();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 1, "mail {id} has one receipt: {got:?}");
        mailed_twice += copies - 1;
    }
    assert_eq!(
        complaints.len() as u64,
        posts + mails,
        "no other complaints"
    );
    println!(
        "fault test: exactly once: {posts} posts and {mails} mails, each one complaint with one receipt; \
         receipts sent again: {duplicates} refused by X as duplicates, {mailed_twice} mails delivered twice"
    );

    for d in &daemons {
        d.signal(Signal::SIGTERM);
    }
    for d in &mut daemons {
        assert!(d.exited(Duration::from_secs(15)).await, "{} stops", d.id);
    }
    let mut session = mail_server::imap(MAILBOX_USER).await;
    let _ = session.delete(&mailbox.folder).await;
}

/// How long from `killed` until a daemon other than `victim` holds `channel`'s lease.
async fn taken_over(
    store: &aduan::store::Store,
    channel: &str,
    victim: &str,
    killed: Instant,
) -> Duration {
    loop {
        if holders(store)
            .await
            .get(channel)
            .is_some_and(|h| h != victim)
        {
            return killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
