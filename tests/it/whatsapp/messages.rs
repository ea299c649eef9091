//! The webhook: the handshake, signatures over the exact bytes, every message type filed
//! with its media fetched through the media-id endpoint (token in the header, listed
//! hosts only, size-capped), redelivery a duplicate, unreadable items quarantined.

use serde_json::Value;

use super::fake::{
    app_with, deliver, deliver_signed, fixture, FakeCloud, AUDIO, DOCUMENT, HUGE, IMAGE, MP4,
    OFF_LIST, OGG, PDF, TOKEN, VERIFY, VIDEO, WA_ID,
};
use crate::harness::Backend;
use crate::on_both;

async fn handshake(app: &crate::harness::TestApp, token: &str) -> (u16, String) {
    let res = app
        .get(&format!(
            "/webhooks/wa-siak?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
        .await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// The handshake answers only the configured verify token; a delivery without the
/// signature, or with one that does not match the bytes, is refused and nothing is
/// stored; the fixture as Meta signed it is filed, and filed once however often it
/// comes.
async fn the_webhook_is_verified_and_a_redelivery_is_a_duplicate(b: Backend) {
    let fake = FakeCloud::start().await;
    let app = app_with(b, &fake, "").await;
    assert_eq!(handshake(&app, VERIFY).await, (200, "1158201444".into()));
    assert_eq!(handshake(&app, "salah").await.0, 401);

    let vectors: Value = serde_json::from_str(&fixture("signature_vectors.json")).expect("json");
    let text = fixture("text.json");
    let sig = vectors["signatures"]["text.json"].as_str().expect("sig");
    assert_eq!(deliver(&app, text.as_bytes(), None).await.status(), 401);
    let mut forged = text.clone().into_bytes();
    forged[40] ^= 1;
    assert_eq!(deliver(&app, &forged, Some(sig)).await.status(), 401);
    assert_eq!(
        deliver(&app, text.as_bytes(), Some("sha256=00"))
            .await
            .status(),
        401
    );
    assert_eq!(app.count("inbound_keys").await, 0, "nothing stored");

    assert_eq!(deliver_signed(&app, &text).await, ["created"]);
    assert_eq!(deliver_signed(&app, &text).await, ["duplicate"]);
    assert_eq!(app.count("complaints").await, 1);
    let rec = app
        .complaint_from("wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFDNBMDAwMDAwMDAwMDAwMDAwMDAxAA==")
        .await;
    assert_eq!(rec.channel, "whatsapp");
    assert!(
        rec.body.contains("berlubang \u{2014} sudah"),
        "{}",
        rec.body
    );
    let who = rec.reporter.expect("reporter");
    assert_eq!(who.name.as_deref(), Some("Siti Aminah"));
    assert_eq!(who.phone.as_deref(), Some("+6281234567890"));

    // One unreadable message and a status that cannot be read are quarantined; the good
    // message beside them joins its sender's complaint, the reaction is ignored.
    let outcomes = deliver_signed(&app, &fixture("unreadable.json")).await;
    assert_eq!(
        outcomes,
        ["quarantined", "follow_up", "ignored", "quarantined"]
    );
    assert_eq!(app.count("intake_rejects").await, 3);
    app.stop().await;
}

on_both!(the_webhook_is_verified_and_a_redelivery_is_a_duplicate);

/// Each fixture from a sender of its own: text, image, document, audio, video, location
/// and contacts are each a complaint; the media come from the media-id endpoint and the
/// link it gives, with the token in the header.
async fn every_message_type_is_filed_with_its_media(b: Backend) {
    let fake = FakeCloud::start().await;
    let app = app_with(b, &fake, "").await;
    let cases = [
        ("text.json", "6281200000001"),
        ("image.json", "6281200000002"),
        ("document.json", "6281200000003"),
        ("audio.json", "6281200000004"),
        ("video.json", "6281200000005"),
        ("location.json", "6281200000006"),
        ("contacts.json", "6281200000007"),
    ];
    let mut ids = Vec::new();
    for (file, from) in cases {
        let body = fixture(file).replace(WA_ID, from);
        assert_eq!(deliver_signed(&app, &body).await, ["created"], "{file}");
        let v: Value = serde_json::from_str(&body).expect("json");
        ids.push(
            v["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(app.count("complaints").await, 7);
    let rec = |i: usize| app.complaint_from(&ids[i]);
    let image = rec(1).await;
    assert!(image.body.starts_with("Sampah menumpuk"), "{}", image.body);
    assert_eq!(image.attachments.len(), 1);
    assert_eq!(image.attachments[0].content_type, "image/png");
    assert_eq!(image.attachments[0].size, crate::api::PNG.len() as i64);
    let doc = rec(2).await;
    assert_eq!(doc.attachments[0].filename, "surat-keterangan.pdf");
    assert_eq!(doc.attachments[0].content_type, "application/pdf");
    assert_eq!(doc.attachments[0].size, PDF.len() as i64);
    let audio = rec(3).await;
    assert_eq!(audio.attachments[0].content_type, "audio/ogg");
    assert_eq!(audio.attachments[0].size, OGG.len() as i64);
    let video = rec(4).await;
    assert_eq!(video.attachments[0].size, MP4.len() as i64);
    let place = rec(5).await;
    let loc = place.location.expect("location");
    assert_eq!((loc.lat, loc.lon), (Some(0.79), Some(102.05)));
    assert!(place.body.contains("Pasar Siak"), "{}", place.body);
    let card = rec(6).await;
    assert!(
        card.body
            .contains("[kontak: Budi Santoso +62 812-0000-0001]"),
        "{}",
        card.body
    );
    assert!(rec(0).await.attachments.is_empty());

    // The media-id endpoint was asked for each file, then the file itself, both with
    // the token in the header and never in the link.
    let seen = fake.seen();
    for id in [IMAGE, DOCUMENT, AUDIO, VIDEO] {
        let lookup = seen
            .iter()
            .find(|s| s.path.ends_with(&format!("/{id}")))
            .unwrap_or_else(|| panic!("{id} not looked up: {seen:?}"));
        assert_eq!(
            lookup.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    let files: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/media/"))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in files {
        assert_eq!(
            f.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    app.stop().await;
}

on_both!(every_message_type_is_filed_with_its_media);

/// A file over `max_media_bytes` (its size not announced) and a link on a host that is
/// not listed are not downloaded: the message is filed all the same and says so, and
/// the unlisted host is never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_over_the_cap_or_off_the_list_are_not_downloaded() {
    let fake = FakeCloud::start().await;
    let app = app_with(Backend::Sqlite, &fake, "").await;
    let image = fixture("image.json");
    for (i, media) in [HUGE, OFF_LIST].iter().enumerate() {
        let body = image
            .replace(IMAGE, media)
            .replace(
                "wamid.GAMBAR0000000001",
                &format!("wamid.GAMBAR000000000{}", i + 5),
            )
            .replace(WA_ID, &format!("62812000000{}", i + 10));
        assert_eq!(deliver_signed(&app, &body).await, ["created"]);
        let rec = app
            .complaint_from(&format!("wamid.GAMBAR000000000{}", i + 5))
            .await;
        assert!(rec.attachments.is_empty(), "{media}: {:?}", rec.attachments);
        assert!(
            rec.body
                .contains(&format!("[lampiran tidak diunduh: media {media}]")),
            "{}",
            rec.body
        );
    }
    let seen = fake.seen();
    assert!(
        seen.iter().any(|s| s.path == "/media/besar.bin"),
        "the large file was started: {seen:?}"
    );
    assert!(
        !seen.iter().any(|s| s.path == "/media/foto.png"),
        "nothing fetched from the unlisted host: {seen:?}"
    );
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}
