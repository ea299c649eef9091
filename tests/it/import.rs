//! `aduan import` and `aduan export` on both back ends: legacy registers in Indonesian
//! and English, a mapping file, Indonesian dates, bad rows kept with their line numbers,
//! a re-run filing nothing twice, XLSX, no receipts, and an export that hides anonymous
//! reporters and imports again.

use std::path::{Path, PathBuf};
use std::process::Command;

use aduan::cli::export::export;
use aduan::cli::import::{import_file, ImportOptions, ImportReport};
use aduan::queue::ListQuery;
use aduan::store::{ComplaintFilter, ComplaintRecord, Store};
use aduan_kit::{ComplaintDraft, Inbound, InboundKind, Raw, Reporter, Threading};
use chrono::Utc;

use crate::harness::{Backend, TestDb};
use crate::on_both;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the register");
    path
}

async fn run(store: &Store, path: &Path, opts: &ImportOptions) -> ImportReport {
    let mut seen = Vec::new();
    let report = import_file(store, path, opts, &mut |done, total| {
        seen.push((done, total))
    })
    .await
    .expect("import");
    assert_eq!(
        seen.last(),
        Some(&(report.rows, report.rows)),
        "progress ends at the last row"
    );
    report
}

async fn all(store: &Store) -> Vec<ComplaintRecord> {
    let mut list = store
        .complaints(&ComplaintFilter {
            status: None,
            limit: 1000,
        })
        .await
        .expect("list");
    list.sort_by(|a, b| a.title.cmp(&b.title));
    list
}

const INDONESIAN: &str = "\u{feff}No,Judul,Isi,Tanggal,Nama,Kanal,Kategori,Lokasi,Email,Telepon
1,Jalan berlubang,Jalan di depan SD 3 berlubang besar,05/12/2026 14:30,Siti Aminah,SMS,Infrastruktur,Jl. Merdeka 3,siti@contoh.id,0812-1111-2222
2,Lampu jalan mati,Lampu PJU mati sepekan,5-12-2026,Budi,Surat,,,,
3,Banjir,\"Saluran tersumbat,
air masuk rumah\",5 Desember 2026,Wati,,Lingkungan,RT 04,,
4,Pungli,Ada pungutan di loket,2026-12-05,Anon,Datang Langsung,,,,
";

/// Indonesian headers without any mapping, the dates in four Indonesian forms; each row
/// one complaint with its row as the raw original, no receipt; a re-run files nothing.
async fn an_indonesian_register_files_each_row_once(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let path = write(db.dir.path(), "register.csv", INDONESIAN);
    let opts = ImportOptions::default();

    let report = run(&store, &path, &opts).await;
    assert_eq!(
        (report.rows, report.created, report.already),
        (4, 4, 0),
        "{report:?}"
    );
    assert!(report.rejected.is_empty() && report.rejects_file.is_none());

    let list = all(&store).await;
    assert_eq!(list.len(), 4);
    let banjir = &list[0];
    assert_eq!(banjir.title, "Banjir");
    assert_eq!(banjir.body, "Saluran tersumbat,\nair masuk rumah");
    assert_eq!(banjir.channel, "import");
    assert_eq!(banjir.channel_name, "import");
    assert_eq!(banjir.received_at.to_rfc3339(), "2026-12-04T17:00:00+00:00");
    let jalan = &list[1];
    assert_eq!(jalan.channel_name, "import-sms");
    assert_eq!(jalan.category.as_deref(), Some("Infrastruktur"));
    assert_eq!(jalan.received_at.to_rfc3339(), "2026-12-05T07:30:00+00:00");
    let who = jalan.reporter.as_ref().expect("reporter");
    assert_eq!(who.name.as_deref(), Some("Siti Aminah"));
    assert_eq!(who.email.as_deref(), Some("siti@contoh.id"));
    assert_eq!(who.phone.as_deref(), Some("0812-1111-2222"));
    assert_eq!(
        jalan.location.as_ref().and_then(|l| l.text.as_deref()),
        Some("Jl. Merdeka 3")
    );
    assert_eq!(list[2].channel_name, "import-surat");
    assert_eq!(list[3].channel_name, "import-datang-langsung");
    // The raw original is the row, header to cell.
    let raw = store
        .complaint_original(&jalan.channel_name, &jalan.external_id)
        .await
        .expect("raw")
        .expect("kept");
    let row: serde_json::Value = serde_json::from_slice(&raw).expect("json row");
    assert_eq!(row["Judul"], "Jalan berlubang");
    assert_eq!(row["Telepon"], "0812-1111-2222");

    // Legacy complaints get no receipt, though a reporter's address is known.
    assert_eq!(store.count("outbox").await.expect("count"), 0);

    let again = run(&store, &path, &opts).await;
    assert_eq!((again.created, again.already), (0, 4), "{again:?}");
    assert_eq!(all(&store).await.len(), 4);
}

