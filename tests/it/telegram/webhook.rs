//! The webhook: the secret header, private chats filed with a receipt, threads by
//! person and by reply, edits kept in the history, groups heard only when the bot is
//! addressed, `/start` and `/status` answered and not filed, and redeliveries.

use std::time::Duration;

use serde_json::Value;

use super::fake::{dated, deliver, now_secs, outcome, webhook_app, FakeBot, SITI};
use crate::harness::{eventually, Backend};
use crate::on_both;

/// A private message from Siti, number `id` in her chat, written at `at`.
fn from_siti(update_id: i64, id: i64, at: i64, text: &str) -> Value {
    let mut v = dated("private_text.json", at);
    v["update_id"] = Value::from(update_id);
    v["message"]["message_id"] = Value::from(id);
    v["message"]["text"] = Value::from(text);
    v
}

async fn sent_eventually(fake: &FakeBot, chat: i64, n: usize) -> Vec<Value> {
    let f = fake.clone();
    eventually(Duration::from_secs(15), || {
        let f = f.clone();
        async move { f.sent_to(chat).len() >= n }
    })
    .await;
    fake.sent_to(chat)
}

async fn private_chats_are_filed_threaded_and_revised(b: Backend) {
    let fake = FakeBot::start().await;
    let app = webhook_app(b, &fake, "thread_window_secs = 3600").await;
    let three_hours_ago = now_secs() - 3 * 3600;
    let first = from_siti(
        1,
        41,
        three_hours_ago,
        "Lampu jalan di Jl. Merdeka RT 03 mati sudah dua minggu.",
    );

    // Without the secret, or with a wrong one: refused, nothing stored.
    for wrong in [
        None,
        Some("rahasia_webhook-sia"),
        Some("rahasia_webhook-siak2"),
    ] {
        assert_eq!(
            deliver(&app, &first, wrong).await.status(),
            401,
            "{wrong:?}"
        );
    }
    assert_eq!(app.count("complaints").await, 0);

    assert_eq!(outcome(&app, &first).await, "created");
    let filed = app.complaint_from(&format!("{SITI}:41")).await;
    assert_eq!(filed.channel, "telegram");
    let reporter = filed.reporter.clone().expect("reporter");
    assert_eq!(reporter.handle.as_deref(), Some("@siti_aminah"));

    // The receipt: in her chat, as a reply to her message, with the number and link.
    let sent = sent_eventually(&fake, SITI, 1).await;
    assert_eq!(sent[0]["reply_to_message_id"], 41, "{sent:?}");
    let text = sent[0]["text"].as_str().unwrap_or("");
    assert!(
        text.contains(&filed.tracking_id)
            && text.contains(&format!(
                "https://lapor.contoh.go.id/laporan/{}",
                filed.tracking_id
            )),
        "{text}"
    );

    // Telegram delivers it again: a duplicate, no second receipt.
    assert_eq!(outcome(&app, &first).await, "duplicate");
    assert_eq!(app.count("complaints").await, 1);

    // A minute later, more from her: joins her complaint.
    let more = from_siti(2, 42, three_hours_ago + 60, "Tiangnya juga miring.");
    assert_eq!(outcome(&app, &more).await, "follow_up");
    // Three hours later, past the window: a new complaint...
    let later = from_siti(3, 50, now_secs(), "Selokan di depan rumah tersumbat.");
    assert_eq!(outcome(&app, &later).await, "created");
    // ...but a reply to the receipt of the first joins the first.
    // (The fake numbers what the bot sends from 9001.)
    let mut reply = from_siti(4, 51, now_secs(), "Sampai sekarang lampunya belum menyala.");
    reply["message"]["reply_to_message"] = serde_json::json!({
        "message_id": 9001, "date": three_hours_ago + 5,
        "from": {"id": 7000000001_i64, "is_bot": true, "first_name": "Lapor Pemda"},
        "chat": {"id": SITI, "type": "private"}, "text": "Terima kasih"
    });
    assert_eq!(outcome(&app, &reply).await, "follow_up");
    let rec = app.complaint_from(&format!("{SITI}:41")).await;
    let inbound: Vec<_> = rec
        .messages
        .iter()
        .filter(|m| m.direction == "in")
        .collect();
    assert_eq!(inbound.len(), 3, "{:?}", rec.messages);
    assert!(inbound[2].body.contains("belum menyala"));

    // She edits her first message: the text changes, the earlier one is kept.
    let mut edit = dated("edited_message.json", three_hours_ago);
    edit["edited_message"]["edit_date"] = Value::from(three_hours_ago + 600);
    assert_eq!(outcome(&app, &edit).await, "revised");
    assert_eq!(outcome(&app, &edit).await, "duplicate");
    let rec = app.complaint_from(&format!("{SITI}:41")).await;
    let first_msg = &rec.messages[0];
    assert!(first_msg.body.contains("RT 04"), "{}", first_msg.body);
    assert_eq!(first_msg.history.len(), 1, "{:?}", first_msg.history);
    assert!(first_msg.history[0].previous_body.contains("RT 03"));
    assert_eq!(app.count("complaints").await, 2);
    app.stop().await;
}

