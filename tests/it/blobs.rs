//! Attachment content in a shared store (`[attachments] store`): kept in the database in
//! the complaint's own transaction and served by any instance on it; content nothing
//! references collected after a grace period, in files or in the table; `aduan
//! attachments migrate` moving it between the two, checking what it copies.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aduan::queue::Role;
use aduan::store::{BlobBackend, IngestWriter, Store, StoreSink};
use aduan_kit::{AttachmentData, Batch, Delivery, Inbound, InboundKind};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::api::PNG;
use crate::harness::{config_for, filed, spawn_app_with, staff_actor, Backend, Options, TestDb};
use crate::on_both;
use crate::store::complaint;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn report_with_png() -> Form {
    Form::new()
        .text("title", "Jalan berlubang")
        .text("body", "Lubang besar di depan sekolah")
        .part(
            "attachments",
            Part::bytes(PNG.to_vec())
                .file_name("lubang.png")
                .mime_str("image/png")
                .expect("mime"),
        )
}

fn with_file(mut item: Inbound, bytes: &'static [u8]) -> Inbound {
    if let InboundKind::Complaint(d) = &mut item.kind {
        d.attachments.push(AttachmentData {
            filename: "foto.jpg".into(),
            content_type: "image/jpeg".into(),
            bytes: bytes.into(),
        });
    }
    item
}

async fn ingest(sink: &StoreSink, item: Inbound) -> Delivery {
    let mut ds = sink
        .ingest(Batch {
            items: vec![item],
            cursor: None,
        })
        .await
        .expect("ingest");
    assert!(ds[0].is_committed(), "{:?}", ds[0]);
    ds.remove(0)
}

/// A store keeping content in `backend`, and a sink into it.
async fn store_on(db: &TestDb, backend: BlobBackend) -> (Store, StoreSink) {
    let store = db
        .store()
        .await
        .with_blob_backend(backend, &db.data_dir())
        .expect("blob store");
    let (writer, _) = IngestWriter::spawn(store.clone(), 64, 2);
    (store.clone(), StoreSink::new(store, writer))
}

/// An API token of a new coordinator, who may download any complaint's attachments.
async fn coordinator_token(store: &Store) -> String {
    staff_actor(store, "koord", Role::Coordinator, None).await;
    store
        .issue_token("koord", "uji")
        .await
        .expect("token")
        .token
}

/// The content stored for `bytes`, as downloads read it.
async fn read_back(store: &Store, bytes: &[u8]) -> Vec<u8> {
    store
        .blobs()
        .get(&sha256(bytes))
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(bytes)))
}

/// Moves a file's modification time `by` into the past.
fn age(path: &Path, by: Duration) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - by)
        .expect("set time");
}

fn blob_path(db: &TestDb, sha: &str) -> std::path::PathBuf {
    db.data_dir().join("blobs").join(&sha[..2]).join(&sha[2..])
}

const HOURS_2: Duration = Duration::from_secs(7200);
const GRACE: Duration = Duration::from_secs(3600);

