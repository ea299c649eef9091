//! Leases for pull channels: one poller per channel however many instances share the
//! database, a take-over when the holder dies or stops, and a fence that refuses what
//! an instance that lost its lease still tries to commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aduan::app::RunningApp;
use aduan::store::{Fence, IngestWriter, StoreError, StoreSink};
use aduan_kit::{
    Batch, Channel, ChannelName, ConnectorError, Cursor, CursorUpdate, PullContext, PullSource,
};
use serde_json::Value;

use crate::harness::{config_for, eventually, spawn_app_with, Backend, Options, TestDb};
use crate::on_both;
use crate::store::complaint;

const CHANNEL: &str = "tarik";

fn channel() -> ChannelName {
    ChannelName::parse(CHANNEL).expect("name")
}

/// Polls every 50 ms, each poll one new item (numbered on from the stored cursor, as a
/// real source goes on from where the last poller stopped) and the cursor past it.
struct Ticker {
    polls: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl PullSource for Ticker {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        let name = channel();
        let failed = |e: aduan_kit::SinkError| ConnectorError::transient(&name, e.0);
        let mut n: u64 = ctx
            .sink
            .cursor(&name, "s")
            .await
            .map_err(failed)?
            .and_then(|c| c.0.parse().ok())
            .unwrap_or(0);
        loop {
            self.polls.fetch_add(1, Ordering::SeqCst);
            n += 1;
            ctx.sink
                .commit(Batch {
                    items: vec![complaint(CHANNEL, &format!("t{n}"), "Dari kanal berdetak")],
                    cursor: Some(CursorUpdate {
                        channel_name: name.clone(),
                        stream: "s".into(),
                        cursor: Cursor(n.to_string()),
                    }),
                })
                .await
                .map_err(failed)?;
            ctx.health.ok();
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
}

/// A pull channel whose polls are counted.
fn ticker() -> (Channel, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let mut c = Channel::new("test", channel());
    c.pull = Some(Arc::new(Ticker {
        polls: polls.clone(),
    }));
    (c, polls)
}

fn batch(ext: &str, cursor: &str) -> Batch {
    Batch {
        items: vec![complaint(CHANNEL, ext, "Dari kanal berlisensi")],
        cursor: Some(CursorUpdate {
            channel_name: channel(),
            stream: "s".into(),
            cursor: Cursor(cursor.into()),
        }),
    }
}

fn fence(generation: i64) -> Option<Fence> {
    Some(Fence {
        channel: channel(),
        generation,
    })
}

async fn a_stale_generation_cannot_commit_or_move_a_cursor(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let (writer, _) = IngestWriter::spawn(store.clone(), 64, 2);
    let sink = StoreSink::new(store.clone(), writer);
    let ch = channel();
    let ttl = Duration::from_secs(10);

    assert_eq!(
        store.acquire_lease(&ch, "a", ttl).await.expect("a"),
        Some(1)
    );
    assert_eq!(
        store.acquire_lease(&ch, "b", ttl).await.expect("b"),
        None,
        "a live lease is not taken over"
    );
    sink.ingest_fenced(batch("m1", "5"), fence(1))
        .await
        .expect("the holder commits");
    // The holder's renewals stop reaching the database (a pause, a network cut): its
    // lease runs out and the other instance takes the channel over.
    let short = Duration::from_millis(1);
    assert!(store
        .renew_lease(&fence(1).expect("fence"), "a", short)
        .await
        .expect("renew"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        store.acquire_lease(&ch, "b", ttl).await.expect("b"),
        Some(2)
    );
    assert!(
        !store
            .renew_lease(&fence(1).expect("fence"), "a", ttl)
            .await
            .expect("renew"),
        "the ex-holder learns it lost the lease"
    );

    // The ex-holder wakes up and commits what it polled, with a cursor behind the
    // stored one: refused whole.
    let refused = sink.ingest_fenced(batch("m2", "3"), fence(1)).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost { generation: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(
        store.cursor(&ch, "s").await.expect("cursor"),
        Some(Cursor("5".into())),
        "the cursor did not move back"
    );
    for (table, n) in [
        ("complaints", 1),
        ("inbound_keys", 1),
        ("intake_rejects", 0),
    ] {
        assert_eq!(
            store.count(table).await.expect("count"),
            n,
            "{table}: the stale batch left nothing, not even a quarantine record"
        );
    }

    // The new holder files the same message and moves the cursor on.
    sink.ingest_fenced(batch("m2", "6"), fence(2))
        .await
        .expect("the new holder commits");
    assert_eq!(
        store.cursor(&ch, "s").await.expect("cursor"),
        Some(Cursor("6".into()))
    );
    assert_eq!(store.count("complaints").await.expect("count"), 2);

    // A clean stop gives the lease up: it is no longer live and is taken at once, in a
    // new generation.
    assert!(store.release_lease(&ch, "b").await.expect("release"));
    let leases = store.leases().await.expect("leases");
    assert_eq!(leases.len(), 1);
    assert!(!leases[0].live, "{leases:?}");
    assert_eq!(
        store.acquire_lease(&ch, "a", ttl).await.expect("a"),
        Some(3)
    );
    let leases = store.leases().await.expect("leases");
    assert_eq!(
        (
            leases[0].holder.as_str(),
            leases[0].generation,
            leases[0].live
        ),
        ("a", 3, true)
    );
    assert!(
        matches!(
            sink.ingest_fenced(batch("m3", "7"), fence(2)).await,
            Err(StoreError::LeaseLost { .. })
        ),
        "the generation before a release is stale too"
    );
}

/// An operator's token, usable on every instance of the database.
async fn operator_token(store: &aduan::store::Store) -> String {
    crate::harness::staff_actor(store, "op", aduan::queue::Role::Operator, None).await;
    store.issue_token("op", "test").await.expect("token").token
}

/// `/api/v1/channels`' entry for `channel`, as `app` answers.
async fn status_of(app: &RunningApp, token: &str, channel: &str) -> Value {
    let list: Value = reqwest::Client::new()
        .get(format!("http://{}/api/v1/channels", app.addr))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    list.as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == channel))
        .cloned()
        .unwrap_or_else(|| panic!("no {channel} in {list}"))
}

/// `/api/v1/channels`' entry for the leased channel, as `app` answers.
async fn channel_status(app: &RunningApp, token: &str) -> Value {
    status_of(app, token, CHANNEL).await
}

async fn a_lone_instance_holds_its_channels_and_says_so(b: Backend) {
    let (tick, polls) = ticker();
    let mut app = spawn_app_with(
        b,
        Options {
            channels: vec![tick],
            ..Options::default()
        },
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || {
            let polls = polls.clone();
            async move { polls.load(Ordering::SeqCst) > 2 }
        })
        .await,
        "the only instance takes the lease and polls"
    );
    crate::console::user(&app, "op", aduan::queue::Role::Operator, None).await;
    let token = app
        .store
        .issue_token("op", "test")
        .await
        .expect("token")
        .token;
    let instance = app.app.as_ref().expect("app").health.instance().to_owned();
    let html = crate::console::pages::Session::open(&app, "op")
        .await
        .html("/admin/kanal")
        .await;
    assert!(
        html.contains(&format!("{instance} (instans ini)")),
        "the health page names the polling instance: {html}"
    );
    let running = app.app.take().expect("app");
    let web = status_of(&running, &token, "web").await;
    assert_eq!(
        (&web["lease_holder"], &web["leased_here"]),
        (&Value::Null, &Value::Bool(false)),
        "the form is served by every instance: {web}"
    );
    let status = channel_status(&running, &token).await;
    assert_eq!(status["lease_holder"], instance.as_str(), "{status}");
    assert_eq!(status["leased_here"], true, "{status}");

    assert!(running.stop(Duration::from_secs(10)).await);
    let leases = app.db.store().await.leases().await.expect("leases");
    assert!(
        leases.iter().all(|l| !l.live),
        "a clean stop releases the lease: {leases:?}"
    );
}

on_both!(
    a_stale_generation_cannot_commit_or_move_a_cursor,
    a_lone_instance_holds_its_channels_and_says_so,
);

/// An instance on `db` with the counted pull channel, on the runtime it is started on.
async fn instance(db: &TestDb) -> (RunningApp, Arc<AtomicUsize>) {
    let (tick, polls) = ticker();
    let app = aduan::app::start(config_for(db, ""), vec![tick])
        .await
        .expect("instance starts");
    (app, polls)
}

/// Waits until one of `polls` moves; its index.
async fn poller(polls: &[&Arc<AtomicUsize>], within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(i) = polls.iter().position(|p| p.load(Ordering::SeqCst) > 0) {
            return Some(i);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Waits until `polls` moves on from where it is now; how long that took.
async fn resumes(polls: &AtomicUsize, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let before = polls.load(Ordering::SeqCst);
    eventually(within, || async { polls.load(Ordering::SeqCst) > before })
        .await
        .then(|| start.elapsed())
}

/// Every item the tickers polled is one complaint, up to the cursor and no further: no
/// item was skipped while the channel changed hands, nothing was committed past it.
async fn filed_once_each(db: &TestDb) {
    let store = db.store().await;
    let cursor: u64 = store
        .cursor(&channel(), "s")
        .await
        .expect("cursor")
        .and_then(|c| c.0.parse().ok())
        .expect("a cursor");
    let complaints = store
        .complaints(&aduan::store::ComplaintFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("list");
    let mut ids: Vec<u64> = complaints
        .iter()
        .filter_map(|c| c.external_id.strip_prefix('t')?.parse().ok())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=cursor).collect::<Vec<_>>(),
        "one complaint per polled item, each batch with its cursor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_poll_a_channel_once_and_hand_it_over_on_a_clean_stop() {
    let db = TestDb::new(Backend::Postgres).await;
    let (first, first_polls) = instance(&db).await;
    let (second, second_polls) = instance(&db).await;
    let token = operator_token(&first.store).await;
    let i = poller(&[&first_polls, &second_polls], Duration::from_secs(30))
        .await
        .expect("one instance polls");
    let (holder, holder_polls, standby, standby_polls) = match i {
        0 => (first, first_polls, second, second_polls),
        _ => (second, second_polls, first, first_polls),
    };
    // Several renewals and acquisition attempts: the other instance never polls.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        standby_polls.load(Ordering::SeqCst),
        0,
        "the instance without the lease does not poll"
    );
    assert!(holder_polls.load(Ordering::SeqCst) > 10);
    let status = channel_status(&standby, &token).await;
    assert_eq!(status["lease_holder"], holder.health.instance(), "{status}");
    assert_eq!(
        (&status["leased_here"], &status["status"]),
        (&Value::Bool(false), &Value::from("standby")),
        "{status}"
    );
    let status = channel_status(&holder, &token).await;
    assert_eq!(status["leased_here"], true, "{status}");

    assert!(holder.stop(Duration::from_secs(10)).await);
    let took = resumes(&standby_polls, Duration::from_secs(30))
        .await
        .expect("the other instance takes over after a clean stop");
    println!("take-over after a clean stop: {took:?}");
    let status = channel_status(&standby, &token).await;
    assert_eq!(status["leased_here"], true, "{status}");
    assert!(standby.stop(Duration::from_secs(10)).await);
    filed_once_each(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_holder_dies_another_instance_takes_over() {
    let db = TestDb::new(Backend::Postgres).await;
    // The first instance runs on a runtime of its own, so that it can die as under
    // SIGKILL: its tasks are dropped where they stand, nothing is released.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (tick, first_polls) = ticker();
    let cfg = config_for(&db, "");
    let first = doomed
        .spawn(aduan::app::start(cfg, vec![tick]))
        .await
        .expect("joined")
        .expect("first instance starts");
    assert!(
        poller(&[&first_polls], Duration::from_secs(30))
            .await
            .is_some(),
        "the first instance, alone, polls"
    );
    let (second, second_polls) = instance(&db).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(second_polls.load(Ordering::SeqCst), 0, "one poller");

    doomed.shutdown_background();
    // Its handles belong to the dead runtime; the process would have lost them too.
    std::mem::forget(first);
    let died = first_polls.load(Ordering::SeqCst);
    let took = resumes(&second_polls, Duration::from_secs(60))
        .await
        .expect("the other instance takes over");
    println!("take-over after the holder died: {took:?}");
    assert_eq!(
        first_polls.load(Ordering::SeqCst),
        died,
        "the dead instance polled no more"
    );
    assert!(second.stop(Duration::from_secs(10)).await);
    filed_once_each(&db).await;
}