async fn commands_are_answered_and_groups_heard_when_addressed(b: Backend) {
    let fake = FakeBot::start().await;
    let app = webhook_app(b, &fake, "").await;

    // /start: the help, in Indonesian; not a complaint; answered once.
    let start = dated("command_start.json", now_secs());
    assert_eq!(outcome(&app, &start).await, "ignored");
    assert_eq!(outcome(&app, &start).await, "duplicate");
    let sent = sent_eventually(&fake, SITI, 1).await;
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("Selamat datang"),
        "{sent:?}"
    );

    // A complaint, then /status with its number: the public status.
    let filed = from_siti(10, 60, now_secs(), "Air PDAM tidak mengalir sejak Senin.");
    assert_eq!(outcome(&app, &filed).await, "created");
    let tracking = app.complaint_from(&format!("{SITI}:60")).await.tracking_id;
    let mut status = dated("command_status.json", now_secs());
    status["message"]["text"] = Value::from(format!("/status {}", tracking.to_lowercase()));
    assert_eq!(outcome(&app, &status).await, "ignored");
    let mut unknown = dated("command_status.json", now_secs());
    unknown["update_id"] = Value::from(12);
    unknown["message"]["message_id"] = Value::from(61);
    unknown["message"]["text"] = Value::from("/status");
    assert_eq!(outcome(&app, &unknown).await, "ignored");
    // The help, the receipt, the status and the hint.
    let sent = sent_eventually(&fake, SITI, 4).await;
    let texts: Vec<&str> = sent.iter().filter_map(|s| s["text"].as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&format!("Laporan {tracking}: Belum terverifikasi"))),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("Kirim /status")),
        "{texts:?}"
    );
    assert_eq!(sent.len(), 4, "{texts:?}");
    assert_eq!(
        app.count("complaints").await,
        1,
        "commands are no complaints"
    );

    // A group: chatter is ignored; a mention (the username read with getMe) is filed.
    assert_eq!(
        outcome(&app, &dated("group_unaddressed.json", now_secs())).await,
        "ignored"
    );
    assert_eq!(
        outcome(&app, &dated("group_mention.json", now_secs())).await,
        "created"
    );
    assert!(
        !fake.calls("getMe").is_empty(),
        "the username came from getMe"
    );
    let group = app.complaint_from("-1001500000001:310").await;
    assert!(group.body.starts_with("Sampah di TPS"), "{}", group.body);
    // A reply to the bot in the group is heard too.
    let reply = dated("group_reply_to_bot.json", now_secs());
    assert_eq!(outcome(&app, &reply).await, "follow_up");
    assert_eq!(app.count("complaints").await, 2);
    app.stop().await;
}

/// Photos and documents: fetched with getFile from the API's host; what is over the
/// cap, announced or not, is not downloaded, and the token shows nowhere.
async fn files_are_downloaded_within_the_cap(b: Backend) {
    let fake = FakeBot::start().await;
    let app = webhook_app(b, &fake, "").await;
    let photo = dated("private_photo.json", now_secs());
    assert_eq!(outcome(&app, &photo).await, "created");
    let rec = app.complaint_from(&format!("{SITI}:42")).await;
    assert_eq!(rec.attachments.len(), 1, "{:?}", rec.body);
    assert_eq!(rec.attachments[0].content_type, "image/png");
    assert!(fake
        .calls("getFile")
        .iter()
        .any(|c| c.body["file_id"] == "AgACAgUAAxkBAAIBc2f-kecil"));

    for (n, file_id) in [
        (70_i64, super::fake::BIG_DOC),
        (71, super::fake::UNSIZED_DOC),
    ] {
        let mut doc = dated("private_document.json", now_secs());
        doc["update_id"] = Value::from(n);
        doc["message"]["message_id"] = Value::from(n);
        doc["message"]["document"]["file_id"] = Value::from(file_id);
        // Two people, so that each document is a complaint of its own.
        for who in ["from", "chat"] {
            doc["message"][who]["id"] = Value::from(5100000000 + n);
        }
        doc["message"]["document"]
            .as_object_mut()
            .expect("document")
            .remove("file_size");
        assert_eq!(outcome(&app, &doc).await, "created");
        let rec = app.complaint_from(&format!("{}:{n}", 5100000000 + n)).await;
        assert!(
            rec.attachments.is_empty(),
            "{file_id}: {:?}",
            rec.attachments
        );
        assert!(
            rec.body.contains("dokumen tidak diunduh") && rec.body.contains("larger than"),
            "{}",
            rec.body
        );
        assert!(
            !rec.body.contains("AAHrahasia"),
            "the token leaked: {}",
            rec.body
        );
    }
    assert_eq!(
        fake.calls("file:documents/besar.pdf").len(),
        0,
        "announced too big: not fetched"
    );
    assert_eq!(fake.calls("file:documents/tanpa-ukuran.pdf").len(), 1);
    app.stop().await;
}

on_both!(
    private_chats_are_filed_threaded_and_revised,
    commands_are_answered_and_groups_heard_when_addressed,
    files_are_downloaded_within_the_cap,
);