async fn the_database_store_serves_attachments_from_every_instance(b: Backend) {
    let a = spawn_app_with(
        b,
        Options {
            configure: |c| c.attachments.store = BlobBackend::Database,
            ..Options::default()
        },
    )
    .await;
    let tid = filed(a.post_multipart("/api/v1/reports", report_with_png()).await).await;
    assert_eq!(a.count("blobs").await, 1, "the content is in the database");
    assert_eq!(a.blob_files(), 0, "and nothing under the data directory");

    // A second instance on the same database, with a data directory of its own.
    let elsewhere = tempfile::tempdir().expect("tmp");
    let mut cfg = config_for(&a.db, "");
    cfg.attachments.store = BlobBackend::Database;
    cfg.data_dir = elsewhere.path().join("data");
    let second = aduan::app::start(cfg, Vec::new())
        .await
        .expect("second instance");
    let token = coordinator_token(&a.store).await;
    let download = async |digest: &str| {
        a.client
            .get(format!(
                "http://{}/api/v1/complaints/{tid}/attachments/{digest}",
                second.addr
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
    };
    let res = download(&sha256(PNG)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").as_ref(), PNG);
    // Malformed or unknown digests are refused, not looked up as paths.
    for bad in [
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        sha256(PNG).to_ascii_uppercase(),
        "0".repeat(64),
    ] {
        assert_eq!(
            download(&bad).await.status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    assert!(second.stop(Duration::from_secs(10)).await);
    a.stop().await;
}

async fn the_collector_removes_unreferenced_rows_and_keeps_the_rest(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = store_on(&db, BlobBackend::Database).await;
    // A new complaint (the batch path) and a follow-up to it (one item at a time).
    let mut first = with_file(complaint("x", "c1", "Air mati"), b"foto pertama");
    first.thread.keys.push("utas-1".into());
    ingest(&sink, first).await;
    let mut reply = with_file(complaint("x", "c2", "Masih mati"), b"foto susulan");
    reply.thread.refs.push("utas-1".into());
    ingest(&sink, reply).await;
    assert_eq!(store.count("complaints").await.expect("count"), 1);
    assert_eq!(store.count("attachments").await.expect("count"), 2);
    assert_eq!(store.count("blobs").await.expect("count"), 2);
    assert!(
        !blob_path(&db, &sha256(b"foto pertama")).exists(),
        "no file is written"
    );
    assert_eq!(read_back(&store, b"foto susulan").await, b"foto susulan");
    assert!(store.blobs().get("../../etc/passwd").await.is_err());

    // An orphan older than the grace period (a complaint erased, say), a fresh one (a
    // transaction that may still commit), and the referenced content made old too.
    let old = aduan::store::now_micros() - 2 * 3600 * 1_000_000;
    let pool = store.pool_for_tests();
    for (content, at) in [
        (&b"yatim lama"[..], old),
        (&b"yatim baru"[..], aduan::store::now_micros()),
    ] {
        sqlx::query("INSERT INTO blobs (sha256, size, content, stored_at) VALUES ($1, $2, $3, $4)")
            .bind(sha256(content))
            .bind(content.len() as i64)
            .bind(content)
            .bind(at)
            .execute(&pool)
            .await
            .expect("orphan");
    }
    sqlx::query("UPDATE blobs SET stored_at = $1 WHERE sha256 <> $2")
        .bind(old)
        .bind(sha256(b"yatim baru"))
        .execute(&pool)
        .await
        .expect("age");
    let pass = store.blobs().collect_garbage(GRACE).await.expect("collect");
    assert_eq!(pass.removed, 1);
    assert_eq!(store.count("blobs").await.expect("count"), 3);
    assert!(store.blobs().get(&sha256(b"yatim lama")).await.is_err());
    for kept in [&b"yatim baru"[..], b"foto pertama", b"foto susulan"] {
        assert_eq!(read_back(&store, kept).await, kept);
    }

    // Content reused by a new complaint is fresh again, even if it was old.
    sqlx::query("UPDATE blobs SET stored_at = $1")
        .bind(old)
        .execute(&pool)
        .await
        .expect("age");
    ingest(
        &sink,
        with_file(complaint("x", "c3", "Lagi"), b"yatim baru"),
    )
    .await;
    let stored_at: i64 = sqlx::query_scalar("SELECT stored_at FROM blobs WHERE sha256 = $1")
        .bind(sha256(b"yatim baru"))
        .fetch_one(&pool)
        .await
        .expect("stored_at");
    assert!(stored_at > old + 3600 * 1_000_000, "refreshed by its reuse");
    let pass = store.blobs().collect_garbage(GRACE).await.expect("collect");
    assert_eq!(pass.removed, 0);
    assert_eq!(store.count("blobs").await.expect("count"), 3);
}

async fn the_collector_removes_unreferenced_files_and_keeps_the_rest(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = store_on(&db, BlobBackend::Filesystem).await;
    ingest(&sink, with_file(complaint("x", "c1", "Air mati"), b"foto")).await;
    let kept = blob_path(&db, &sha256(b"foto"));
    assert!(kept.exists());
    assert_eq!(store.count("blobs").await.expect("count"), 0);
    // What a crash between writing and committing leaves: an unreferenced blob and a
    // partial write; and a blob written a moment ago by a transaction still in flight.
    let orphan = blob_path(&db, &sha256(b"yatim"));
    let fresh = blob_path(&db, &sha256(b"baru saja"));
    for (path, bytes) in [(&orphan, &b"yatim"[..]), (&fresh, b"baru saja")] {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(path, bytes).expect("write");
    }
    let part = db.data_dir().join("blobs/tmp/terputus.part");
    std::fs::write(&part, b"setengah").expect("write");
    // More orphans than the collector looks up at once.
    let mut orphans = vec![orphan.clone()];
    for i in 0..70 {
        let bytes = format!("yatim {i}");
        let path = blob_path(&db, &sha256(bytes.as_bytes()));
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, bytes).expect("write");
        orphans.push(path);
    }
    for path in orphans.iter().chain([&kept, &part]) {
        age(path, HOURS_2);
    }
    let pass = store.blobs().collect_garbage(GRACE).await.expect("collect");
    assert_eq!(pass.removed, 72, "the orphans and the partial write");
    assert!(orphans.iter().all(|p| !p.exists()));
    assert!(!orphan.exists() && !part.exists());
    assert!(fresh.exists(), "within the grace period");
    assert_eq!(read_back(&store, b"foto").await, b"foto");
    // Reusing old content refreshes its file, so the collector leaves it.
    age(&fresh, HOURS_2);
    ingest(&sink, with_file(complaint("x", "c2", "Lagi"), b"baru saja")).await;
    let touched = std::fs::metadata(&fresh)
        .and_then(|m| m.modified())
        .expect("time");
    assert!(
        touched > SystemTime::now() - GRACE,
        "refreshed by its reuse"
    );
    let pass = store.blobs().collect_garbage(GRACE).await.expect("collect");
    assert_eq!(pass.removed, 0);
    assert!(fresh.exists());

    // Switched to the database before `aduan attachments migrate` ran: the file serves.
    let switched = db
        .store()
        .await
        .with_blob_backend(BlobBackend::Database, &db.data_dir())
        .expect("store");
    assert_eq!(read_back(&switched, b"foto").await, b"foto");
}

/// Old unreferenced content reused by new complaints while the collector runs over and
/// over: every attachment committed has its content at the end, in either store.
async fn the_collector_never_takes_content_a_commit_reuses(b: Backend) {
    for backend in [BlobBackend::Database, BlobBackend::Filesystem] {
        let db = TestDb::new(b).await;
        let (store, sink) = store_on(&db, backend).await;
        let contents: Vec<Vec<u8>> = (0..24).map(|i| format!("foto {i}").into_bytes()).collect();
        // Every content is there already, unreferenced and old (as after a crash).
        let old = aduan::store::now_micros() - 2 * 3600 * 1_000_000;
        for bytes in &contents {
            match backend {
                BlobBackend::Database => {
                    sqlx::query(
                        "INSERT INTO blobs (sha256, size, content, stored_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(sha256(bytes))
                    .bind(bytes.len() as i64)
                    .bind(bytes.clone())
                    .bind(old)
                    .execute(&store.pool_for_tests())
                    .await
                    .expect("orphan row");
                }
                BlobBackend::Filesystem => {
                    let path = blob_path(&db, &sha256(bytes));
                    std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
                    std::fs::write(&path, bytes).expect("orphan file");
                    age(&path, HOURS_2);
                }
            }
        }
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut passes = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store.blobs().collect_garbage(GRACE).await.expect("collect");
                    passes += 1;
                }
                passes
            })
        };
        for (i, bytes) in contents.iter().enumerate() {
            let mut item = complaint("x", &format!("r{i}"), "Foto");
            if let InboundKind::Complaint(d) = &mut item.kind {
                d.attachments.push(AttachmentData {
                    filename: "foto.jpg".into(),
                    content_type: "image/jpeg".into(),
                    bytes: bytes.clone().into(),
                });
            }
            ingest(&sink, item).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let passes = collector.await.expect("collector");
        assert!(passes > 0);
        assert_eq!(store.count("attachments").await.expect("count"), 24);
        for bytes in &contents {
            assert_eq!(&read_back(&store, bytes).await, bytes, "{backend:?}");
        }
        store.blobs().collect_garbage(GRACE).await.expect("collect");
        for bytes in &contents {
            assert_eq!(&read_back(&store, bytes).await, bytes, "{backend:?}");
        }
    }
}

/// `aduan attachments migrate` on the app's database and data directory.
fn migrate_cli(db: &TestDb, args: &[&str], store: &str) -> (bool, String) {
    let file = db.dir.path().join("migrate.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\n[database]\nurl = \"{}\"\n[attachments]\nstore = \"{store}\"\n",
            db.data_dir().display(),
            db.url
        ),
    )
    .expect("write the configuration");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["attachments", "migrate", "--config"])
        .arg(&file)
        .args(args)
        .output()
        .expect("run aduan attachments migrate");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

async fn migrate_moves_files_into_the_database_and_back(b: Backend) {
    let mut app = spawn_app_with(b, Options::default()).await;
    let tid = filed(
        app.post_multipart("/api/v1/reports", report_with_png())
            .await,
    )
    .await;
    filed(
        app.post_multipart("/api/v1/reports", report_with_png())
            .await,
    )
    .await;
    assert_eq!(app.blob_files(), 1);
    assert_eq!(app.count("blobs").await, 0);

    // While the daemon runs on files: copied, the files kept; again: nothing to do.
    let (ok, out) = migrate_cli(&app.db, &["--to", "database"], "filesystem");
    assert!(ok, "{out}");
    assert!(
        out.contains("1 attachment contents to copy from the filesystem to the database"),
        "{out}"
    );
    assert!(out.contains("done: 1 checked, 1 copied"), "{out}");
    assert!(
        out.contains("set [attachments] store = \"database\""),
        "{out}"
    );
    assert_eq!(app.count("blobs").await, 1);
    assert_eq!(app.blob_files(), 1, "the source is kept");
    let (ok, out) = migrate_cli(&app.db, &["--to", "database"], "filesystem");
    assert!(ok, "{out}");
    assert!(out.contains("0 copied (0 bytes), 1 there already"), "{out}");

    // Switched to the database, with the files removed: downloads still work.
    app.configure = |c| c.attachments.store = BlobBackend::Database;
    let app = app.restart().await;
    let (ok, out) = migrate_cli(
        &app.db,
        &["--to", "database", "--remove-source"],
        "database",
    );
    assert!(ok, "{out}");
    assert!(out.contains("1 removed from the filesystem"), "{out}");
    assert!(!out.contains("set [attachments]"), "{out}");
    assert_eq!(app.blob_files(), 0);
    let token = coordinator_token(&app.store).await;
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/complaints/{tid}/attachments/{}",
            sha256(PNG)
        )))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").as_ref(), PNG);

    // And back to files.
    let (ok, out) = migrate_cli(&app.db, &["--to", "filesystem"], "database");
    assert!(ok, "{out}");
    assert!(out.contains("done: 1 checked, 1 copied"), "{out}");
    assert_eq!(app.blob_files(), 1);
    assert_eq!(
        std::fs::read(blob_path(&app.db, &sha256(PNG))).expect("file"),
        PNG
    );
    app.stop().await;
}

