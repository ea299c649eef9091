//! `aduan import` and `aduan export` on the command line: their options, the progress
//! shown, and the summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::import::{import_file, ImportOptions};
use super::ready_store;
use crate::config::Config;
use crate::queue::ListQuery;

#[derive(clap::Args)]
pub(super) struct ImportArgs {
    /// The register: CSV (UTF-8, comma-separated, a header row) or XLSX (its first sheet).
    file: PathBuf,
    /// A column for a field, over the recognised headers: `--map body="Isi Pengaduan"`.
    /// Fields: id, title, body, date, name, channel, category, location, email, phone.
    #[arg(long = "map", value_name = "FIELD=HEADER")]
    map: Vec<String>,
    /// A TOML file of `field = "Header"` lines (optionally under `[columns]`).
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    /// Rows filed in one transaction [default: 4096 on SQLite, `database.max_batch` on
    /// PostgreSQL].
    #[arg(long, value_name = "ROWS")]
    batch: Option<usize>,
}

#[derive(clap::Args)]
pub(super) struct ExportArgs {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    category: Option<String>,
    /// A channel kind (`webform`, `email`, `x`, `facebook`, `import`).
    #[arg(long)]
    channel: Option<String>,
    #[arg(long)]
    unit: Option<String>,
    /// Where to write; standard output without it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) async fn import(cfg: &Config, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut opts = ImportOptions {
        batch: args
            .batch
            .unwrap_or_else(|| super::import::default_batch(cfg))
            .max(1),
        writers: cfg.ingest_writers(),
        ..ImportOptions::default()
    };
    if let Some(m) = &args.mapping {
        opts.add_mapping_file(m)?;
    }
    for m in &args.map {
        let (field, header) = m
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--map {m:?}: expected FIELD=HEADER"))?;
        opts.add_mapping(field, header)?;
    }
    let store = ready_store(cfg).await?;
    // A bar on a terminal; elsewhere (a log, a pipe) a line every 10,000 rows.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} rows ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last_line = 0;
    let mut progress = |done: u64, total: u64| match &bar {
        Some(bar) => {
            bar.set_length(total);
            bar.set_position(done);
        }
        None => {
            if done == total || done >= last_line + 10_000 {
                eprintln!("aduan: import: {done}/{total} rows");
                last_line = done;
            }
        }
    };
    let res = import_file(&store, &args.file, &opts, &mut progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    store.close().await;
    let report = res?;
    for (line, reason) in &report.rejected {
        eprintln!("aduan: import: line {line}: {reason}");
    }
    println!(
        "{} rows: {} filed, {} filed before, {} bad",
        report.rows,
        report.created,
        report.already,
        report.rejected.len()
    );
    if let Some(f) = &report.rejects_file {
        println!("bad rows kept in {}", f.display());
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(super) async fn export(cfg: &Config, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    let filter = ListQuery {
        status: args.status,
        category: args.category,
        channel: args.channel,
        unit: args.unit,
        ..ListQuery::default()
    };
    let res = match &args.out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
            );
            super::export::export(&store, &filter, &mut f).await
        }
        None => {
            let mut out = std::io::stdout().lock();
            super::export::export(&store, &filter, &mut out).await
        }
    };
    store.close().await;
    let n = res?;
    if let Some(path) = &args.out {
        eprintln!("aduan: export: {n} complaints in {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
