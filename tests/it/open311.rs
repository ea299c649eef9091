//! Open311 GeoReport v2: services from the categories, requests filed through the web
//! form's rules, the public list and lookup without personal data or rahasia
//! complaints, XML beside JSON, and errors in the specification's format.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{
    answer_through_queue, filed, queue_staff, spawn_app, spawn_app_toml, Backend, TestApp,
};
use crate::on_both;

const KEY: &str = "kunci-open311-uji";

async fn open311_app(b: Backend) -> TestApp {
    spawn_app_toml(
        b,
        format!("[open311]\nenabled = true\napi_key = \"{KEY}\"\n"),
    )
    .await
}

async fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(pairs)
        .send()
        .await
        .expect("post")
}

fn citizen<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("api_key", KEY),
        ("service_code", "air-bersih"),
        (
            "description",
            "Pipa PDAM bocor di depan SD 3\nAir terbuang sejak kemarin pagi.",
        ),
        ("lat", "0.7958"),
        ("long", "102.0442"),
        ("first_name", "Siti"),
        ("last_name", "Aminah"),
        ("email", "siti.open311@contoh.id"),
        ("phone", "081299887766"),
        ("media_url", "https://foto.contoh.id/pipa.jpg"),
    ];
    v.extend_from_slice(extra);
    v
}

/// Files a request and returns its id.
async fn file(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let res = post_form(app, "/open311/v2/requests.json", &citizen(extra)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    let id = body[0]["service_request_id"]
        .as_str()
        .expect("service_request_id")
        .to_owned();
    assert!(body[0]["service_notice"]
        .as_str()
        .is_some_and(|n| n.contains(&id)));
    id
}

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let res = app.get(path).await;
    let status = res.status();
    (status, res.json().await.expect("json"))
}

