//! The `aduan` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::registry::{builtin_factories, Channels};
use crate::store::{ComplaintFilter, ComplaintRecord};

#[derive(Parser)]
#[command(
    name = "aduan",
    version,
    about = "Citizens' complaints from every channel, in one SP4N-LAPOR! queue"
)]
struct Cli {
    /// Configuration file (TOML). Without one, the built-in default: SQLite under ./data,
    /// HTTP on 127.0.0.1:8080, the web form on.
    #[arg(long, global = true, env = "ADUAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the daemon until SIGINT or SIGTERM.
    Run,
    /// Applies database migrations and exits.
    Migrate,
    /// Validates the configuration; with --online also connects to the database and to each channel.
    Check {
        #[arg(long)]
        online: bool,
    },
    /// Reads complaints from the store.
    Complaints {
        #[command(subcommand)]
        command: ComplaintsCommand,
    },
}

#[derive(Subcommand)]
enum ComplaintsCommand {
    /// Lists complaints, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Shows one complaint with its whole thread.
    Show {
        tracking_id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aduan: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aduan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(cli.config.as_deref())?;
    crate::telemetry::init(&cfg.log);
    match cli.command {
        Command::Run => run(cfg).await,
        Command::Migrate => {
            let store = crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 2).await?;
            let n = store.migrate().await?;
            println!("migrations applied: {n}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { online } => check(&cfg, cli.config.as_deref(), online).await,
        Command::Complaints { command } => complaints(&cfg, command).await,
    }
}

async fn run(cfg: Config) -> anyhow::Result<ExitCode> {
    let grace = cfg.shutdown_grace();
    let app = crate::app::start(cfg, Vec::new()).await?;
    wait_for_signal().await;
    tracing::info!("stopping: finishing in-flight requests and writes");
    let clean = app.stop(grace).await;
    tracing::info!(clean, "stopped");
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

async fn check(
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

async fn complaints(cfg: &Config, command: ComplaintsCommand) -> anyhow::Result<ExitCode> {
    // Reading never changes the schema: a database that is not migrated says so.
    let store = crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 2).await?;
    store.ready().await.map_err(|e| {
        anyhow::anyhow!(
            "the database is not ready ({e}); run `aduan migrate` or start the daemon once"
        )
    })?;
    match command {
        ComplaintsCommand::List {
            status,
            limit,
            json,
        } => {
            let list = store.complaints(&ComplaintFilter { status, limit }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&list);
            }
        }
        ComplaintsCommand::Show { tracking_id, json } => {
            let tid = crate::tracking::TrackingId::parse(&tracking_id)
                .map_err(|_| anyhow::anyhow!("{tracking_id:?} is not a tracking number"))?;
            let Some(c) = store.complaint(tid.as_str()).await? else {
                eprintln!("aduan: no complaint {tid}");
                return Ok(ExitCode::from(2));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_complaint(&c);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn short(s: &str, n: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() > n {
        format!("{}…", one_line.chars().take(n - 1).collect::<String>())
    } else {
        one_line
    }
}

fn print_table(list: &[ComplaintRecord]) {
    println!(
        "{:<10} {:<14} {:<10} {:<20} TITLE",
        "TRACKING", "STATUS", "CHANNEL", "RECEIVED (UTC)"
    );
    for c in list {
        println!(
            "{:<10} {:<14} {:<10} {:<20} {}",
            c.tracking_id,
            c.status,
            c.channel,
            c.received_at.format("%Y-%m-%d %H:%M:%S"),
            short(&c.title, 60)
        );
    }
}

fn print_complaint(c: &ComplaintRecord) {
    println!(
        "{}  [{}]  {} / {}",
        c.tracking_id, c.status, c.channel, c.channel_name
    );
    println!("received: {}", c.received_at.to_rfc3339());
    println!("title:    {}", c.title);
    if let Some(cat) = &c.category {
        println!("category: {cat}");
    }
    if let Some(r) = &c.reporter {
        let who: Vec<&str> = [&r.name, &r.handle, &r.email, &r.phone]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .collect();
        if !who.is_empty() {
            println!("reporter: {}", who.join(", "));
        }
    }
    println!(
        "flags:    anonymous={} confidential={}",
        c.anonymous, c.confidential
    );
    for a in &c.attachments {
        println!(
            "attachment: {} ({}, {} bytes, sha256 {})",
            a.filename, a.content_type, a.size, a.sha256
        );
    }
    println!();
    println!("{}", c.body);
    for m in &c.messages {
        println!(
            "\n--- {} {} {} ---\n{}",
            m.at.to_rfc3339(),
            m.direction,
            m.channel,
            m.body
        );
    }
}
