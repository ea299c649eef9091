//! The admin queue's latency, driven by `bench/queue.sh` (which seeds the database and
//! starts the daemon). Two ways to reach aduan:
//!
//!   queue_bench lib CONFIG TOKENS_FILE N [OPS]    # in process: the calls the admin API
//!                                                 # makes (token lookup included)
//!   queue_bench http BASE_URL TOKENS_FILE N [OPS] # over HTTP with a bearer token, one
//!                                                 # keep-alive connection per caller
//!
//! OPS picks operations, comma-separated (all by default):
//!   page   the first page (50) of the `new` queue
//!   search a full-text search ("jalan rusak"), first page
//!   claim  claim-next, 50 concurrent callers, each N/5 times (after 2 untimed)
//!   floor  over HTTP only: `GET /healthz`, which reads nothing, through the same client
//!          (what any request costs: the bare HTTP stack on both ends)
//! Prints `NAME p50_ms p99_ms count` per operation, like `bench/queue_client.py` does
//! for the bare SQL. With `QUEUE_BENCH_RAW=DIR`, each operation's samples (ms, one a
//! line) are also appended to `DIR/NAME`: `bench/queue.sh` measures in short blocks and
//! pools them.
//!
//! The HTTP client is this program rather than a script: fifty Python threads under one
//! interpreter lock added their own waiting to what they measured.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aduan::queue::{AnswerRoutes, ListQuery, Queue};
use aduan::store::Store;

// As the daemon (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAGE: i64 = 50;
const CLAIMERS: usize = 50;
const SEARCH: &str = "jalan rusak";
const WARMUP: usize = 20;
/// Untimed claims per claimer before the timed ones: as the first pages and searches,
/// they open connections and prepare statements.
const WARMUP_CLAIMS: usize = 2;

fn report(name: &str, mut samples: Vec<f64>) -> anyhow::Result<()> {
    if let Some(dir) = std::env::var_os("QUEUE_BENCH_RAW") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&dir).join(name))?;
        let lines: String = samples
            .iter()
            .map(|s| format!("{:.4}\n", s * 1000.0))
            .collect();
        file.write_all(lines.as_bytes())?;
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let k = ((p / 100.0) * (samples.len().saturating_sub(1)) as f64).round() as usize;
        samples.get(k).copied().unwrap_or(f64::NAN) * 1000.0
    };
    println!("{name} {:.3} {:.3} {}", at(50.0), at(99.0), samples.len());
    Ok(())
}

/// Where the requests go.
#[derive(Clone)]
enum Target {
    Lib(Store, Arc<Queue>),
    Http(String),
}

/// One admin: a token, and over HTTP a connection of its own.
struct Caller {
    via: Via,
    token: String,
}

/// How one admin's requests reach aduan.
enum Via {
    Lib(Arc<Queue>),
    Http(Conn),
}

/// One keep-alive HTTP/1.1 connection, driven by hyper without a pool: a request costs
/// the client its headers, a write and a read, as a statement costs pgbench its round
/// trip. reqwest parsed each URL and went through its pool, the client's own work
/// counted in aduan's figures: 0.02-0.04 ms of a page's p50 in three of four
/// alternating pairs on one seeded SQLite database.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    host: String,
    bearer: String,
}

