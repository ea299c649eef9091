//! `aduan import FILE`: legacy complaints from a CSV or XLSX register, one complaint a
//! row, filed through the ingest path as every channel's are (so every invariant of the
//! store holds), each with its row as the raw original and without a receipt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aduan_kit::{
    Batch, ChannelName, ComplaintDraft, Delivery, Inbound, InboundKind, Location, Outcome, Raw,
    Reporter, Threading,
};
use futures::{StreamExt, TryStreamExt};
use sha2::Digest;

use crate::store::{IngestWriter, Store, StoreSink};

/// The channel kind of imported complaints; their channel is `import`, or
/// `import-<kanal>` when the row names the channel it first came in on.
pub const KIND: &str = "import";

/// What a column of the register may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Id,
    Title,
    Body,
    Date,
    Name,
    Channel,
    Category,
    Location,
    Email,
    Phone,
}

impl Field {
    const ALL: [Field; 10] = [
        Field::Id,
        Field::Title,
        Field::Body,
        Field::Date,
        Field::Name,
        Field::Channel,
        Field::Category,
        Field::Location,
        Field::Email,
        Field::Phone,
    ];

    /// The field's name in `--map` and in a mapping file.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Title => "title",
            Field::Body => "body",
            Field::Date => "date",
            Field::Name => "name",
            Field::Channel => "channel",
            Field::Category => "category",
            Field::Location => "location",
            Field::Email => "email",
            Field::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Headers recognised without a mapping (compared case-insensitively). A row key
    /// (`id`) is used only when mapped: a legacy "No" column is seldom one.
    fn headers(self) -> &'static [&'static str] {
        match self {
            Field::Id => &[],
            Field::Title => &["judul", "title"],
            Field::Body => &["isi", "body", "uraian"],
            Field::Date => &["tanggal", "date"],
            Field::Name => &["nama", "name"],
            Field::Channel => &["kanal", "channel"],
            Field::Category => &["kategori", "category"],
            Field::Location => &["lokasi", "location"],
            Field::Email => &["email"],
            Field::Phone => &["telepon", "phone"],
        }
    }
}

/// Rows filed in one transaction on SQLite by default. The unique indexes (row key,
/// tracking number) take each row at a random place, and a SQLite commit writes every
/// page it changed, so a small batch into a big table writes about a page of each index
/// per row; a bigger batch shares those pages between its rows. Past a few thousand the
/// gain is small and a progress step long.
pub const BATCH: usize = 4096;

/// The rows a transaction files unless `--batch` says: [`BATCH`] on SQLite. PostgreSQL
/// logs a commit's changes, not its pages, so its batches stay the daemon's
/// (`database.max_batch`), which keep its two writers overlapped to the last batch.
pub fn default_batch(cfg: &crate::config::Config) -> usize {
    if cfg.database_url().starts_with("sqlite:") {
        BATCH
    } else {
        cfg.database.max_batch
    }
}

/// How the import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Headers named for fields, over the recognised ones.
    pub map: BTreeMap<Field, String>,
    /// Rows filed in one transaction.
    pub batch: usize,
    /// Ingest writers (PostgreSQL overlaps them; SQLite has one writer at a time).
    pub writers: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            batch: BATCH,
            writers: 2,
        }
    }
}

impl ImportOptions {
    /// Adds `field=Header` pairs, from `--map` flags or a mapping file's lines.
    pub fn add_mapping(&mut self, field: &str, header: &str) -> anyhow::Result<()> {
        let f = Field::parse(field).ok_or_else(|| {
            let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
            anyhow::anyhow!("no field {field:?}: one of {}", known.join(", "))
        })?;
        self.map.insert(f, header.trim().to_owned());
        Ok(())
    }

    /// Reads a mapping file: TOML, `field = "Header"` a line (optionally under
    /// `[columns]`).
    pub fn add_mapping_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: not TOML: {e}", path.display()))?;
        let table = match table.remove("columns") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => anyhow::bail!("{}: [columns] is not a table", path.display()),
            None => table,
        };
        for (field, header) in &table {
            let header = header.as_str().ok_or_else(|| {
                anyhow::anyhow!("{}: {field} is not a header name", path.display())
            })?;
            self.add_mapping(field, header)?;
        }
        Ok(())
    }
}