/// English headers in another order, and a mapping file for a register of its own
/// words; a mapped `id` is the row key, so a corrected row is not filed again.
async fn english_headers_and_a_mapping_file(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let english = write(
        db.dir.path(),
        "english.csv",
        "DATE,Title,Body,Name,Phone,Channel\n2026-12-01 08:00,Broken bridge,The bridge is cracked,Ana,0811,Email\n",
    );
    let report = run(&store, &english, &ImportOptions::default()).await;
    assert_eq!(report.created, 1, "{report:?}");
    let c = &all(&store).await[0];
    assert_eq!(
        (c.title.as_str(), c.channel_name.as_str()),
        ("Broken bridge", "import-email")
    );
    assert_eq!(c.received_at.to_rfc3339(), "2026-12-01T01:00:00+00:00");

    let custom = "Nomor;Perihal;Isi Pengaduan;Tgl Masuk;Pelapor\nA-17;Parkir liar;Parkir liar di trotoar;17 Agustus 2026 pukul 09.00;Rudi\n";
    let path = write(db.dir.path(), "custom.csv", &custom.replace(';', ","));
    let mapping = write(
        db.dir.path(),
        "mapping.toml",
        "[columns]\nid = \"Nomor\"\ntitle = \"perihal\"\nbody = \"Isi Pengaduan\"\ndate = \"Tgl Masuk\"\nname = \"Pelapor\"\n",
    );
    let mut opts = ImportOptions::default();
    opts.add_mapping_file(&mapping).expect("mapping file");
    let report = run(&store, &path, &opts).await;
    assert_eq!(report.created, 1, "{report:?}");
    let parkir = all(&store)
        .await
        .into_iter()
        .find(|c| c.title == "Parkir liar")
        .expect("filed");
    assert_eq!(parkir.external_id, "id:A-17");
    assert_eq!(parkir.received_at.to_rfc3339(), "2026-08-17T02:00:00+00:00");
    assert_eq!(
        parkir.reporter.and_then(|r| r.name).as_deref(),
        Some("Rudi")
    );

    // The same numbered row, its text corrected: the same complaint, not a second.
    write(
        db.dir.path(),
        "custom.csv",
        &custom.replace(';', ",").replace("trotoar", "trotoar depan"),
    );
    let again = run(&store, &path, &opts).await;
    assert_eq!((again.created, again.already), (0, 1), "{again:?}");

    // --map flags do the same; a header the file lacks is an error before any row.
    let mut flags = ImportOptions::default();
    flags.add_mapping("body", "Tidak Ada").expect("flag");
    let err = import_file(&store, &path, &flags, &mut |_, _| {})
        .await
        .expect_err("missing column");
    assert!(err.to_string().contains("Tidak Ada"), "{err}");
    assert!(flags.add_mapping("nope", "X").is_err());
}

/// Bad rows are reported with their line numbers (a quoted line break counts) and
/// written beside the register with why; the good rows are filed.
async fn bad_rows_are_reported_by_line_and_kept(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let path = write(
        db.dir.path(),
        "mixed.csv",
        "judul,uraian,tanggal\nBaik,\"dua\nbaris\",01/12/2026\nTanpa tanggal,isi,\nTanggal salah,isi,kemarin\n,,02/12/2026\nBaik juga,isi,2/12/2026\nBaik juga,isi,2/12/2026\n",
    );
    // The last row repeats the one before: one complaint, in the same batch.
    let report = run(&store, &path, &ImportOptions::default()).await;
    assert_eq!(
        (report.rows, report.created, report.already),
        (6, 2, 1),
        "{report:?}"
    );
    let lines: Vec<u64> = report.rejected.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [4, 5, 6], "{report:?}");
    assert!(report.rejected[1].1.contains("kemarin"), "{report:?}");

    let rejects = report.rejects_file.expect("a rejects file");
    assert_eq!(rejects, db.dir.path().join("mixed.rejects.csv"));
    let mut r = csv::Reader::from_path(&rejects).expect("rejects csv");
    assert_eq!(
        r.headers().expect("header").iter().collect::<Vec<_>>(),
        ["line", "reason", "judul", "uraian", "tanggal"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], "4");
    assert_eq!(&rows[0][2], "Tanpa tanggal");
    assert_eq!(&rows[1][4], "kemarin");
    assert_eq!(all(&store).await.len(), 2);
}