impl Conn {
    async fn open(base: &str, token: &str) -> anyhow::Result<Self> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("not an http:// base URL: {base}"))?
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            host,
            bearer: format!("Bearer {token}"),
        })
    }

    /// Sends `method path` (with the bearer token when `auth`); the status and whole body.
    async fn send(
        &mut self,
        method: hyper::Method,
        path: &str,
        auth: bool,
    ) -> anyhow::Result<(hyper::StatusCode, bytes::Bytes)> {
        use http_body_util::BodyExt;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if auth {
            request = request.header(hyper::header::AUTHORIZATION, &self.bearer);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(request.body(http_body_util::Empty::new())?)
            .await?;
        let status = response.status();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}

impl Caller {
    async fn new(target: &Target, token: &str) -> anyhow::Result<Self> {
        let via = match target {
            Target::Lib(_, queue) => Via::Lib(queue.clone()),
            Target::Http(base) => Via::Http(Conn::open(base, token).await?),
        };
        Ok(Self {
            via,
            token: token.to_owned(),
        })
    }

    /// The first page of a list; how many items it holds. Over HTTP the body is parsed
    /// to count them only when `count` is set (a check before the timed calls: the
    /// parsing is the client's work, not aduan's); otherwise 1 for a body read whole.
    async fn list(
        &mut self,
        status: Option<&str>,
        q: Option<&str>,
        count: bool,
    ) -> anyhow::Result<usize> {
        match &mut self.via {
            Via::Lib(queue) => {
                let actor = actor(queue, &self.token).await?;
                let query = ListQuery {
                    status: status.map(str::to_owned),
                    q: q.map(str::to_owned),
                    limit: Some(PAGE),
                    ..ListQuery::default()
                };
                Ok(queue.list(&actor, &query).await?.items.len())
            }
            Via::Http(conn) => {
                let mut params = vec![("limit", PAGE.to_string())];
                params.extend(status.map(|s| ("status", s.to_owned())));
                params.extend(q.map(|s| ("q", s.to_owned())));
                let path = format!(
                    "/api/v1/complaints?{}",
                    serde_urlencoded::to_string(&params)?
                );
                let (status, body) = conn.send(hyper::Method::GET, &path, true).await?;
                anyhow::ensure!(status == 200, "list: {status}");
                if !count {
                    return Ok(usize::from(!body.is_empty()));
                }
                let page: serde_json::Value = serde_json::from_slice(&body)?;
                Ok(page["items"].as_array().map_or(0, Vec::len))
            }
        }
    }

    /// Claim-next; false when nothing waits.
    async fn next(&mut self) -> anyhow::Result<bool> {
        match &mut self.via {
            Via::Lib(queue) => {
                let actor = actor(queue, &self.token).await?;
                Ok(queue.next(&actor).await?.is_some())
            }
            Via::Http(conn) => {
                let (status, body) = conn
                    .send(hyper::Method::POST, "/api/v1/complaints/next", true)
                    .await?;
                anyhow::ensure!(
                    status == 200 || status == 204,
                    "next: {status} {}",
                    String::from_utf8_lossy(&body)
                );
                Ok(status == 200)
            }
        }
    }
}

/// What every API request does first: the token's user.
async fn actor(queue: &Queue, token: &str) -> anyhow::Result<aduan::queue::Actor> {
    queue
        .actor_for_token(token)
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown token"))
}

fn main() -> anyhow::Result<()> {
    // Over HTTP the client runs on one thread, so that it takes from aduan no more of the
    // machine than it must; in process, aduan's runtime is the daemon's (a thread per core).
    let over_http = std::env::args().nth(1).as_deref() == Some("http");
    let mut rt = if over_http {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    rt.enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: queue_bench lib CONFIG | http BASE_URL, then TOKENS_FILE N [OPS]";
    let (mode, place, tokens, n, ops) = match args.as_slice() {
        [_, m, p, t, n] => (m, p, t, n, "floor,page,search,claim"),
        [_, m, p, t, n, ops] => (m, p, t, n, ops.as_str()),
        _ => anyhow::bail!(usage),
    };
    let ops: Vec<&str> = ops.split(',').collect();
    let n: usize = n.parse()?;
    let target = match mode.as_str() {
        "lib" => {
            let cfg = aduan::config::Config::load(Some(Path::new(place)))?;
            let store = aduan::app::open_store(&cfg).await?;
            let queue = Arc::new(Queue::new(store.clone(), AnswerRoutes::default()));
            Target::Lib(store, queue)
        }
        "http" => Target::Http(place.trim_end_matches('/').to_owned()),
        _ => anyhow::bail!(usage),
    };
    let tokens: Vec<String> = std::fs::read_to_string(tokens)?
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(tokens.len() > CLAIMERS, "need {} tokens", CLAIMERS + 1);

    let mut one = Caller::new(&target, &tokens[0]).await?;
    if let (true, Via::Http(conn)) = (ops.contains(&"floor"), &mut one.via) {
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + WARMUP {
            let t = Instant::now();
            let (status, _) = conn.send(hyper::Method::GET, "/healthz", false).await?;
            anyhow::ensure!(status == 200, "healthz: {status}");
            if i >= WARMUP {
                samples.push(t.elapsed().as_secs_f64());
            }
        }
        report("floor", samples)?;
    }
    for (name, status, q) in [("page", Some("new"), None), ("search", None, Some(SEARCH))] {
        if !ops.contains(&name) {
            continue;
        }
        let got = one.list(status, q, true).await?;
        anyhow::ensure!(got as i64 == PAGE, "{name}: {got} items, not a full page");
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + WARMUP {
            let t = Instant::now();
            let got = one.list(status, q, false).await?;
            anyhow::ensure!(got > 0, "{name} found nothing");
            if i >= WARMUP {
                samples.push(t.elapsed().as_secs_f64());
            }
        }
        report(name, samples)?;
    }

    if ops.contains(&"claim") {
        // Fifty callers at once, each claiming n/5 times back to back.
        let per = (n / 5).max(1);
        let start = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
        let mut tasks = Vec::new();
        for token in &tokens[1..=CLAIMERS] {
            let mut caller = Caller::new(&target, token).await?;
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                // Warm the connection without claiming: a list call.
                caller.list(Some("new"), None, false).await?;
                start.wait().await;
                let mut mine = Vec::with_capacity(per);
                for i in 0..per + WARMUP_CLAIMS {
                    let t = Instant::now();
                    anyhow::ensure!(caller.next().await?, "the queue ran dry");
                    if i >= WARMUP_CLAIMS {
                        mine.push(t.elapsed().as_secs_f64());
                    }
                }
                anyhow::Ok(mine)
            }));
        }
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await??);
        }
        report("claim", samples)?;
    }
    if let Target::Lib(store, _) = &target {
        store.close().await;
    }
    Ok(())
}
