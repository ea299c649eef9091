//! The citizen's HTML form: works without JavaScript, validates on the server with the
//! message next to the field and the input kept, escapes everything.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use crate::api::PNG;
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn the_form_files_a_report_and_shows_the_tracking_number(b: Backend) {
    let app = spawn_app(b).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("default-src 'none'"));
    let html = page.text().await.expect("html");
    for field in [
        "name=\"title\"",
        "name=\"body\"",
        "name=\"category\"",
        "name=\"location\"",
        "name=\"occurred_on\"",
        "name=\"attachments\"",
        "name=\"name\"",
        "name=\"email\"",
        "name=\"phone\"",
        "name=\"anonymous\"",
        "name=\"confidential\"",
        "enctype=\"multipart/form-data\"",
        "Air bersih",
        "lang=\"id\"",
        "name=\"viewport\"",
    ] {
        assert!(html.contains(field), "form lacks {field}");
    }
    assert!(!html.contains("<script"), "the form needs no JavaScript");
    let submission_id = html
        .split("name=\"submission_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("submission id")
        .to_owned();

    let form = || {
        Form::new()
            .text("submission_id", submission_id.clone())
            .text("title", "Lampu jalan mati")
            .text("body", "Lampu di Jl. Sultan Ismail mati sejak seminggu.")
            .text("category", "air-bersih")
            .text("location", "")
            .text("occurred_on", "")
            .text("name", "")
            .text("email", "")
            .text("phone", "")
            .part(
                "attachments",
                Part::bytes(PNG.to_vec()).file_name("lampu.png"),
            )
    };
    let res = app.post_multipart("/", form()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.expect("html");
    let tid = html
        .split("id=\"tracking-id\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("tracking number shown")
        .to_owned();
    assert!(
        html.contains(&format!("/laporan/{tid}")),
        "status link shown"
    );

    // Pressing "Kirim" twice (or the browser resending) files it once.
    let again = app
        .post_multipart("/", form())
        .await
        .text()
        .await
        .expect("html");
    assert!(again.contains(&tid));
    assert_eq!(app.count("complaints").await, 1);
    assert_eq!(app.count("attachments").await, 1);

    let status = app.get_text(&format!("/laporan/{tid}")).await;
    assert!(status.contains("Lampu jalan mati") && status.contains("Belum terverifikasi"));
    // Lookup by number, typed carelessly.
    let res = app
        .client
        .get(app.url(&format!(
            "/laporan?nomor={}",
            tid.to_lowercase().replace('-', "")
        )))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], format!("/laporan/{tid}"));
    app.stop().await;
}

async fn invalid_input_is_shown_next_to_the_field_and_kept(b: Backend) {
    let app = spawn_app(b).await;
    let form = Form::new()
        .text("title", "")
        .text("body", "Isi <b>tebal</b> \"kutip\"")
        .text("email", "salah@")
        .text("name", "Budi <script>alert(1)</script>");
    let res = app.post_multipart("/", form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.expect("html");
    assert!(html.contains("Judul laporan wajib diisi."));
    assert!(html.contains("Alamat e-mail tidak valid"));
    assert!(
        html.contains("Isi &#60;b&#62;tebal&#60;/b&#62; &#34;kutip&#34;")
            || html.contains("Isi &lt;b&gt;tebal&lt;/b&gt; &quot;kutip&quot;"),
        "input kept and escaped"
    );
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "script not escaped"
    );
    assert!(html.contains("value=\"salah@\""), "e-mail kept");
    assert_eq!(app.count("complaints").await, 0);
    app.stop().await;
}

async fn script_in_a_report_is_escaped_on_the_status_page(b: Backend) {
    let app = spawn_app(b).await;
    let v: serde_json::Value = app
        .post_json("/api/v1/reports", &serde_json::json!({"title": "<img src=x onerror=alert(1)>", "body": "<script>alert(2)</script>"}))
        .await
        .json()
        .await
        .expect("json");
    let tid = v["tracking_id"].as_str().expect("tid");
    let html = app.get_text(&format!("/laporan/{tid}")).await;
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&#60;img src=x onerror=alert(1)&#62;")
            || html.contains("&lt;img src=x onerror=alert(1)&gt;")
    );
    // Stored as the citizen typed it: it is text.
    let rec = app
        .store
        .complaint(tid)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(rec.title, "<img src=x onerror=alert(1)>");
    app.stop().await;
}

on_both!(
    the_form_files_a_report_and_shows_the_tracking_number,
    invalid_input_is_shown_next_to_the_field_and_kept,
    script_in_a_report_is_escaped_on_the_status_page,
);
