//! A Cloud API webhook body (`object: whatsapp_business_account`) as [`Inbound`]
//! items, each message and each status on its own.
//!
//! * A message (text, image, document, audio, video, location, contacts, a button or
//!   list answer) is a complaint keyed by its `wamid`. It joins its sender's open
//!   complaint (`wa:{wa_id}`) within the configured window, and the complaint of the
//!   message it quotes (`context.id`), whenever that was.
//! * Media are named here by their media id; the webhook downloads them before the
//!   commit ([`crate::webhook`]).
//! * A status (`sent`, `delivered`, `read`, `failed`) of a message the daemon sent is
//!   recorded on its delivery: never a complaint.
//! * Reactions, stickers and what the API cannot show are ignored with a reason; an
//!   item that cannot be read is quarantined on its own, and the others go on.

use std::time::Duration;

use aduan_kit::{
    Acknowledgement, ChannelName, ComplaintDraft, DeliveryStatus, Inbound, InboundKind, Location,
    Recipient, Reporter, SenderThread, Threading,
};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

pub const KIND: &str = "whatsapp";

pub const DEFAULT_ACK_TEMPLATE: &str = "Terima kasih, laporan Anda sudah kami terima dengan nomor {tracking_id}. Perkembangannya dapat dipantau di {status_url}";

/// The media types a message may carry, with how the text names them.
pub const MEDIA_TYPES: [(&str, &str); 4] = [
    ("image", "foto"),
    ("document", "dokumen"),
    ("audio", "pesan suara"),
    ("video", "video"),
];

pub struct Normalizer {
    pub channel: ChannelName,
    phone_number_id: String,
    window: Duration,
    ack: Option<String>,
    ack_max_age: Duration,
}

fn title_of(text: &str) -> String {
    let mut t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 100 {
        t = t.chars().take(99).collect::<String>() + "…";
    }
    if t.is_empty() || t.starts_with('[') {
        "Laporan melalui WhatsApp".into()
    } else {
        t
    }
}

