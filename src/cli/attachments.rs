//! `aduan attachments`: where attachment content is kept.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use super::ready_store;
use crate::config::Config;
use crate::store::BlobBackend;

#[derive(Subcommand)]
pub(super) enum AttachmentsCommand {
    /// Copies every attachment's content into one place (`--to database` or `--to
    /// filesystem`), checking the SHA-256 and size of each copy. Idempotent and
    /// resumable: what is there already is kept. The source stays unless
    /// `--remove-source` is given; then each is removed once its copy is checked.
    Migrate {
        #[arg(long, value_enum)]
        to: Place,
        /// Remove each content from the other place once its copy has been read back
        /// and checked. Only after every instance runs with the new `[attachments] store`.
        #[arg(long)]
        remove_source: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Place {
    Database,
    Filesystem,
}

pub(super) async fn run(cfg: &Config, command: AttachmentsCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    let code = match command {
        AttachmentsCommand::Migrate { to, remove_source } => {
            let to = match to {
                Place::Database => BlobBackend::Database,
                Place::Filesystem => BlobBackend::Filesystem,
            };
            let report = store
                .blobs()
                .migrate(to, remove_source, &mut |line| println!("{line}"))
                .await?;
            if to != cfg.attachments.store {
                println!(
                    "the configuration keeps attachments in the {}: set [attachments] store = \"{}\" (ADUAN_ATTACHMENTS__STORE) to use the copies",
                    cfg.attachments.store.as_str(),
                    to.as_str()
                );
            }
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    store.close().await;
    Ok(code)
}
