//! The `aduan` command line: the commands and their options here, each group's work
//! in a module of its own.

mod attachments;
mod complaints;
mod daemon;
pub mod dates;
pub mod export;
mod holidays;
pub mod import;
mod transfer;
mod units;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

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
        command: complaints::ComplaintsCommand,
    },
    /// Manages the people who work the queue and their API tokens.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Manages units (Satker / OPD).
    Units {
        #[command(subcommand)]
        command: units::UnitsCommand,
    },
    /// Manages the working-day calendar.
    Holidays {
        #[command(subcommand)]
        command: holidays::HolidaysCommand,
    },
    /// Moves attachment content between the data directory and the database.
    Attachments {
        #[command(subcommand)]
        command: attachments::AttachmentsCommand,
    },
    /// Files legacy complaints from a CSV or XLSX register, one a row, without receipts.
    /// Bad rows are listed and written to FILE.rejects.csv beside it; the exit status is
    /// 1 when there were any. Running it again files nothing twice.
    Import(transfer::ImportArgs),
    /// Writes the queue to CSV, filtered as the list is. Anonymous reporters' identities
    /// are never exported.
    Export(transfer::ExportArgs),
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
        Command::Run => daemon::run(cfg).await,
        Command::Migrate => daemon::migrate(&cfg).await,
        Command::Check { online } => daemon::check(&cfg, cli.config.as_deref(), online).await,
        Command::Complaints { command } => complaints::run(&cfg, command).await,
        Command::Users { command } => users::run(&cfg, command).await,
        Command::Units { command } => units::run(&cfg, command).await,
        Command::Holidays { command } => holidays::run(&cfg, command).await,
        Command::Attachments { command } => attachments::run(&cfg, command).await,
        Command::Import(args) => transfer::import(&cfg, args).await,
        Command::Export(args) => transfer::export(&cfg, args).await,
    }
}

/// The store, migrated already: the CLI never changes the schema.
async fn ready_store(cfg: &Config) -> anyhow::Result<crate::store::Store> {
    let store = crate::store::Store::connect(&cfg.database_url(), &cfg.data_dir, 2)
        .await?
        .with_blob_backend(cfg.attachments.store, &cfg.data_dir)?;
    store.ready().await.map_err(|e| {
        anyhow::anyhow!(
            "the database is not ready ({e}); run `aduan migrate` or start the daemon once"
        )
    })?;
    Ok(store)
}