async fn migrate_refuses_damaged_content_and_keeps_the_source(b: Backend) {
    let db = TestDb::new(b).await;
    let (store, sink) = store_on(&db, BlobBackend::Filesystem).await;
    for (ext, bytes) in [
        ("c1", &b"foto rusak"[..]),
        ("c2", b"foto terpotong"),
        ("c3", b"foto hilang"),
        ("c4", b"foto utuh"),
    ] {
        ingest(&sink, with_file(complaint("x", ext, "Foto"), bytes)).await;
    }
    // Bytes changed on disk; a size that does not match the record; a file gone.
    std::fs::write(blob_path(&db, &sha256(b"foto rusak")), b"foto diubah").expect("damage");
    sqlx::query("UPDATE attachments SET size = size + 1 WHERE sha256 = $1")
        .bind(sha256(b"foto terpotong"))
        .execute(&store.pool_for_tests())
        .await
        .expect("size");
    std::fs::remove_file(blob_path(&db, &sha256(b"foto hilang"))).expect("remove");

    let mut lines = Vec::new();
    let report = store
        .blobs()
        .migrate(BlobBackend::Database, true, &mut |l| lines.push(l))
        .await
        .expect("migrate");
    let lines = lines.join("\n");
    assert!(!report.ok(), "{lines}");
    assert_eq!(report.checked, 4, "{lines}");
    assert_eq!((report.copied, report.removed), (1, 1), "{lines}");
    assert_eq!(report.missing, vec![sha256(b"foto hilang")], "{lines}");
    let refused: Vec<&str> = report.refused.iter().map(|(s, _)| s.as_str()).collect();
    let mut expected = vec![sha256(b"foto rusak"), sha256(b"foto terpotong")];
    expected.sort();
    assert_eq!(refused, expected, "{lines}");
    assert!(lines.contains("damaged"), "{lines}");
    assert!(lines.contains("in neither place"), "{lines}");
    // Only the sound content was copied; the damaged sources are still there.
    assert_eq!(store.count("blobs").await.expect("count"), 1);
    assert!(blob_path(&db, &sha256(b"foto rusak")).exists());
    assert!(blob_path(&db, &sha256(b"foto terpotong")).exists());
    assert!(!blob_path(&db, &sha256(b"foto utuh")).exists());
}

on_both!(
    the_database_store_serves_attachments_from_every_instance,
    the_collector_removes_unreferenced_rows_and_keeps_the_rest,
    the_collector_removes_unreferenced_files_and_keeps_the_rest,
    the_collector_never_takes_content_a_commit_reuses,
    migrate_moves_files_into_the_database_and_back,
    migrate_refuses_damaged_content_and_keeps_the_source,
);