/// An XLSX register: its first sheet, an Excel date cell, a number for a phone.
async fn an_xlsx_register(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/register.xlsx");
    let path = db.dir.path().join("register.xlsx");
    std::fs::copy(&fixture, &path).expect("copy the fixture");

    let report = run(&store, &path, &ImportOptions::default()).await;
    assert_eq!((report.rows, report.created), (3, 2), "{report:?}");
    assert_eq!(report.rejected, [(4, "no date".to_owned())]);
    let list = all(&store).await;
    let air = &list[0];
    assert_eq!(air.title, "Air PDAM mati");
    assert_eq!(air.received_at.to_rfc3339(), "2026-12-02T17:00:00+00:00");
    let sampah = &list[1];
    assert_eq!(sampah.received_at.to_rfc3339(), "2026-12-05T02:15:00+00:00");
    assert_eq!(
        sampah.reporter.as_ref().and_then(|r| r.phone.as_deref()),
        Some("81234567890")
    );
    let again = run(&store, &path, &ImportOptions::default()).await;
    assert_eq!((again.created, again.already), (0, 2));
}

/// The export carries the list's filters and never an anonymous reporter; what it
/// writes imports again.
async fn export_hides_anonymous_reporters_and_imports_again(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let path = write(db.dir.path(), "register.csv", INDONESIAN);
    run(&store, &path, &ImportOptions::default()).await;
    let secret = Inbound {
        channel: "webform",
        channel_name: crate::store::channel("web"),
        external_id: "anon-1".into(),
        received_at: Utc::now(),
        kind: InboundKind::Complaint(Box::new(ComplaintDraft {
            title: "Rahasia".into(),
            body: "Pejabat meminta uang".into(),
            reporter: Reporter {
                name: Some("Pelapor Rahasia".into()),
                email: Some("rahasia@contoh.id".into()),
                phone: Some("0899".into()),
                ..Reporter::default()
            },
            anonymous: true,
            ..ComplaintDraft::default()
        })),
        thread: Threading::default(),
        raw: Raw {
            content_type: "application/json".into(),
            bytes: "{}".into(),
        },
        acknowledge: None,
    };
    crate::privacy::file(&store, vec![secret]).await;

    let mut out = Vec::new();
    let n = export(&store, &ListQuery::default(), &mut out)
        .await
        .expect("export");
    assert_eq!(n, 5);
    let text = String::from_utf8(out.clone()).expect("utf-8");
    assert!(text.contains("Pejabat meminta uang"));
    for who in ["Pelapor Rahasia", "rahasia@contoh.id", "0899"] {
        assert!(!text.contains(who), "{who} exported:\n{text}");
    }
    assert!(text.contains("siti@contoh.id"), "{text}");

    let mut only = Vec::new();
    let filter = ListQuery {
        channel: Some("webform".into()),
        ..ListQuery::default()
    };
    assert_eq!(export(&store, &filter, &mut only).await.expect("export"), 1);
    let filter = ListQuery {
        category: Some("Infrastruktur".into()),
        ..ListQuery::default()
    };
    assert_eq!(
        export(&store, &filter, &mut Vec::new())
            .await
            .expect("export"),
        1
    );

    // Round trip: the file imports into another database as the same complaints.
    let other = TestDb::new(b).await;
    let other_store = other.store().await;
    let file = write(other.dir.path(), "export.csv", &text);
    let report = run(&other_store, &file, &ImportOptions::default()).await;
    assert_eq!(report.created, 5, "{report:?}");
    let back = all(&other_store).await;
    let originals = all(&store).await;
    for (a, b) in originals.iter().zip(&back) {
        assert_eq!(
            (&a.title, &a.body, a.received_at),
            (&b.title, &b.body, b.received_at)
        );
    }
    let rahasia = back.iter().find(|c| c.title == "Rahasia").expect("there");
    assert_eq!(rahasia.reporter.as_ref().and_then(|r| r.name.clone()), None);
}

