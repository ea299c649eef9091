//! The built binary on its default configuration: file a report with an attachment,
//! stop it with SIGTERM (in-flight requests finish), start it again, find it all intact.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

use crate::api::PNG;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    async fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_aduan"))
            .arg("run")
            .current_dir(dir)
            // Only the listening port differs from the embedded default, so tests can run
            // beside a daemon on 8080.
            .env("ADUAN_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env_remove("ADUAN_CONFIG")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start aduan");
        let d = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/readyz", d.base)).send().await {
                if r.status() == StatusCode::OK {
                    return d;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aduan did not become ready on port {port}");
    }

    fn terminate(&self) {
        kill(
            Pid::from_raw(i32::try_from(self.child.id()).expect("pid")),
            Signal::SIGTERM,
        )
        .expect("SIGTERM");
    }

    async fn wait(mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("aduan did not exit within 15 s of SIGTERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_keeps_reports_across_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let client = reqwest::Client::new();
    let daemon = Daemon::start(dir.path(), port).await;

    let form = Form::new()
        .text("title", "Jembatan retak")
        .text(
            "body",
            "Jembatan di Desa Rempak retak, berbahaya untuk anak sekolah.",
        )
        .text("email", "warga@contoh.id")
        .part(
            "attachments",
            Part::bytes(PNG.to_vec()).file_name("jembatan.png"),
        );
    let res = client
        .post(format!("{}/api/v1/reports", daemon.base))
        .multipart(form)
        .send()
        .await
        .expect("post");
    let tid = crate::harness::filed(res).await;

    // A request still uploading when SIGTERM arrives is finished and stored.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{}/api/v1/reports", daemon.base);
        async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        }
    });
    tx.send(Ok(br#"{"title": "Sedang diunggah", "#.to_vec()))
        .await
        .expect("send part");
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(br#""body": "selesai setelah SIGTERM"}"#.to_vec()))
        .await
        .expect("send rest");
    drop(tx);
    let slow = slow
        .await
        .expect("task")
        .expect("in-flight request answered");
    assert_eq!(
        slow.status(),
        StatusCode::CREATED,
        "in-flight request finished during shutdown"
    );
    let slow_tid = slow.json::<Value>().await.expect("json")["tracking_id"]
        .as_str()
        .expect("tid")
        .to_owned();

    let status = daemon.wait().await;
    assert!(status.success(), "exit status {status:?}");

    let daemon = Daemon::start(dir.path(), port).await;
    for t in [&tid, &slow_tid] {
        let res = client
            .get(format!("{}/api/v1/reports/{t}", daemon.base))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::OK, "{t} survived the restart");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["complaints", "show", &tid, "--json"])
        .current_dir(dir.path())
        .env("ADUAN_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .expect("aduan complaints show");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: Value = serde_json::from_slice(&out.stdout).expect("json record");
    assert_eq!(rec["title"], "Jembatan retak");
    assert_eq!(rec["reporter"]["email"], "warga@contoh.id");
    let sha = rec["attachments"][0]["sha256"].as_str().expect("sha256");
    let blob = dir
        .path()
        .join("data/blobs")
        .join(&sha[..2])
        .join(&sha[2..]);
    assert_eq!(std::fs::read(blob).expect("attachment file"), PNG);

    let list = Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["complaints", "list", "--status", "new", "--json"])
        .current_dir(dir.path())
        .output()
        .expect("aduan complaints list");
    let list: Value = serde_json::from_slice(&list.stdout).expect("json list");
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    daemon.terminate();
    assert!(daemon.wait().await.success());
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[test]
fn check_reports_configuration_errors_with_file_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("aduan.toml");
    std::fs::write(&file, "[database]\nurl = \"mysql://nope\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aduan.toml") && err.contains("database.url"),
        "{err}"
    );

    std::fs::write(&file, "[[channels]]\nkind = \"webform\"\nname = \"web\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_aduan"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("channel web (webform"));
}

