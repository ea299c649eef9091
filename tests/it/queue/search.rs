//! The list: filters, full-text search on both back ends, and keyset pages.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use super::{call, forwarded_to, people, report};
use crate::harness::{spawn_app, Backend};
use crate::on_both;

async fn filters_full_text_search_and_keyset_pages(b: Backend) {
    let app = spawn_app(b).await;
    let p = people(&app).await;
    let road = forwarded_to(&app, &p, "Jalan berlubang di Kampung Dalam", "dpupr", false).await;
    let id_card = report(&app, "KTP elektronik belum dicetak", false).await;
    let water = report(&app, "Air PDAM keruh dan berbau", false).await;
    for i in 0..25 {
        report(
            &app,
            &format!("Lampu penerangan jalan mati nomor {i}"),
            false,
        )
        .await;
    }
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let get = |q: &str| {
        let path = format!("/api/v1/complaints?{q}");
        let app = &app;
        let token = p.coord.clone();
        async move { call(app, &token, "GET", &path, Value::Null).await }
    };

    // Whole words, any case, on both back ends; Indonesian text is not stemmed into
    // something else, and a word's prefix is not the word.
    let (s, v) = get("q=berlubang").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(titles(&v), vec!["Jalan berlubang di Kampung Dalam"]);
    let (_, v) = get("q=ktp").await;
    assert_eq!(titles(&v), vec!["KTP elektronik belum dicetak"]);
    let (_, v) = get("q=keruh%20berbau").await;
    assert_eq!(v["items"][0]["tracking_id"], water.as_str());
    let (_, v) = get("q=jalan&limit=100").await;
    assert_eq!(titles(&v).len(), 26, "{v}");
    let (_, v) = get("q=lampu%20berlubang").await;
    assert!(titles(&v).is_empty(), "all words must match");
    let (_, v) = get("q=berlub").await;
    assert!(titles(&v).is_empty(), "a prefix is not a word: {v}");
    // Search syntax in user input is only text.
    for hostile in [
        "%22",
        "jalan%20OR%20x",
        "NEAR(a%20b)",
        "*",
        "%27%3B%20DROP%20TABLE%20complaints",
        "-jalan",
    ] {
        let (s, v) = get(&format!("q={hostile}")).await;
        assert_eq!(s, StatusCode::OK, "{hostile}: {v}");
    }

    // Filters.
    let (_, v) = get("status=forwarded").await;
    assert_eq!(titles(&v), vec!["Jalan berlubang di Kampung Dalam"]);
    let (_, v) = get("unit=dpupr&channel=webform").await;
    assert_eq!(v["items"][0]["tracking_id"], road.as_str());
    let (_, v) = get("channel=email").await;
    assert!(titles(&v).is_empty());
    let (s, _) = call(
        &app,
        &p.coord,
        "POST",
        &format!("/api/v1/complaints/{id_card}/claim"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = get("claimed_by=coord").await;
    assert_eq!(v["items"][0]["tracking_id"], id_card.as_str());
    assert_eq!(titles(&v).len(), 1);

    // Keyset pages: every complaint once, oldest first, however the pages fall.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (s, v) = get(&format!("limit=7{after}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        seen.extend(
            v["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["tracking_id"].as_str().unwrap_or("").to_owned()),
        );
        match v["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 28);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 28);
    assert_eq!(seen[0], road);
    let (s, v) = get("after=bogus").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    app.stop().await;
}

on_both!(filters_full_text_search_and_keyset_pages);
