//! Running the daemon: `run`, `migrate` and `check`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Config;
use crate::registry::{builtin_factories, Channels};

pub(super) async fn run(cfg: Config) -> anyhow::Result<ExitCode> {
    let grace = cfg.shutdown_grace();
    let app = crate::app::start(cfg, Vec::new()).await?;
    wait_for_signal().await;
    tracing::info!("stopping: finishing in-flight requests and writes");
    let clean = app.stop(grace).await;
    tracing::info!(clean, "stopped");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn migrate(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 2).await?;
    let n = store.migrate().await?;
    println!("migrations applied: {n}");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(super) async fn check(
    cfg: &Config,
    file: Option<&std::path::Path>,
    online: bool,
) -> anyhow::Result<ExitCode> {
    let source = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "built-in default".into());
    let channels =
        Channels::build(cfg, &builtin_factories()).with_context(|| format!("in {source}"))?;
    println!("configuration: {source}: ok");
    let mut failed = false;
    if online {
        match crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 1).await {
            Ok(store) => match store.ready().await {
                Ok(()) => println!("database: ok"),
                Err(e) => println!("database: reachable, not ready: {e} (run `aduan migrate`)"),
            },
            Err(e) => {
                failed = true;
                println!("database: FAILED: {e}");
            }
        }
    }
    for ch in channels.iter() {
        let caps: Vec<&str> = [
            ch.pull.as_ref().map(|_| "pull"),
            ch.push.as_ref().map(|_| "webhook"),
            ch.outbound.as_ref().map(|_| "outbound"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let caps = if caps.is_empty() {
            "form".to_owned()
        } else {
            caps.join(", ")
        };
        if !online {
            println!(
                "channel {} ({}; {caps}): configuration ok",
                ch.name, ch.kind
            );
            continue;
        }
        match &ch.health_check {
            None => println!(
                "channel {} ({}; {caps}): ok (nothing to connect to)",
                ch.name, ch.kind
            ),
            Some(h) => match tokio::time::timeout(Duration::from_secs(30), h.check()).await {
                Ok(Ok(msg)) => println!("channel {} ({}): ok: {msg}", ch.name, ch.kind),
                Ok(Err(e)) => {
                    failed = true;
                    println!(
                        "channel {} ({}): FAILED ({:?}): {}",
                        ch.name, ch.kind, e.kind, e.message
                    );
                }
                Err(_) => {
                    failed = true;
                    println!(
                        "channel {} ({}): FAILED: no answer within 30 s",
                        ch.name, ch.kind
                    );
                }
            },
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