/// A register read whole: its header and its rows with their line numbers.
struct Table {
    headers: Vec<String>,
    rows: Vec<Row>,
}

struct Row {
    line: u64,
    cells: Result<Vec<String>, String>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    /// Rows filed by an earlier run (or twice in this file).
    pub already: u64,
    /// Bad rows: line number and why.
    pub rejected: Vec<(u64, String)>,
    /// Where the bad rows were written, when there were any.
    pub rejects_file: Option<PathBuf>,
}

/// Where the bad rows of `input` go: `<name>.rejects.csv` beside it.
pub fn rejects_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    input.with_file_name(format!("{stem}.rejects.csv"))
}

/// Imports `path` (CSV, or XLSX by its extension) into `store`. `progress` is told
/// (rows done, rows in all) as batches commit.
pub async fn import_file(
    store: &Store,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<ImportReport> {
    let xlsx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["xlsx", "xlsm", "xls", "ods"].contains(&e.to_ascii_lowercase().as_str()));
    let owned = path.to_owned();
    let table = tokio::task::spawn_blocking(move || {
        if xlsx {
            read_xlsx(&owned)
        } else {
            read_csv(&owned)
        }
    })
    .await??;
    let columns = Columns::resolve(&table.headers, &opts.map)?;

    let mut report = ImportReport {
        rows: table.rows.len() as u64,
        ..ImportReport::default()
    };
    // Bad rows, with their cells, for the rejects file.
    let mut bad: Vec<(u64, String, Vec<String>)> = Vec::new();
    let mut good: Vec<(u64, Inbound)> = Vec::with_capacity(table.rows.len());
    for row in table.rows {
        match row.cells {
            Err(reason) => bad.push((row.line, reason, Vec::new())),
            Ok(cells) => match columns.inbound(&table.headers, &cells) {
                Ok(item) => good.push((row.line, item)),
                Err(reason) => bad.push((row.line, reason, cells)),
            },
        }
    }

    let (writer, done) = IngestWriter::spawn_bulk(store.clone(), opts.batch, opts.writers);
    let sink = StoreSink::new(store.clone(), writer);
    let total = report.rows;
    let mut finished = bad.len() as u64;
    progress(finished, total);
    let batches: Vec<Vec<(u64, Inbound)>> = {
        let mut out = Vec::new();
        let mut it = good.into_iter().peekable();
        while it.peek().is_some() {
            out.push(it.by_ref().take(opts.batch.max(1)).collect());
        }
        out
    };
    let mut results = futures::stream::iter(batches)
        .map(|batch| {
            let sink = sink.clone();
            async move {
                let lines: Vec<u64> = batch.iter().map(|(l, _)| *l).collect();
                let items = batch.into_iter().map(|(_, i)| i).collect();
                let res = sink.ingest(Batch {
                    items,
                    cursor: None,
                });
                res.await.map(|ds| (lines, ds))
            }
        })
        .buffered(opts.writers.max(1) * 2);
    while let Some((lines, deliveries)) = results.try_next().await? {
        for (line, d) in lines.into_iter().zip(deliveries) {
            match d {
                Delivery::Committed {
                    outcome: Outcome::Created,
                    ..
                } => report.created += 1,
                Delivery::Committed {
                    outcome: Outcome::Duplicate,
                    ..
                } => report.already += 1,
                Delivery::Committed { outcome, .. } => {
                    bad.push((line, format!("not filed ({outcome:?})"), Vec::new()))
                }
                Delivery::Retry { reason } => {
                    bad.push((line, format!("not filed: {reason}"), Vec::new()))
                }
            }
            finished += 1;
        }
        progress(finished, total);
    }
    drop(results);
    drop(sink);
    let _ = done.await;

    bad.sort_by_key(|(line, _, _)| *line);
    if !bad.is_empty() {
        let out = rejects_path(path);
        write_rejects(&out, &table.headers, &bad)?;
        report.rejects_file = Some(out);
    }
    report.rejected = bad.into_iter().map(|(l, r, _)| (l, r)).collect();
    Ok(report)
}