fn secs(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// The media id of a message's image, document, audio or video, with its type.
pub fn media_of(message: &Value) -> Option<(&'static str, &str)> {
    let kind = message["type"].as_str()?;
    let (kind, _) = MEDIA_TYPES.iter().find(|(k, _)| *k == kind)?;
    Some((kind, message[*kind]["id"].as_str()?))
}

/// What a message says, as text: its body, a caption, a place, contacts, the choice
/// made. `Err` for what is not a complaint (a reaction, a sticker).
fn text_of(m: &Value) -> Result<(String, Option<Location>), String> {
    let kind = m["type"].as_str().unwrap_or("");
    let mut loc = None;
    let text = match kind {
        "text" => m["text"]["body"].as_str().unwrap_or("").to_owned(),
        "image" | "document" | "audio" | "video" => {
            let media = &m[kind];
            let label = MEDIA_TYPES
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(kind, |(_, l)| l);
            let mut t = media["caption"].as_str().unwrap_or("").to_owned();
            let name = media["filename"].as_str().map(|f| format!(": {f}"));
            if !t.is_empty() {
                t.push('\n');
            }
            t.push_str(&format!("[{label}{}]", name.unwrap_or_default()));
            t
        }
        "location" => {
            let l = &m["location"];
            let (lat, lon) = (l["latitude"].as_f64(), l["longitude"].as_f64());
            let place: Vec<&str> = [l["name"].as_str(), l["address"].as_str()]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            let place = (!place.is_empty()).then(|| place.join(", "));
            if lat.is_none() && lon.is_none() && place.is_none() {
                return Err("a location without coordinates or a name".into());
            }
            let mut t = "[lokasi".to_owned();
            if let Some(p) = &place {
                t.push_str(&format!(": {p}"));
            }
            if let (Some(a), Some(o)) = (lat, lon) {
                t.push_str(&format!(" ({a}, {o})"));
            }
            t.push(']');
            loc = Some(Location {
                text: place,
                lat,
                lon,
            });
            t
        }
        "contacts" => {
            let mut t = String::new();
            for c in m["contacts"].as_array().into_iter().flatten() {
                let name = c["name"]["formatted_name"].as_str().unwrap_or("");
                let phones: Vec<&str> = c["phones"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["phone"].as_str())
                    .collect();
                t.push_str(&format!("[kontak: {name} {}]\n", phones.join(", ")));
            }
            if t.is_empty() {
                return Err("a contacts message without contacts".into());
            }
            t.trim_end().to_owned()
        }
        "button" => m["button"]["text"].as_str().unwrap_or("").to_owned(),
        "interactive" => {
            let i = &m["interactive"];
            i["button_reply"]["title"]
                .as_str()
                .or_else(|| i["list_reply"]["title"].as_str())
                .unwrap_or("")
                .to_owned()
        }
        "reaction" => return Err("a reaction, not a message".into()),
        "sticker" => return Err("a sticker without text".into()),
        other => {
            return Err(format!(
                "a message of type {other:?} the channel does not read"
            ))
        }
    };
    Ok((text, loc))
}

impl Normalizer {
    pub fn new(channel: ChannelName, phone_number_id: &str) -> Self {
        Self {
            channel,
            phone_number_id: phone_number_id.to_owned(),
            window: Duration::from_secs(3 * 24 * 3600),
            ack: None,
            ack_max_age: Acknowledgement::DEFAULT_MAX_AGE,
        }
    }

    /// A person's messages join their complaint within `window`.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Every new complaint gets this receipt on WhatsApp.
    pub fn with_acknowledgement(mut self, template: String) -> Self {
        self.ack = Some(template);
        self
    }

    /// Messages older than `max_age` are filed without a receipt.
    pub fn with_ack_max_age(mut self, max_age: Duration) -> Self {
        self.ack_max_age = max_age;
        self
    }

    fn item(
        &self,
        id: String,
        at: Option<DateTime<Utc>>,
        kind: InboundKind,
        thread: Threading,
        raw: &Bytes,
    ) -> Inbound {
        Inbound::from_json(
            KIND,
            self.channel.clone(),
            id,
            at,
            kind,
            thread,
            raw.clone(),
        )
    }

    /// Every message and status of a webhook body; `raw` is the body's exact bytes,
    /// kept with each item it yields.
    pub fn entries(&self, body: &Value, raw: &Bytes) -> Vec<Inbound> {
        let mut out = Vec::new();
        let unreadable = |place: String, reason: String| {
            let mut item = Inbound::quarantined_json(
                KIND,
                self.channel.clone(),
                "webhook",
                raw.clone(),
                reason,
            );
            item.external_id.push_str(&place);
            item
        };
        for (e, entry) in body["entry"].as_array().into_iter().flatten().enumerate() {
            for (c, change) in entry["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if change["field"] != "messages" {
                    continue;
                }
                let value = &change["value"];
                let to = value["metadata"]["phone_number_id"].as_str().unwrap_or("");
                if to != self.phone_number_id {
                    // Another number of the same business account: its own channel's.
                    continue;
                }
                for (m, msg) in value["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    match self.message(value, msg, raw) {
                        Ok(item) => out.push(item),
                        Err(why) => {
                            out.push(unreadable(format!(":{e}:changes:{c}:messages:{m}"), why))
                        }
                    }
                }
                for (s, st) in value["statuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    match self.status(st, raw) {
                        Ok(item) => out.push(item),
                        Err(why) => {
                            out.push(unreadable(format!(":{e}:changes:{c}:statuses:{s}"), why))
                        }
                    }
                }
            }
        }
        out
    }

    /// One message; `Err` when it cannot be read.
    fn message(&self, value: &Value, m: &Value, raw: &Bytes) -> Result<Inbound, String> {
        let id = m["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("a message without id")?
            .to_owned();
        let from = m["from"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("message {id} without from"))?
            .to_owned();
        let at = secs(&m["timestamp"]);
        let (text, location) = match text_of(m) {
            Ok(t) => t,
            Err(reason) => {
                return Ok(self.item(
                    id,
                    at,
                    InboundKind::Ignored { reason },
                    Threading::default(),
                    raw,
                ))
            }
        };
        if text.trim().is_empty() {
            return Ok(self.item(
                id,
                at,
                InboundKind::Ignored {
                    reason: "a message without text".into(),
                },
                Threading::default(),
                raw,
            ));
        }
        let name = value["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["wa_id"].as_str() == Some(from.as_str()))
            .and_then(|c| c["profile"]["name"].as_str())
            .map(str::to_owned);
        let thread = Threading {
            keys: vec![id.clone()],
            refs: m["context"]["id"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect(),
            tracking_hint: aduan_kit::tracking::TrackingId::find_in(&text).map(|t| t.to_string()),
            sender: Some(SenderThread {
                key: format!("wa:{from}"),
                window: self.window,
            }),
        };
        let draft = ComplaintDraft {
            title: title_of(&text),
            body: text.trim().to_owned(),
            location,
            reporter: Reporter {
                name: name.clone(),
                phone: Some(format!("+{from}")),
                user_id: Some(from.clone()),
                ..Reporter::default()
            },
            ..ComplaintDraft::default()
        };
        let mut item = self.item(
            id.clone(),
            at,
            InboundKind::Complaint(Box::new(draft)),
            thread,
            raw,
        );
        if Acknowledgement::fresh_enough(at, self.ack_max_age) {
            item.acknowledge = self.ack.as_ref().map(|body| Acknowledgement {
                per_hour: None,
                recipient: Recipient {
                    address: from,
                    name,
                },
                subject: None,
                body: body.clone(),
                in_reply_to: Some(id),
                references: Vec::new(),
                once_per: Duration::ZERO,
            });
        }
        Ok(item)
    }

    /// One status of a message the daemon sent; `Err` when it cannot be read.
    fn status(&self, s: &Value, raw: &Bytes) -> Result<Inbound, String> {
        let of = s["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("a status without the message id")?
            .to_owned();
        let word = s["status"].as_str().unwrap_or("");
        let status = DeliveryStatus::parse(word).ok_or_else(|| {
            format!("status {word:?} of {of} is not sent, delivered, read or failed")
        })?;
        let detail = s["errors"].as_array().and_then(|errs| {
            let e = errs.first()?;
            let mut d = format!(
                "(#{}) {}",
                e["code"].as_i64().unwrap_or(0),
                e["title"]
                    .as_str()
                    .or_else(|| e["message"].as_str())
                    .unwrap_or("")
            );
            if let Some(more) = e["error_data"]["details"].as_str() {
                d.push_str(&format!(": {more}"));
            }
            Some(d)
        });
        Ok(self.item(
            format!("{of}:status:{}", status.as_str()),
            secs(&s["timestamp"]),
            InboundKind::Status { of, status, detail },
            Threading::default(),
            raw,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixture_bytes(name: &str) -> Bytes {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        Bytes::from(std::fs::read(path).expect("fixture"))
    }

    fn items(name: &str) -> Vec<Inbound> {
        let raw = fixture_bytes(name);
        let v: Value = serde_json::from_slice(&raw).expect("json");
        n().entries(&v, &raw)
    }

    fn n() -> Normalizer {
        Normalizer::new(ChannelName::parse("wa").expect("name"), "106540000000001")
            .with_acknowledgement(DEFAULT_ACK_TEMPLATE.into())
    }

    fn draft(it: &Inbound) -> &ComplaintDraft {
        match &it.kind {
            InboundKind::Complaint(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_text_is_a_complaint_of_its_sender_keyed_by_its_wamid() {
        let all = items("text.json");
        assert_eq!(all.len(), 1);
        let it = &all[0];
        aduan_kit::testing::check_inbound(it, &ChannelName::parse("wa").expect("name"));
        assert_eq!(
            it.external_id,
            "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFDNBMDAwMDAwMDAwMDAwMDAwMDAxAA=="
        );
        assert_eq!(it.received_at.timestamp(), 1763603990);
        let d = draft(it);
        assert!(d.body.contains("Jalan di depan SDN 5"), "{}", d.body);
        assert!(
            d.body.contains("berlubang \u{2014} sudah") && d.body.contains('\u{1F61F}'),
            "the \\u escapes are read: {}",
            d.body
        );
        assert_eq!(d.reporter.name.as_deref(), Some("Siti Aminah"));
        assert_eq!(d.reporter.user_id.as_deref(), Some("6281234567890"));
        assert_eq!(d.reporter.phone.as_deref(), Some("+6281234567890"));
        let sender = it.thread.sender.as_ref().expect("sender");
        assert_eq!(sender.key, "wa:6281234567890");
        assert!(it.thread.refs.is_empty());
        assert!(
            it.acknowledge.is_none(),
            "a year-old message gets no receipt"
        );
    }

    #[test]
    fn every_message_type_is_read() {
        let cases = [
            ("image.json", "[foto]", Some(("image", "1480000000000001"))),
            (
                "document.json",
                "[dokumen: surat-keterangan.pdf]",
                Some(("document", "1480000000000002")),
            ),
            (
                "audio.json",
                "[pesan suara]",
                Some(("audio", "1480000000000003")),
            ),
            ("video.json", "[video]", Some(("video", "1480000000000004"))),
            (
                "location.json",
                "[lokasi: Pasar Siak, Jl. Sultan Ismail (0.79, 102.05)]",
                None,
            ),
            (
                "contacts.json",
                "[kontak: Budi Santoso +62 812-0000-0001]",
                None,
            ),
        ];
        for (file, needle, media) in cases {
            let all = items(file);
            assert_eq!(all.len(), 1, "{file}");
            let d = draft(&all[0]);
            assert!(d.body.contains(needle), "{file}: {}", d.body);
            let raw: Value = serde_json::from_slice(&fixture_bytes(file)).expect("json");
            let msg = &raw["entry"][0]["changes"][0]["value"]["messages"][0];
            assert_eq!(media_of(msg), media, "{file}");
        }
        let image = &items("image.json")[0];
        assert!(
            draft(image).body.starts_with("Sampah menumpuk"),
            "the caption leads"
        );
        let loc = &items("location.json")[0];
        let l = draft(loc).location.as_ref().expect("location");
        assert_eq!((l.lat, l.lon), (Some(0.79), Some(102.05)));
        assert_eq!(l.text.as_deref(), Some("Pasar Siak, Jl. Sultan Ismail"));
    }

    #[test]
    fn a_quoted_message_is_named_and_statuses_are_not_complaints() {
        let reply = &items("reply_context.json")[0];
        assert_eq!(
            reply.thread.refs,
            vec!["wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjk5QkFMQVNBTjAwMDAwMDAxAA==".to_owned()]
        );
        let st = items("statuses.json");
        assert_eq!(st.len(), 4);
        let got: Vec<(String, DeliveryStatus, Option<String>)> = st
            .iter()
            .map(|i| match &i.kind {
                InboundKind::Status { of, status, detail } => (of.clone(), *status, detail.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got[0].1, DeliveryStatus::Sent);
        assert_eq!(got[1].1, DeliveryStatus::Delivered);
        assert_eq!(got[2].1, DeliveryStatus::Read);
        assert_eq!(got[3].1, DeliveryStatus::Failed);
        assert!(
            got[3].2.as_deref().is_some_and(|d| d.contains("131026")),
            "{:?}",
            got[3]
        );
        assert_ne!(st[0].external_id, st[1].external_id);
        for i in &st {
            aduan_kit::testing::check_inbound(i, &ChannelName::parse("wa").expect("name"));
        }
    }

    #[test]
    fn an_unreadable_item_is_quarantined_and_the_others_go_on() {
        let all = items("unreadable.json");
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(
            matches!(&all[0].kind, InboundKind::Quarantine { reason } if reason.contains("without id"))
        );
        assert!(all[0].external_id.ends_with(":0:changes:0:messages:0"));
        assert!(matches!(all[1].kind, InboundKind::Complaint(_)));
        assert!(
            matches!(&all[2].kind, InboundKind::Ignored { reason } if reason.contains("reaction"))
        );
        assert!(
            matches!(&all[3].kind, InboundKind::Quarantine { reason } if reason.contains("\"dibaca\""))
        );
        assert_ne!(all[0].external_id, all[3].external_id);
    }

    #[test]
    fn another_numbers_messages_are_left_to_its_channel() {
        let raw = fixture_bytes("text.json");
        let v: Value = serde_json::from_slice(&raw).expect("json");
        let other = Normalizer::new(ChannelName::parse("wa").expect("name"), "999");
        assert!(other.entries(&v, &raw).is_empty());
    }

    #[test]
    fn a_fresh_message_gets_a_receipt_to_its_sender_under_it() {
        let raw = fixture_bytes("text.json");
        let mut v: Value = serde_json::from_slice(&raw).expect("json");
        v["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
            Value::from(Utc::now().timestamp().to_string());
        let it = &n().entries(&v, &raw)[0];
        let ack = it.acknowledge.as_ref().expect("receipt");
        assert_eq!(ack.recipient.address, "6281234567890");
        assert_eq!(ack.in_reply_to.as_deref(), Some(it.external_id.as_str()));
        assert!(ack.body.contains("{tracking_id}") && ack.body.contains("{status_url}"));
    }
}
