//! `POST /api/v1/reports` and the public status, including every kind of bad input.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{spawn_app, spawn_app_with, Backend, Options};
use crate::on_both;

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

fn report() -> Value {
    json!({
        "title": "Air PDAM tidak mengalir",
        "body": "Sudah tiga hari air tidak mengalir di RT 02 Kampung Dalam.",
        "category": "air-bersih",
        "location": "Kampung Dalam, Siak",
        "occurred_on": "2026-11-20",
        "name": "Siti Aminah",
        "email": "siti@contoh.id",
        "phone": "0812-7654-3210",
    })
}

async fn json_report_is_filed_and_visible_without_personal_data(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.post_json("/api/v1/reports", &report()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.expect("json");
    let tid = body["tracking_id"]
        .as_str()
        .expect("tracking_id")
        .to_owned();
    assert_eq!(body["status"], "new");
    assert_eq!(
        body["status_url"],
        format!("https://lapor.contoh.go.id/laporan/{tid}")
    );

    let status = app.get(&format!("/api/v1/reports/{tid}")).await;
    assert_eq!(status.status(), StatusCode::OK);
    let text = status.text().await.expect("text");
    for private in ["Siti", "siti@contoh.id", "7654", "Kampung Dalam, Siak"] {
        assert!(
            !text.contains(private),
            "public status leaks {private}: {text}"
        );
    }
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["title"], "Air PDAM tidak mengalir");
    assert_eq!(v["status_label"], "Belum terverifikasi");

    let rec = app
        .store
        .complaint(&tid)
        .await
        .expect("read")
        .expect("stored");
    let rec = serde_json::to_value(rec).expect("json");
    assert_eq!(rec["channel"], "webform");
    assert_eq!(rec["channel_name"], "web");
    assert_eq!(rec["reporter"]["phone"], "+6281276543210");
    assert_eq!(rec["occurred_on"], "2026-11-20");
    assert_eq!(rec["location"]["text"], "Kampung Dalam, Siak");
    assert_eq!(rec["messages"][0]["direction"], "in");
    app.stop().await;
}

async fn idempotency_key_makes_a_retry_the_same_report(b: Backend) {
    let app = spawn_app(b).await;
    let send = || {
        app.client
            .post(app.url("/api/v1/reports"))
            .header("Idempotency-Key", "retry-123")
            .json(&report())
            .send()
    };
    let a: Value = send().await.expect("send").json().await.expect("json");
    let b2: Value = send().await.expect("send").json().await.expect("json");
    assert_eq!(a["tracking_id"], b2["tracking_id"]);
    assert_eq!(app.count("complaints").await, 1);

    // The same key with another report must not hand out the first report's number.
    let mut other = report();
    other["title"] = "Laporan orang lain".into();
    let res = app
        .client
        .post(app.url("/api/v1/reports"))
        .header("Idempotency-Key", "retry-123")
        .json(&other)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = res.json().await.expect("json");
    assert_eq!(problem["type"], "urn:aduan:problem:idempotency-key-reused");
    assert!(
        !problem
            .to_string()
            .contains(a["tracking_id"].as_str().expect("tid")),
        "the first report's number is not disclosed: {problem}"
    );
    assert_eq!(app.count("complaints").await, 1);
    app.stop().await;
}

async fn multipart_report_stores_attachments(b: Backend) {
    let app = spawn_app(b).await;
    let form = Form::new()
        .text("title", "Jalan berlubang")
        .text("body", "Lubang besar di depan sekolah")
        .text("anonymous", "on")
        .part(
            "attachments",
            Part::bytes(PNG.to_vec())
                .file_name("lubang.png")
                .mime_str("image/png")
                .expect("mime"),
        )
        .part(
            "attachments",
            Part::bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n".to_vec()).file_name("surat.pdf"),
        );
    let tid = crate::harness::filed(app.post_multipart("/api/v1/reports", form).await).await;
    let rec = app
        .store
        .complaint(&tid)
        .await
        .expect("read")
        .expect("stored");
    assert!(rec.anonymous);
    assert_eq!(rec.attachments.len(), 2);
    assert_eq!(rec.attachments[0].filename, "lubang.png");
    assert_eq!(rec.attachments[0].content_type, "image/png");
    assert_eq!(rec.attachments[1].content_type, "application/pdf");
    assert_eq!(rec.attachments[0].size, PNG.len() as i64);
    assert_eq!(
        app.store
            .blobs()
            .get(&rec.attachments[0].sha256)
            .await
            .expect("blob"),
        PNG
    );
    app.stop().await;
}

