//! `aduan holidays`: the working-day calendar's days off.

use std::process::ExitCode;

use clap::Subcommand;

use super::ready_store;
use crate::config::Config;

#[derive(Subcommand)]
pub(super) enum HolidaysCommand {
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

pub(super) async fn run(cfg: &Config, command: HolidaysCommand) -> anyhow::Result<ExitCode> {
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