async fn services_are_the_categories_in_json_and_xml(b: Backend) {
    let app = open311_app(b).await;
    let (status, services) = get_json(&app, "/open311/v2/services.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(services[0]["service_code"], "air-bersih");
    assert_eq!(services[0]["service_name"], "Air bersih");
    assert_eq!(services[0]["type"], "realtime");
    assert_eq!(services[0]["metadata"], false);

    let res = app.get("/open311/v2/services.xml").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/xml"));
    let xml = res.text().await.expect("xml");
    assert!(
        xml.contains("<services><service><service_code>air-bersih</service_code>"),
        "{xml}"
    );
    assert!(xml.contains("<type>realtime</type>"), "{xml}");

    // No service has a definition; an unknown format is not served.
    let (status, err) = get_json(&app, "/open311/v2/services/air-bersih.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err[0]["code"], 404);
    assert_eq!(
        app.get("/open311/v2/services.html").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

async fn open311_is_off_unless_enabled(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(
        app.get("/open311/v2/services.json").await.status(),
        StatusCode::NOT_FOUND
    );
    let res = post_form(&app, "/open311/v2/requests.json", &citizen(&[])).await;
    assert!(
        res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        res.status()
    );
    assert_eq!(app.count("complaints").await, 0);
    app.stop().await;
}

async fn a_request_is_filed_and_read_back_without_personal_data(b: Backend) {
    let app = open311_app(b).await;
    let id = file(&app, &[]).await;

    // Filed as a complaint like any other, with its point, reporter and media link.
    let rec = app
        .store
        .complaint(&id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(rec.category.as_deref(), Some("air-bersih"));
    assert_eq!(rec.title, "Pipa PDAM bocor di depan SD 3");
    assert!(rec.body.contains("Air terbuang sejak kemarin pagi."));
    assert!(rec.body.contains("https://foto.contoh.id/pipa.jpg"));
    let location = rec.location.clone().expect("location");
    assert_eq!(location.lat, Some(0.7958));
    assert_eq!(location.lon, Some(102.0442));
    let reporter = rec.reporter.clone().expect("reporter");
    assert_eq!(reporter.name.as_deref(), Some("Siti Aminah"));
    assert_eq!(reporter.email.as_deref(), Some("siti.open311@contoh.id"));
    // The key does not end up in the original staff can read.
    let raw = app
        .store
        .complaint_original("web", &rec.external_id)
        .await
        .expect("original")
        .expect("kept");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("service_code=air-bersih"), "{raw}");
    assert!(!raw.contains(KEY), "the api_key was stored: {raw}");

    // Read back, one and in the list, in JSON and XML: no reporter, body or location.
    let (status, one) = get_json(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one[0]["service_request_id"], id.as_str());
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["service_code"], "air-bersih");
    assert_eq!(one[0]["service_name"], "Air bersih");
    assert_eq!(one[0]["description"], "Pipa PDAM bocor di depan SD 3");
    assert!(one[0]["requested_datetime"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let (_, listed) = get_json(&app, "/open311/v2/requests.json").await;
    assert!(listed
        .as_array()
        .expect("array")
        .iter()
        .any(|r| r["service_request_id"] == id.as_str()));
    let xml = app
        .get_text(&format!("/open311/v2/requests/{id}.xml"))
        .await;
    assert!(
        xml.contains(&format!(
            "<service_requests><request><service_request_id>{id}</service_request_id>"
        )),
        "{xml}"
    );
    for text in [one.to_string(), listed.to_string(), xml] {
        for private in [
            "Siti",
            "siti.open311",
            "081299887766",
            "Air terbuang",
            "102.0442",
            "foto.contoh.id",
        ] {
            assert!(!text.contains(private), "{private} is public: {text}");
        }
    }

    // Filters: status, service_code, dates, ids.
    let has = |v: &Value| {
        v.as_array()
            .expect("array")
            .iter()
            .any(|r| r["service_request_id"] == id.as_str())
    };
    for (query, expected) in [
        ("status=open", true),
        ("status=closed", false),
        ("service_code=air-bersih", true),
        ("service_code=jalan", false),
        (
            "start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z",
            false,
        ),
        (&*format!("service_request_id={id},BUKAN-NOMOR"), true),
    ] {
        let (status, v) = get_json(&app, &format!("/open311/v2/requests.json?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(has(&v), expected, "{query}: {v}");
    }
    app.stop().await;
}

async fn rahasia_complaints_are_not_listed(b: Backend) {
    let app = open311_app(b).await;
    let secret = filed(
        app.post_json(
            "/api/v1/reports",
            &json!({"title": "Pungli di kantor kelurahan", "body": "Petugas meminta uang.",
                    "category": "air-bersih", "confidential": true}),
        )
        .await,
    )
    .await;
    let open = file(&app, &[]).await;
    let (_, listed) = get_json(&app, "/open311/v2/requests.json").await;
    let ids: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["service_request_id"].as_str())
        .collect();
    assert!(ids.contains(&open.as_str()));
    assert!(
        !ids.contains(&secret.as_str()),
        "a rahasia complaint is listed"
    );
    assert!(!listed.to_string().contains("Pungli"));
    let (status, _) = get_json(&app, &format!("/open311/v2/requests/{secret}.json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, by_id) = get_json(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={secret}"),
    )
    .await;
    assert_eq!(by_id, json!([]));
    app.stop().await;
}

async fn the_api_key_is_checked_and_errors_follow_the_specification(b: Backend) {
    let app = open311_app(b).await;
    for key in [None, Some("salah"), Some("")] {
        let mut pairs: Vec<(&str, &str)> = citizen(&[])
            .into_iter()
            .filter(|(k, _)| *k != "api_key")
            .collect();
        if let Some(k) = key {
            pairs.push(("api_key", k));
        }
        let res = post_form(&app, "/open311/v2/requests.json", &pairs).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{key:?}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err[0]["code"], 403);
        assert!(err[0]["description"].as_str().is_some());
    }
    assert_eq!(app.count("complaints").await, 0);

    for (change, status, mentions) in [
        (
            ("service_code", ""),
            StatusCode::BAD_REQUEST,
            "service_code",
        ),
        (
            ("service_code", "jalan"),
            StatusCode::NOT_FOUND,
            "service_code",
        ),
        (("description", " "), StatusCode::BAD_REQUEST, "description"),
        (("lat", "95"), StatusCode::BAD_REQUEST, "lat"),
        (("long", "timur"), StatusCode::BAD_REQUEST, "long"),
        (
            ("media_url", "file:///etc/passwd"),
            StatusCode::BAD_REQUEST,
            "media_url",
        ),
        (("email", "bukan-alamat"), StatusCode::BAD_REQUEST, "email"),
    ] {
        let pairs: Vec<(&str, &str)> = citizen(&[])
            .into_iter()
            .map(|(k, v)| if k == change.0 { change } else { (k, v) })
            .collect();
        let res = post_form(&app, "/open311/v2/requests.json", &pairs).await;
        assert_eq!(res.status(), status, "{change:?}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err[0]["code"], status.as_u16(), "{change:?}");
        assert!(
            err[0]["description"]
                .as_str()
                .is_some_and(|d| d.contains(mentions)),
            "{change:?}: {err}"
        );
    }
    // No location at all.
    let pairs: Vec<(&str, &str)> = citizen(&[])
        .into_iter()
        .filter(|(k, _)| *k != "lat" && *k != "long")
        .collect();
    let res = post_form(&app, "/open311/v2/requests.xml", &pairs).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let xml = res.text().await.expect("xml");
    assert!(
        xml.contains("<errors><error><code>400</code><description>"),
        "{xml}"
    );
    // An address alone is a location.
    let pairs: Vec<(&str, &str)> = citizen(&[("address_string", "Jl. Sultan Syarif Kasim, Siak")])
        .into_iter()
        .filter(|(k, _)| *k != "lat" && *k != "long")
        .collect();
    let res = post_form(&app, "/open311/v2/requests.xml", &pairs).await;
    assert_eq!(res.status(), StatusCode::OK);
    let xml = res.text().await.expect("xml");
    assert!(
        xml.contains("<service_requests><request><service_request_id>"),
        "{xml}"
    );
    // JSON is not what this endpoint takes, and bad list filters are refused.
    let res = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .json(&json!({"service_code": "air-bersih"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    for query in ["status=selesai", "start_date=kemarin"] {
        let (status, err) = get_json(&app, &format!("/open311/v2/requests.json?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(err[0]["code"], 400);
    }
    assert_eq!(app.count("complaints").await, 1);
    app.stop().await;
}

async fn an_answer_closes_the_request_with_its_text_as_status_notes(b: Backend) {
    let app = open311_app(b).await;
    let id = file(&app, &[]).await;
    let queue = app.app.as_ref().expect("app").queue.clone();
    let staff = queue_staff(&app.store, "pdam", "o311").await;
    answer_through_queue(&queue, &staff, &id, "Pipa sudah diperbaiki petugas PDAM.").await;
    let (_, one) = get_json(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(one[0]["status"], "closed", "{one}");
    assert_eq!(
        one[0]["status_notes"],
        "Pipa sudah diperbaiki petugas PDAM."
    );
    assert_eq!(one[0]["agency_responsible"], "pdam");
    let (_, closed) = get_json(&app, "/open311/v2/requests.json?status=closed").await;
    assert!(closed
        .as_array()
        .expect("array")
        .iter()
        .any(|r| r["service_request_id"] == id.as_str()));
    app.stop().await;
}

on_both!(
    services_are_the_categories_in_json_and_xml,
    open311_is_off_unless_enabled,
    a_request_is_filed_and_read_back_without_personal_data,
    rahasia_complaints_are_not_listed,
    the_api_key_is_checked_and_errors_follow_the_specification,
    an_answer_closes_the_request_with_its_text_as_status_notes,
);
