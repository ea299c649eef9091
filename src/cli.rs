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
    /// Reads and works complaints.
    Complaints {
        #[command(subcommand)]
        command: ComplaintsCommand,
    },
    /// Manages the people who work the queue and their API tokens.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manages units (Satker / OPD).
    Units {
        #[command(subcommand)]
        command: UnitsCommand,
    },
    /// Manages the working-day calendar.
    Holidays {
        #[command(subcommand)]
        command: HolidaysCommand,
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
    /// Shows one complaint with its whole thread. An anonymous reporter is left out
    /// unless --reveal-identity is given, which is recorded in the audit trail.
    Show {
        tracking_id: String,
        #[arg(long)]
        json: bool,
        /// Shows who filed an anonymous complaint, as the operator or coordinator --as.
        #[arg(long, requires = "username")]
        reveal_identity: bool,
        /// Who asks (with --reveal-identity): the view is audited as this user.
        #[arg(long = "as", value_name = "USERNAME")]
        username: Option<String>,
    },
    /// Claims a complaint for --as (or the oldest waiting one with `next`).
    Claim {
        tracking_id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Verifies a new complaint.
    Verify {
        tracking_id: String,
        #[arg(long)]
        classification: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Forwards a verified complaint to a unit.
    Forward {
        tracking_id: String,
        #[arg(long)]
        unit: String,
        #[command(flatten)]
        who: Who,
    },
    /// Drafts the unit's answer (it waits for the liaison's approval).
    Answer {
        tracking_id: String,
        #[arg(long)]
        body: String,
        #[command(flatten)]
        who: Who,
    },
    /// Approves the waiting answer: it goes to the citizen on the complaint's channel.
    Approve {
        tracking_id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Closes an answered complaint.
    Close {
        tracking_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        who: Who,
    },
}

/// Who acts (the action is audited as this user).
#[derive(clap::Args)]
struct Who {
    /// The acting user's name.
    #[arg(long = "as", value_name = "USERNAME")]
    username: String,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Creates a user and prints an API token once. The first operator is made this way.
    Create {
        username: String,
        /// operator, coordinator, unit_admin or liaison.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The unit's code (unit_admin and liaison).
        #[arg(long)]
        unit: Option<String>,
        /// Read a password (at least 12 characters) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lists users.
    List,
    /// Issues another API token for a user and prints it once.
    Token {
        username: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Disables a user and revokes their tokens.
    Disable { username: String },
}

#[derive(Subcommand)]
enum UnitsCommand {
    /// Adds a unit (Satker / OPD).
    Create {
        code: String,
        name: String,
    },
    List,
}

#[derive(Subcommand)]
enum HolidaysCommand {
    /// Lists the holiday and cuti bersama table.
    List,
    /// Adds or renames a day (`--kind libur` or `--kind cuti_bersama`).
    Add {
        day: String,
        name: String,
        #[arg(long, default_value = "libur")]
        kind: String,
    },
    /// Removes a day.
    Remove { day: String },
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
        Command::Users { command } => users(&cfg, command).await,
        Command::Units { command } => units(&cfg, command).await,
        Command::Holidays { command } => holidays(&cfg, command).await,
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

/// The store, migrated already: the CLI never changes the schema.
async fn ready_store(cfg: &Config) -> anyhow::Result<crate::store::Store> {
    let store = crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 2).await?;
    store.ready().await.map_err(|e| {
        anyhow::anyhow!(
            "the database is not ready ({e}); run `aduan migrate` or start the daemon once"
        )
    })?;
    Ok(store)
}

async fn acting(store: &crate::store::Store, who: &Who) -> anyhow::Result<crate::queue::Actor> {
    let u = store
        .user_by_name(&who.username)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| anyhow::anyhow!("no active user {:?}", who.username))?;
    Ok(crate::queue::Actor {
        user_id: u.id,
        username: u.username,
        role: crate::queue::Role::parse(&u.role)
            .ok_or_else(|| anyhow::anyhow!("user {:?} has an unknown role", who.username))?,
        unit: u.unit,
    })
}

async fn act_cli(
    cfg: &Config,
    store: crate::store::Store,
    who: &Who,
    tracking_id: &str,
    action: crate::queue::ActionKind,
    req: crate::queue::ActionRequest,
) -> anyhow::Result<ExitCode> {
    let actor = acting(&store, who).await?;
    let channels = Channels::build(cfg, &builtin_factories())?;
    let queue = crate::queue::Queue::new(store.clone(), crate::app::answer_routes(cfg, &channels)?);
    let res = if action == crate::queue::ActionKind::Reopen {
        queue
            .claim(&actor, tracking_id)
            .await
            .map(|i| (i.record.tracking_id, i.record.status))
    } else {
        queue
            .act(&actor, tracking_id, action, &req)
            .await
            .map(|a| (a.tracking_id, a.status.to_owned()))
    };
    store.close().await;
    match res {
        Ok((tracking_id, status)) => {
            println!("{tracking_id} {status}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("aduan: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn users(cfg: &Config, command: UsersCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    match command {
        UsersCommand::Create {
            username,
            role,
            name,
            email,
            unit,
            password_stdin,
        } => {
            let role = crate::queue::Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role: one of operator, coordinator, unit_admin, liaison")
            })?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let user = store
                .create_user(&crate::queue::people::NewUser {
                    username: &username,
                    display_name: name.as_deref().unwrap_or(&username),
                    email: email.as_deref(),
                    role,
                    unit: unit.as_deref(),
                    password: password.as_deref(),
                })
                .await?;
            let t = store
                .issue_token(&user.username, "created with the user")
                .await?;
            eprintln!(
                "user {} ({}) created; its API token, shown this once:",
                user.username, user.role
            );
            println!("{}", t.token);
        }
        UsersCommand::List => {
            for u in store.users().await? {
                println!(
                    "{:<24} {:<12} {:<16} {}",
                    u.username,
                    u.role,
                    u.unit.as_deref().unwrap_or("-"),
                    if u.active { "active" } else { "disabled" }
                );
            }
        }
        UsersCommand::Token { username, label } => {
            let t = store.issue_token(&username, &label).await?;
            println!("{}", t.token);
        }
        UsersCommand::Disable { username } => {
            if !store.set_user_active(&username, false).await? {
                eprintln!("aduan: no user {username:?}");
                return Ok(ExitCode::from(2));
            }
            eprintln!("user {username} disabled; its tokens are revoked");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn units(cfg: &Config, command: UnitsCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    match command {
        UnitsCommand::Create { code, name } => {
            let u = store.create_unit(&code, &name).await?;
            println!("{} {}", u.code, u.name);
        }
        UnitsCommand::List => {
            for u in store.units().await? {
                println!("{:<24} {}", u.code, u.name);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn holidays(cfg: &Config, command: HolidaysCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    crate::queue::jobs::seed_holidays(&store).await?;
    match command {
        HolidaysCommand::List => {
            for h in store.holidays().await? {
                println!("{} {:<12} {}", h.date, h.kind.as_str(), h.name);
            }
        }
        HolidaysCommand::Add { day, name, kind } => store.put_holiday(&day, &name, &kind).await?,
        HolidaysCommand::Remove { day } => {
            if !store.delete_holiday(&day).await? {
                eprintln!("aduan: no holiday on {day}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn complaints(cfg: &Config, command: ComplaintsCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    use crate::queue::{ActionKind as K, ActionRequest as R};
    match command {
        ComplaintsCommand::List {
            status,
            limit,
            json,
        } => {
            let mut list = store.complaints(&ComplaintFilter { status, limit }).await?;
            // A list never names an anonymous reporter; `show --reveal-identity` does,
            // audited.
            for c in list.iter_mut().filter(|c| c.anonymous) {
                c.hide_identity();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&list);
            }
        }
        ComplaintsCommand::Show {
            tracking_id,
            json,
            reveal_identity,
            username,
        } => {
            let tid = crate::tracking::TrackingId::parse(&tracking_id)
                .map_err(|_| anyhow::anyhow!("{tracking_id:?} is not a tracking number"))?;
            let Some(mut c) = store.complaint(tid.as_str()).await? else {
                eprintln!("aduan: no complaint {tid}");
                return Ok(ExitCode::from(2));
            };
            if c.anonymous {
                match username.filter(|_| reveal_identity) {
                    // The queue's own reveal: central roles only, audited.
                    Some(username) => {
                        let actor = acting(&store, &Who { username }).await?;
                        let queue = crate::queue::Queue::new(
                            store.clone(),
                            crate::queue::AnswerRoutes::default(),
                        );
                        match queue.show(&actor, tid.as_str(), true).await {
                            Ok(item) => c = item.record,
                            Err(e) => {
                                store.close().await;
                                eprintln!("aduan: {e}");
                                return Ok(ExitCode::from(2));
                            }
                        }
                    }
                    None => c.hide_identity(),
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_complaint(&c);
            }
        }
        ComplaintsCommand::Claim { tracking_id, who } => {
            return act_cli(cfg, store, &who, &tracking_id, K::Reopen, R::default()).await
        }
        ComplaintsCommand::Verify {
            tracking_id,
            classification,
            category,
            title,
            who,
        } => {
            let req = R {
                classification,
                category,
                title,
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Verify, req).await;
        }
        ComplaintsCommand::Forward {
            tracking_id,
            unit,
            who,
        } => {
            let req = R {
                unit: Some(unit),
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Forward, req).await;
        }
        ComplaintsCommand::Answer {
            tracking_id,
            body,
            who,
        } => {
            let req = R {
                body: Some(body),
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::DraftAnswer, req).await;
        }
        ComplaintsCommand::Approve { tracking_id, who } => {
            return act_cli(
                cfg,
                store,
                &who,
                &tracking_id,
                K::ApproveAnswer,
                R::default(),
            )
            .await
        }
        ComplaintsCommand::Close {
            tracking_id,
            reason,
            who,
        } => {
            let req = R {
                reason,
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Close, req).await;
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
    } else if c.anonymous {
        println!("reporter: hidden (anonymous; --reveal-identity --as USER shows it, audited)");
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