/// The queue from the command line: bootstrap the first operator (token printed once,
/// and it works on the API), units and people, then verify, forward, answer, approve
/// and close as named users, with the workflow's refusals as exit status 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_works_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let aduan = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_aduan"))
            .args(args)
            .current_dir(dir.path())
            .env("ADUAN_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .output()
            .expect("aduan");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = aduan(&["migrate"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, token, err) = aduan(&["users", "create", "admin", "--role", "operator"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(token.starts_with("aduan_") && token.len() > 60, "{token}");
    assert!(err.contains("shown this once"), "{err}");
    let (code, _, err) = aduan(&["users", "create", "x", "--role", "unit_admin"]);
    assert_eq!(code, Some(1), "a unit admin needs a unit");
    assert!(err.contains("belongs to a unit"), "{err}");
    assert_eq!(
        aduan(&["units", "create", "dpupr", "Dinas PUPR"]).0,
        Some(0)
    );
    for (name, role) in [
        ("koor", "coordinator"),
        ("pupr", "unit_admin"),
        ("kepala", "liaison"),
    ] {
        let mut args = vec!["users", "create", name, "--role", role];
        if role != "coordinator" {
            args.extend(["--unit", "dpupr"]);
        }
        assert_eq!(aduan(&args).0, Some(0), "{name}");
    }
    let (_, users, _) = aduan(&["users", "list"]);
    assert!(
        users.contains("pupr") && users.contains("unit_admin") && users.contains("dpupr"),
        "{users}"
    );
    let (code, days, _) = aduan(&["holidays", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        days.contains("2026-08-17"),
        "the seed holds Independence Day"
    );

    let daemon = Daemon::start(dir.path(), port).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/v1/reports", daemon.base))
        .json(
            &serde_json::json!({"title": "Parit tersumbat", "body": "Air meluap ke rumah warga."}),
        )
        .send()
        .await
        .expect("report");
    let tid = crate::harness::filed(res).await;
    let res = client
        .get(format!("{}/api/v1/complaints/{tid}", daemon.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("admin api");
    assert_eq!(res.status(), StatusCode::OK, "the printed token works");

    let steps: &[(&[&str], Option<i32>, &str)] = &[
        (
            &[
                "complaints",
                "forward",
                &tid,
                "--unit",
                "dpupr",
                "--as",
                "koor",
            ],
            Some(2),
            "",
        ),
        (
            &[
                "complaints",
                "verify",
                &tid,
                "--classification",
                "pengaduan",
                "--as",
                "pupr",
            ],
            Some(2),
            "",
        ),
        (
            &[
                "complaints",
                "verify",
                &tid,
                "--classification",
                "pengaduan",
                "--as",
                "koor",
            ],
            Some(0),
            "verified",
        ),
        (
            &[
                "complaints",
                "forward",
                &tid,
                "--unit",
                "dpupr",
                "--as",
                "koor",
            ],
            Some(0),
            "forwarded",
        ),
        (
            &["complaints", "claim", &tid, "--as", "pupr"],
            Some(0),
            "forwarded",
        ),
        (
            &[
                "complaints",
                "answer",
                &tid,
                "--body",
                "Parit sudah dibersihkan.",
                "--as",
                "pupr",
            ],
            Some(0),
            "in_progress",
        ),
        (
            &["complaints", "approve", &tid, "--as", "pupr"],
            Some(2),
            "",
        ),
        (
            &["complaints", "approve", &tid, "--as", "kepala"],
            Some(0),
            "answered",
        ),
        (
            &["complaints", "close", &tid, "--as", "koor"],
            Some(0),
            "closed",
        ),
        (
            &["complaints", "close", &tid, "--as", "nobody"],
            Some(1),
            "",
        ),
    ];
    for (args, want, status) in steps {
        let (code, out, err) = aduan(args);
        assert_eq!(code, *want, "{args:?}: {out} {err}");
        if !status.is_empty() {
            assert_eq!(out, format!("{tid} {status}"), "{args:?}");
        }
    }
    let status = client
        .get(format!("{}/api/v1/reports/{tid}", daemon.base))
        .send()
        .await
        .expect("status")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(status["status"], "closed");
    assert!(
        status.to_string().contains("Parit sudah dibersihkan"),
        "{status}"
    );
    daemon.terminate();
    assert!(daemon.wait().await.success());
}