async fn field_errors_are_422_with_stable_codes(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .post_json(
            "/api/v1/reports",
            &json!({"title": "", "body": "x".repeat(20_001), "email": "bukan email", "phone": "abc", "category": "tidak-ada"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let v: Value = res.json().await.expect("json");
    let codes: Vec<(String, String)> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for expected in [
        ("title", "required"),
        ("body", "too_long"),
        ("email", "invalid_email"),
        ("phone", "invalid_phone"),
        ("category", "unknown_category"),
    ] {
        assert!(
            codes.contains(&(expected.0.into(), expected.1.into())),
            "missing {expected:?} in {codes:?}"
        );
    }
    assert_eq!(app.count("complaints").await, 0);
    app.stop().await;
}

async fn malformed_bodies_are_refused_and_nothing_stored(b: Backend) {
    let app = spawn_app(b).await;
    let post = |ct: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/reports"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        post("text/plain", b"hello".to_vec())
            .await
            .expect("send")
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        post("application/json", b"{\"title\": ".to_vec())
            .await
            .expect("send")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("application/json", b"{\"title\": \"\xff\xfe\"}".to_vec())
            .await
            .expect("send")
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Form data whose text is not UTF-8 is refused, as JSON is, not filed altered.
    for body in [
        &b"title=%FF%FE&body=Jalan+rusak+sekali"[..],
        b"title=Jalan\xff&body=rusak",
    ] {
        assert_eq!(
            post("application/x-www-form-urlencoded", body.to_vec())
                .await
                .expect("send")
                .status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        post("application/json", b"{\"unknown\": 1}".to_vec())
            .await
            .expect("send")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.count("complaints").await, 0);
    assert_eq!(app.count("raw_originals").await, 0);
    app.stop().await;
}

async fn oversized_bodies_and_files_are_413_without_orphans(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            configure: |c| {
                c.http.max_request_bytes = 65_536;
                c.form.max_file_bytes = 16_384;
            },
            ..Options::default()
        },
    )
    .await;
    let big_json = json!({"title": "t", "body": "x".repeat(70_000)});
    assert_eq!(
        app.post_json("/api/v1/reports", &big_json).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let mut png = PNG.to_vec();
    png.resize(20_000, 0);
    let form = Form::new()
        .text("title", "t")
        .text("body", "b")
        .part("attachments", Part::bytes(png).file_name("besar.png"));
    let res = app.post_multipart("/api/v1/reports", form).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let mut huge = PNG.to_vec();
    huge.resize(15_000, 0);
    let form = Form::new()
        .text("title", "t")
        .text("body", "b")
        .part("attachments", Part::bytes(huge.clone()).file_name("a.png"))
        .part("attachments", Part::bytes(huge.clone()).file_name("b.png"))
        .part("attachments", Part::bytes(huge.clone()).file_name("c.png"))
        .part("attachments", Part::bytes(huge.clone()).file_name("d.png"))
        .part("attachments", Part::bytes(huge).file_name("e.png"));
    let res = app.post_multipart("/api/v1/reports", form).await;
    assert_eq!(
        res.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "the whole request is over 64 KiB"
    );

    assert_eq!(app.count("complaints").await, 0);
    assert_eq!(app.blob_files(), 0, "no orphan attachment files");
    app.stop().await;
}

async fn disallowed_attachment_types_are_422(b: Backend) {
    let app = spawn_app(b).await;
    // An executable renamed to .jpg, sent with an image content type.
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0\0\0\0\0@\0\0\0".to_vec();
    let form = Form::new().text("title", "t").text("body", "b").part(
        "attachments",
        Part::bytes(exe)
            .file_name("foto.jpg")
            .mime_str("image/jpeg")
            .expect("mime"),
    );
    let res = app.post_multipart("/api/v1/reports", form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["errors"][0]["code"], "file_type_not_allowed");
    assert_eq!(app.count("complaints").await, 0);
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}

async fn confidential_reports_show_status_only(b: Backend) {
    let app = spawn_app(b).await;
    let mut r = report();
    r["confidential"] = json!(true);
    let v: Value = app
        .post_json("/api/v1/reports", &r)
        .await
        .json()
        .await
        .expect("json");
    let tid = v["tracking_id"].as_str().expect("tid");
    let text = app.get_text(&format!("/api/v1/reports/{tid}")).await;
    assert!(!text.contains("PDAM"), "confidential title shown: {text}");
    let page = app.get_text(&format!("/laporan/{tid}")).await;
    assert!(!page.contains("PDAM"), "confidential title on the page");
    assert!(page.contains("Belum terverifikasi"));
    app.stop().await;
}

async fn unknown_and_malformed_tracking_numbers_are_404(b: Backend) {
    let app = spawn_app(b).await;
    for path in [
        "/api/v1/reports/0000-0000",
        "/api/v1/reports/nope",
        "/laporan/ZZZZ-ZZZZ",
        "/api/v1/reports/%3Cscript%3E",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}

async fn operational_endpoints(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    app.post_json("/api/v1/reports", &report()).await;
    // A method of the client's invention is counted, under `other`: a new series for
    // each would let anyone grow the daemon's memory.
    let invented = reqwest::Method::from_bytes(b"INVENTED").expect("a method");
    let res = app
        .client
        .request(invented, format!("{}/healthz", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("aduan_inbound_total"), "{metrics}");
    assert!(metrics.contains("aduan_http_requests_total"));
    assert!(
        metrics.contains(r#"method="other",status="405""#),
        "{metrics}"
    );
    assert!(!metrics.contains("INVENTED"), "{metrics}");
    app.stop().await;
}

on_both!(
    json_report_is_filed_and_visible_without_personal_data,
    idempotency_key_makes_a_retry_the_same_report,
    multipart_report_stores_attachments,
    field_errors_are_422_with_stable_codes,
    malformed_bodies_are_refused_and_nothing_stored,
    oversized_bodies_and_files_are_413_without_orphans,
    disallowed_attachment_types_are_422,
    confidential_reports_show_status_only,
    unknown_and_malformed_tracking_numbers_are_404,
    operational_endpoints,
);