/// The bad rows as CSV: their line, why, and the row as it was.
fn write_rejects(
    out: &Path,
    headers: &[String],
    bad: &[(u64, String, Vec<String>)],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    let mut head = vec!["line".to_owned(), "reason".to_owned()];
    head.extend(headers.iter().cloned());
    w.write_record(&head)?;
    for (line, reason, cells) in bad {
        let mut rec = vec![line.to_string(), reason.clone()];
        rec.extend(cells.iter().cloned());
        rec.resize(head.len(), String::new());
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

fn read_csv(path: &Path) -> anyhow::Result<Table> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    // Excel writes a byte-order mark before the first header.
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| anyhow::anyhow!("{}: no header row: {e}", path.display()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line_before = r.position().line();
        match r.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line_before, |p| p.line());
                let cells = if record.len() > headers.len()
                    && record
                        .iter()
                        .skip(headers.len())
                        .any(|c| !c.trim().is_empty())
                {
                    Err(format!(
                        "{} fields, the header has {}",
                        record.len(),
                        headers.len()
                    ))
                } else {
                    Ok(record.iter().map(str::to_owned).collect())
                };
                rows.push(Row { line, cells });
            }
            Err(e) => {
                let line = e.position().map_or(line_before, |p| p.line());
                rows.push(Row {
                    line,
                    cells: Err(format!("unreadable: {e}")),
                });
                // Past an I/O error the reader cannot go on; past bad UTF-8 it can.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    Ok(Table { headers, rows })
}

fn read_xlsx(path: &Path) -> anyhow::Result<Table> {
    use calamine::{Data, Reader};
    let mut book = calamine::open_workbook_auto(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| anyhow::anyhow!("{}: no worksheet", path.display()))?
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let first_row = range.start().map_or(0, |(r, _)| u64::from(r));
    let cell = |d: &Data| -> Result<String, String> {
        Ok(match d {
            Data::Empty => String::new(),
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            // Whole numbers (a phone number typed as one) without a fraction.
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(t) => match t.as_datetime() {
                Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
                None => return Err(format!("cell {t} is not a date")),
            },
            Data::Error(e) => return Err(format!("cell error {e}")),
        })
    };
    let mut it = range.rows().enumerate();
    let headers = match it.next() {
        Some((_, row)) => row
            .iter()
            .map(|d| cell(d).unwrap_or_default().trim().to_owned())
            .collect(),
        None => anyhow::bail!("{}: the first worksheet is empty", path.display()),
    };
    let rows = it
        .filter(|(_, row)| row.iter().any(|d| !matches!(d, Data::Empty)))
        .map(|(i, row)| Row {
            line: first_row + i as u64 + 1,
            cells: row.iter().map(cell).collect(),
        })
        .collect();
    Ok(Table { headers, rows })
}

/// Which column holds which field.
struct Columns {
    at: BTreeMap<Field, usize>,
}

impl Columns {
    fn resolve(headers: &[String], map: &BTreeMap<Field, String>) -> anyhow::Result<Self> {
        let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let mut at = BTreeMap::new();
        for f in Field::ALL {
            let col = match map.get(&f) {
                Some(h) => Some(find(h).ok_or_else(|| {
                    anyhow::anyhow!("no column {h:?} (mapped to {}) in the header", f.name())
                })?),
                None => f.headers().iter().find_map(|h| find(h)),
            };
            if let Some(c) = col {
                at.insert(f, c);
            }
        }
        if !at.contains_key(&Field::Title) && !at.contains_key(&Field::Body) {
            anyhow::bail!(
                "no column for the complaint's text: name one judul/title or isi/body/uraian, or map one with --map body=Header"
            );
        }
        if !at.contains_key(&Field::Date) {
            anyhow::bail!(
                "no column for the date: name one tanggal/date, or map one with --map date=Header"
            );
        }
        Ok(Self { at })
    }

    fn get<'a>(&self, cells: &'a [String], f: Field) -> &'a str {
        self.at
            .get(&f)
            .and_then(|&i| cells.get(i))
            .map_or("", |s| s.trim())
    }

    fn opt(&self, cells: &[String], f: Field) -> Option<String> {
        Some(self.get(cells, f).to_owned()).filter(|s| !s.is_empty())
    }

    /// The complaint a row files, or why it files none.
    fn inbound(&self, headers: &[String], cells: &[String]) -> Result<Inbound, String> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Err("empty row".into());
        }
        let mut title = self.get(cells, Field::Title).to_owned();
        let mut body = self.get(cells, Field::Body).to_owned();
        if title.is_empty() && body.is_empty() {
            return Err("no title and no text".into());
        }
        if body.is_empty() {
            body.clone_from(&title);
        }
        if title.is_empty() {
            title = short_title(&body);
        }
        let date = self.get(cells, Field::Date);
        if date.is_empty() {
            return Err("no date".into());
        }
        let received_at =
            super::dates::parse(date).ok_or_else(|| format!("{date:?} is not a date"))?;

        // The row as it was, header to cell: the raw original, and (without a mapped
        // id) what the row key is a hash of, so the same row in another file, or in
        // another place of the same file, is the same complaint.
        let raw: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(i, h)| {
                let v = cells.get(i).cloned().unwrap_or_default();
                (h.clone(), serde_json::Value::String(v))
            })
            .collect();
        let raw = serde_json::to_vec(&raw).map_err(|e| e.to_string())?;
        let external_id = match self.opt(cells, Field::Id) {
            Some(id) => format!("id:{id}"),
            None => format!("row:{}", hex::encode(sha2::Sha256::digest(&raw))),
        };
        Ok(Inbound {
            channel: KIND,
            channel_name: channel_name(self.get(cells, Field::Channel)),
            external_id,
            received_at,
            kind: InboundKind::Complaint(Box::new(ComplaintDraft {
                title,
                body,
                category: self.opt(cells, Field::Category),
                reporter: Reporter {
                    name: self.opt(cells, Field::Name),
                    email: self.opt(cells, Field::Email),
                    phone: self.opt(cells, Field::Phone),
                    ..Reporter::default()
                },
                location: self.opt(cells, Field::Location).map(|text| Location {
                    text: Some(text),
                    ..Location::default()
                }),
                ..ComplaintDraft::default()
            })),
            thread: Threading::default(),
            raw: Raw {
                content_type: "application/json".into(),
                bytes: raw.into(),
            },
            // Legacy complaints were answered (or not) long ago: no receipt goes out.
            acknowledge: None,
        })
    }
}