/// A register of several batches, one row repeated across two of them: each row one
/// complaint, the repeat filed once, a re-run files nothing. On SQLite a bulk batch
/// changes its connection's settings for its transaction only: every connection of the
/// pool has the ones it was opened with afterwards.
async fn a_register_of_several_batches(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let mut text = String::from("judul,isi,tanggal\n");
    for i in 0..2500 {
        // Row 2001 repeats row 1, two batches later.
        let n = if i == 2000 { 0 } else { i };
        text.push_str(&format!(
            "Sampah menumpuk nomor {n},Sampah belum diangkut di RT {n},0{}/12/2026\n",
            1 + n % 9
        ));
    }
    let path = write(db.dir.path(), "big.csv", &text);
    let opts = ImportOptions {
        batch: 1000,
        ..ImportOptions::default()
    };
    let report = run(&store, &path, &opts).await;
    assert_eq!(
        (report.rows, report.created, report.already),
        (2500, 2499, 1),
        "{report:?}"
    );
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(store.count("complaints").await.expect("count"), 2499);
    assert_eq!(store.count("outbox").await.expect("count"), 0);

    let again = run(&store, &path, &opts).await;
    assert_eq!((again.created, again.already), (0, 2500), "{again:?}");
    assert_eq!(store.count("complaints").await.expect("count"), 2499);

    if b == Backend::Sqlite {
        let pool = store.pool_for_tests();
        let mut held = Vec::new();
        for _ in 0..pool.size() {
            let mut conn = pool.acquire().await.expect("a connection");
            let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut *conn)
                .await
                .expect("cache_size");
            let temp: i64 = sqlx::query_scalar("PRAGMA temp_store")
                .fetch_one(&mut *conn)
                .await
                .expect("temp_store");
            assert_eq!(
                (cache, temp),
                (-2000, 0),
                "a connection kept a bulk setting"
            );
            held.push(conn);
        }
    }
}

on_both!(
    an_indonesian_register_files_each_row_once,
    english_headers_and_a_mapping_file,
    bad_rows_are_reported_by_line_and_kept,
    an_xlsx_register,
    export_hides_anonymous_reporters_and_imports_again,
    a_register_of_several_batches,
);

/// The command line: the summary, bad lines on standard error, exit status 1 while a
/// row is bad, 0 once none is; and `export --out`.
#[test]
fn the_commands_report_and_exit_by_what_they_did() {
    let dir = tempfile::tempdir().expect("tmp");
    let aduan = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aduan"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("ADUAN_CONFIG")
            .output()
            .expect("run aduan")
    };
    assert!(aduan(&["migrate"]).status.success());
    write(
        dir.path(),
        "lama.csv",
        "judul,isi,tanggal\nSatu,isi satu,01/12/2026\nDua,isi dua,32/12/2026\n",
    );
    let out = aduan(&["import", "lama.csv"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("line 3: \"32/12/2026\" is not a date"),
        "{stderr}"
    );
    assert!(
        stdout.contains("2 rows: 1 filed, 0 filed before, 1 bad"),
        "{stdout}"
    );
    assert!(stdout.contains("lama.rejects.csv"), "{stdout}");
    // Without a terminal: plain progress lines.
    assert!(stderr.contains("import: 2/2 rows"), "{stderr}");

    write(
        dir.path(),
        "lama.csv",
        "judul,isi,tanggal\nSatu,isi satu,01/12/2026\nDua,isi dua,31/12/2026\n",
    );
    let out = aduan(&["import", "lama.csv", "--map", "title=JUDUL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rows: 1 filed, 1 filed before, 0 bad"));

    let out = aduan(&["export", "--channel", "import", "--out", "semua.csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("semua.csv")).expect("export file");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("tracking_id,date,status,channel,"), "{csv}");
}
