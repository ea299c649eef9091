//! Threading: a person's messages join their open complaint while the previous one is
//! within the window; a reply quoting a message (`context.id`), theirs or our receipt
//! to them, joins that message's complaint whenever it comes.

use std::time::Duration;

use serde_json::json;

use super::fake::{app_with, deliver_signed, message_body, now_secs, sent_id, FakeCloud};
use crate::harness::{eventually, Backend};
use crate::on_both;

fn text(body: &str) -> serde_json::Value {
    json!({"type": "text", "text": {"body": body}})
}

async fn messages_join_by_window_and_by_the_message_they_quote(b: Backend) {
    let fake = FakeCloud::start().await;
    let app = app_with(b, &fake, "thread_window_secs = 3600").await;
    let me = "6281277700001";
    let now = now_secs();
    let first = message_body(
        "wamid.UTAS01",
        me,
        now - 2 * 3600,
        text("Lampu jalan di Jl. Sudirman mati."),
    );
    let soon = message_body(
        "wamid.UTAS02",
        me,
        now - 2 * 3600 + 60,
        text("Sudah tiga malam."),
    );
    let later = message_body(
        "wamid.UTAS03",
        me,
        now - 60,
        text("Ada juga sampah di pasar."),
    );
    assert_eq!(deliver_signed(&app, &first).await, ["created"]);
    assert_eq!(
        deliver_signed(&app, &soon).await,
        ["follow_up"],
        "a minute later: joins"
    );
    assert_eq!(
        deliver_signed(&app, &later).await,
        ["created"],
        "two hours later, past the window: a complaint of its own"
    );
    let lamp = app.complaint_from("wamid.UTAS01").await;
    let market = app.complaint_from("wamid.UTAS03").await;
    assert_ne!(lamp.tracking_id, market.tracking_id);

    // Quoting the first message joins the first complaint, though the window now leads
    // to the second.
    let mut quoting = text("Yang saya maksud lampu di depan masjid.");
    quoting["context"] = json!({"from": me, "id": "wamid.UTAS01"});
    let quoted = message_body("wamid.UTAS04", me, now, quoting);
    assert_eq!(deliver_signed(&app, &quoted).await, ["follow_up"]);
    let lamp = app.complaint_from("wamid.UTAS01").await;
    assert!(
        lamp.messages
            .iter()
            .any(|m| m.body.contains("depan masjid")),
        "{:?}",
        lamp.messages
    );

    // The receipts went out; quoting the receipt of the second complaint joins it.
    assert!(
        eventually(Duration::from_secs(15), || {
            let n = fake.sends().len();
            async move { n == 2 }
        })
        .await,
        "{:?}",
        fake.sends()
    );
    let receipt_of_market = fake
        .sends()
        .iter()
        .position(|s| {
            s["text"]["body"]
                .as_str()
                .is_some_and(|t| t.contains(&market.tracking_id))
        })
        .expect("the market's receipt");
    let receipt_id = sent_id(receipt_of_market as u32 + 1);
    // The dispatcher records the id as it finishes the send.
    let store = app.store.clone();
    let tid = market.tracking_id.clone();
    let rid = receipt_id.clone();
    assert!(
        eventually(Duration::from_secs(10), || {
            let (store, tid, rid) = (store.clone(), tid.clone(), rid.clone());
            async move {
                store
                    .outbound_for(&tid)
                    .await
                    .is_ok_and(|o| o.iter().any(|r| r.external_id.as_deref() == Some(&*rid)))
            }
        })
        .await
    );
    let mut answer = text("Pasarnya Pasar Bawah.");
    answer["context"] = json!({"from": "6281100000000", "id": receipt_id});
    let reply = message_body("wamid.UTAS05", me, now + 1, answer);
    // (Within the window too, but the quote decides first.)
    assert_eq!(deliver_signed(&app, &reply).await, ["follow_up"]);
    let market = app.complaint_from("wamid.UTAS03").await;
    assert!(
        market
            .messages
            .iter()
            .any(|m| m.body.contains("Pasar Bawah")),
        "{:?}",
        market.messages
    );
    assert_eq!(app.count("complaints").await, 2);
    app.stop().await;
}

on_both!(messages_join_by_window_and_by_the_message_they_quote);