/// `import`, or `import-<kanal>` for a row that names its first channel ("SMS" →
/// `import-sms`).
pub fn channel_name(kanal: &str) -> ChannelName {
    let mut slug = String::new();
    for c in kanal.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    let slug = slug.trim_end_matches('-');
    let name = if slug.is_empty() {
        KIND.to_owned()
    } else {
        format!("{KIND}-{slug}")
    };
    ChannelName::parse(&name).unwrap_or_else(|_| ChannelName::parse(KIND).expect("a valid name"))
}

/// A title for a row without one: the text's first words, at most 80 characters.
fn short_title(body: &str) -> String {
    let first_line = body.lines().next().unwrap_or_default().trim();
    if first_line.chars().count() <= 80 {
        return first_line.to_owned();
    }
    let cut: String = first_line.chars().take(80).collect();
    match cut.rfind(' ') {
        Some(i) if i > 20 => format!("{}…", &cut[..i]),
        _ => format!("{cut}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kanal_becomes_a_channel_name() {
        assert_eq!(channel_name("").as_str(), "import");
        assert_eq!(channel_name("SMS").as_str(), "import-sms");
        assert_eq!(
            channel_name("Datang Langsung").as_str(),
            "import-datang-langsung"
        );
        assert_eq!(channel_name("  ?? ").as_str(), "import");
    }

    #[test]
    fn long_text_gives_a_short_title() {
        let body = "Jalan rusak di depan pasar sejak bulan lalu dan belum ada perbaikan sama sekali dari dinas terkait";
        let t = short_title(body);
        assert!(t.chars().count() <= 81, "{t}");
        assert!(t.ends_with('…'));
        assert_eq!(short_title("Lampu mati"), "Lampu mati");
    }
}
