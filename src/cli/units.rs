//! `aduan units`: the units (Satker / OPD) complaints are forwarded to.

use std::process::ExitCode;

use clap::Subcommand;

use super::ready_store;
use crate::config::Config;

#[derive(Subcommand)]
pub(super) enum UnitsCommand {
    /// Adds a unit (Satker / OPD).
    Create {
        code: String,
        name: String,
    },
    List,
}

pub(super) async fn run(cfg: &Config, command: UnitsCommand) -> anyhow::Result<ExitCode> {
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
