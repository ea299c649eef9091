//! The admin queue's latency in process: the calls the admin API makes for each
//! operation (token lookup included), without HTTP. Driven by `bench/queue.sh`, which
//! seeds the database; prints `NAME p50_ms p99_ms count` like `bench/queue_client.py`.
//!
//!   queue_bench CONFIG TOKENS_FILE N [OPS]
//!
//! OPS picks operations, comma-separated (`page,search,claim`, all by default).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aduan::queue::{AnswerRoutes, ListQuery, Queue};

// As the daemon (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PAGE: i64 = 50;
const CLAIMERS: usize = 50;

fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let k = ((p / 100.0) * (samples.len().saturating_sub(1)) as f64).round() as usize;
        samples.get(k).copied().unwrap_or(f64::NAN) * 1000.0
    };
    println!("{name} {:.3} {:.3} {}", at(50.0), at(99.0), samples.len());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (config, tokens, n, ops) = match args.as_slice() {
        [_, c, t, n] => (c, t, n, "page,search,claim"),
        [_, c, t, n, ops] => (c, t, n, ops.as_str()),
        _ => anyhow::bail!("usage: queue_bench CONFIG TOKENS_FILE N [OPS]"),
    };
    let ops: Vec<&str> = ops.split(',').collect();
    let n: usize = n.parse()?;
    let cfg = aduan::config::Config::load(Some(Path::new(config)))?;
    let store = aduan::app::open_store(&cfg).await?;
    let queue = Arc::new(Queue::new(store.clone(), AnswerRoutes::default()));
    let tokens: Vec<String> = std::fs::read_to_string(tokens)?
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(tokens.len() > CLAIMERS, "need {} tokens", CLAIMERS + 1);

    // What a request does: the token's user, then the queue call.
    let page = ListQuery {
        status: Some("new".into()),
        limit: Some(PAGE),
        ..ListQuery::default()
    };
    let search = ListQuery {
        q: Some("jalan rusak".into()),
        limit: Some(PAGE),
        ..ListQuery::default()
    };
    for (name, q) in [("page", &page), ("search", &search)] {
        if !ops.contains(&name) {
            continue;
        }
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + 20 {
            let t = Instant::now();
            let actor = store
                .actor_for_token(&tokens[0])
                .await?
                .ok_or_else(|| anyhow::anyhow!("unknown token"))?;
            let got = queue.list(&actor, q).await?;
            anyhow::ensure!(!got.items.is_empty(), "{name} found nothing");
            if i >= 20 {
                samples.push(t.elapsed().as_secs_f64());
            }
        }
        report(name, samples);
    }

    if !ops.contains(&"claim") {
        store.close().await;
        return Ok(());
    }
    // Claim-next: 50 claimers at once, each claiming n/5 times.
    let per = (n / 5).max(1);
    let start = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let mut tasks = Vec::new();
    for i in 0..CLAIMERS {
        let (store, queue, start) = (store.clone(), queue.clone(), start.clone());
        let token = tokens[1 + i].clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut mine = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                let actor = store
                    .actor_for_token(&token)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("unknown token"))?;
                queue
                    .next(&actor)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the queue ran dry"))?;
                mine.push(t.elapsed().as_secs_f64());
            }
            anyhow::Ok(mine)
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    report("claim", samples);
    store.close().await;
    Ok(())
}
