//! Bot API updates as [`Inbound`] items: the pure part, shared by the webhook and
//! `getUpdates`, which deliver the same `Update` objects and so give the same ids.
//!
//! * A message's id is `{chat_id}:{message_id}` (a message id is unique in its chat);
//!   an edit's is `{chat_id}:{message_id}:edited:{edit_date}`, and it revises the first.
//! * A private chat is a complaint. In a group only a message addressed to the bot is:
//!   one that mentions `@botusername`, or replies to one of the bot's messages.
//! * `/start` (and `/help`) and `/status NOMOR` ask something of the bot: they are
//!   recorded as ignored and answered after the commit ([`Command`]), never filed.
//! * A person's messages in one chat join their open complaint within the window
//!   (`chat:{chat_id}:from:{user_id}`), and a reply to a message of the complaint
//!   (the bot's receipt included) joins it.
//! * Photos and documents are named here ([`media_of`]) and downloaded by the caller.

use std::sync::RwLock;
use std::time::Duration;

use aduan_kit::{
    Acknowledgement, ChannelName, ComplaintDraft, Inbound, InboundKind, Location, Recipient,
    Reporter, SenderThread, Threading, TrackingId,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub const KIND: &str = "telegram";

pub const DEFAULT_ACK_TEMPLATE: &str = "Terima kasih, laporan Anda sudah kami terima dengan nomor {tracking_id}. Perkembangannya dapat dipantau di {status_url} atau dengan mengirim /status {tracking_id}";

/// What `/start` and `/help` answer.
pub const HELP_TEXT: &str = "Selamat datang di layanan pengaduan. Tuliskan keluhan Anda di sini (boleh dengan foto atau dokumen), dan kami kirimkan nomor laporannya. Untuk melihat perkembangan laporan, kirim /status NOMOR, misalnya /status ABCD-EFGH.";

/// A message that asks the bot something instead of filing a complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start` or `/help`: the help text.
    Help,
    /// `/status NOMOR`: the public status of that complaint (the text after the
    /// command, as typed).
    Status(String),
}

impl Command {
    /// The command a message's text starts with, if it is one of ours. In a group a
    /// command may name its bot (`/status@lapor_bot`); one naming another bot is not ours.
    pub fn parse(text: &str, username: Option<&str>) -> Option<Self> {
        let text = text.trim_start();
        let rest = text.strip_prefix('/')?;
        let (word, args) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(w, a)| (w, a.trim()));
        let (cmd, target) = word
            .split_once('@')
            .map_or((word, None), |(c, t)| (c, Some(t)));
        if let (Some(target), Some(me)) = (target, username) {
            if !target.eq_ignore_ascii_case(me) {
                return None;
            }
        }
        match cmd.to_ascii_lowercase().as_str() {
            "start" | "help" | "bantuan" => Some(Command::Help),
            "status" | "cek" => Some(Command::Status(args.to_owned())),
            _ => None,
        }
    }
}

/// A file a message carries, to be fetched with `getFile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub file_id: String,
    /// `foto` or `dokumen`: how the complaint's text names it when it is not fetched.
    pub what: &'static str,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
}

/// The photo (the largest size within `max_bytes`, or the smallest when none is) and
/// the document a message carries.
pub fn media_of(message: &Value, max_bytes: u64) -> Vec<MediaRef> {
    let mut out = Vec::new();
    if let Some(sizes) = message["photo"].as_array() {
        let size = |p: &Value| p["file_size"].as_u64();
        let fitting = sizes
            .iter()
            .filter(|p| size(p).is_none_or(|s| s <= max_bytes))
            .max_by_key(|p| size(p).unwrap_or(0));
        let chosen = fitting.or_else(|| sizes.iter().min_by_key(|p| size(p).unwrap_or(u64::MAX)));
        if let Some(id) = chosen.and_then(|p| p["file_id"].as_str()) {
            out.push(MediaRef {
                file_id: id.to_owned(),
                what: "foto",
                file_name: None,
                mime_type: Some("image/jpeg".into()),
                size: chosen.and_then(size),
            });
        }
    }
    let doc = &message["document"];
    if let Some(id) = doc["file_id"].as_str() {
        out.push(MediaRef {
            file_id: id.to_owned(),
            what: "dokumen",
            file_name: doc["file_name"].as_str().map(str::to_owned),
            mime_type: doc["mime_type"].as_str().map(str::to_owned),
            size: doc["file_size"].as_u64(),
        });
    }
    out
}

/// The message of an update (`message` or `edited_message`) and whether it is an edit.
pub fn message_of(update: &Value) -> Option<(&Value, bool)> {
    if update["message"].is_object() {
        Some((&update["message"], false))
    } else if update["edited_message"].is_object() {
        Some((&update["edited_message"], true))
    } else {
        None
    }
}

/// `{chat_id}:{message_id}`, or `None` when either is missing.
pub fn message_key(message: &Value) -> Option<String> {
    Some(format!(
        "{}:{}",
        message["chat"]["id"].as_i64()?,
        message["message_id"].as_i64()?
    ))
}

/// The chat and the message an id of ours names (`{chat}:{message}[:edited:…]`).
pub fn parse_key(id: &str) -> Option<(i64, i64)> {
    let mut parts = id.split(':');
    let chat = parts.next()?.parse().ok()?;
    let message = parts.next()?.parse().ok()?;
    Some((chat, message))
}

fn title_of(text: &str) -> String {
    let mut t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 100 {
        t = t.chars().take(99).collect::<String>() + "…";
    }
    if t.is_empty() {
        "Laporan melalui Telegram".into()
    } else {
        t
    }
}

fn unix_time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(v.as_i64()?, 0)
}

/// Removes `@username` (any case) where it stands as a word.
fn without_mention(text: &str, username: &str) -> String {
    let mention = format!("@{username}");
    text.split_whitespace()
        .filter(|w| {
            !w.trim_end_matches([',', '.', ':', '!', '?'])
                .eq_ignore_ascii_case(&mention)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Normalizer {
    pub channel: ChannelName,
    /// The bot's own user id: the number before the colon of its token.
    bot_id: i64,
    /// The bot's `@username` without the `@`, from the configuration or `getMe`.
    username: RwLock<Option<String>>,
    window: Duration,
    max_media_bytes: u64,
    ack: Option<String>,
    ack_max_age: Duration,
}

impl Normalizer {
    pub fn new(channel: ChannelName, bot_id: i64) -> Self {
        Self {
            channel,
            bot_id,
            username: RwLock::new(None),
            window: Duration::from_secs(3 * 24 * 3600),
            max_media_bytes: 20 * 1024 * 1024,
            ack: None,
            ack_max_age: Acknowledgement::DEFAULT_MAX_AGE,
        }
    }

    /// A person's messages in one chat join their complaint within `window`.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Photos are chosen in a size within this.
    pub fn with_max_media_bytes(mut self, max: u64) -> Self {
        self.max_media_bytes = max;
        self
    }

    /// Every new complaint gets this receipt in its chat.
    pub fn with_acknowledgement(mut self, template: String) -> Self {
        self.ack = Some(template);
        self
    }

    /// Messages older than `max_age` are filed without a receipt.
    pub fn with_ack_max_age(mut self, max_age: Duration) -> Self {
        self.ack_max_age = max_age;
        self
    }

    pub fn bot_id(&self) -> i64 {
        self.bot_id
    }

    pub fn max_media_bytes(&self) -> u64 {
        self.max_media_bytes
    }

    /// The bot's username, once known.
    pub fn username(&self) -> Option<String> {
        self.username
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Learns the bot's username (from the configuration or `getMe`).
    pub fn set_username(&self, name: &str) {
        let name = name.trim().trim_start_matches('@');
        if !name.is_empty() {
            *self.username.write().unwrap_or_else(|p| p.into_inner()) = Some(name.to_owned());
        }
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

    fn ignored(&self, id: String, at: Option<DateTime<Utc>>, reason: &str, raw: &Bytes) -> Inbound {
        self.item(
            id,
            at,
            InboundKind::Ignored {
                reason: reason.to_owned(),
            },
            Threading::default(),
            raw,
        )
    }

    /// Whether a group message is meant for the bot: it replies to the bot, or names it.
    fn addressed(&self, m: &Value, text: &str) -> bool {
        if m["reply_to_message"]["from"]["id"].as_i64() == Some(self.bot_id) {
            return true;
        }
        let named_by_entity = ["entities", "caption_entities"].iter().any(|k| {
            m[*k].as_array().is_some_and(|es| {
                es.iter().any(|e| {
                    e["type"] == "text_mention" && e["user"]["id"].as_i64() == Some(self.bot_id)
                })
            })
        });
        if named_by_entity {
            return true;
        }
        match self.username() {
            Some(me) => {
                let mention = format!("@{me}");
                text.split_whitespace().any(|w| {
                    w.trim_end_matches([',', '.', ':', '!', '?'])
                        .eq_ignore_ascii_case(&mention)
                }) || text.trim_start().starts_with('/')
                    && Command::parse(text, Some(&me)).is_some()
            }
            None => false,
        }
    }

    /// One update, exactly as received (`raw`), as one item.
    pub fn update(&self, update: &Value, raw: &Bytes) -> Inbound {
        let update_id = update["update_id"].as_i64();
        let Some((m, edited)) = message_of(update) else {
            let what = update
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
                .unwrap_or_else(|| "empty".into());
            return match update_id {
                Some(u) => self.ignored(
                    format!("update:{u}"),
                    None,
                    &format!("a {what} update, not a message"),
                    raw,
                ),
                None => Inbound::quarantined_json(
                    KIND,
                    self.channel.clone(),
                    "update",
                    raw.clone(),
                    "an update without update_id".into(),
                ),
            };
        };
        let Some(key) = message_key(m) else {
            return Inbound::quarantined_json(
                KIND,
                self.channel.clone(),
                "update",
                raw.clone(),
                format!(
                    "update {}: a message without chat.id or message_id",
                    update_id.map_or_else(|| "?".into(), |u| u.to_string())
                ),
            );
        };
        let at = if edited {
            unix_time(&m["edit_date"]).or_else(|| unix_time(&m["date"]))
        } else {
            unix_time(&m["date"])
        };
        let id = if edited {
            format!(
                "{key}:edited:{}",
                m["edit_date"]
                    .as_i64()
                    .unwrap_or_else(|| at.map_or(0, |t| t.timestamp()))
            )
        } else {
            key.clone()
        };
        let from = &m["from"];
        if from["is_bot"].as_bool() == Some(true) || from["id"].as_i64() == Some(self.bot_id) {
            return self.ignored(id, at, "a message from a bot", raw);
        }
        let Some(user_id) = from["id"].as_i64() else {
            return self.ignored(id, at, "a message without a sender (a channel post)", raw);
        };
        let text = m["text"]
            .as_str()
            .or_else(|| m["caption"].as_str())
            .unwrap_or("");
        let private = m["chat"]["type"] == "private";
        if !private && !self.addressed(m, text) {
            return self.ignored(id, at, "a group message not addressed to the bot", raw);
        }
        let reason = match (Command::parse(text, self.username().as_deref()), edited) {
            (Some(_), true) => Some("an edited command: not answered again"),
            (Some(Command::Help), false) => Some("a /start command: answered with the help"),
            (Some(Command::Status(_)), false) => {
                Some("a /status command: answered with the status")
            }
            (None, _) => None,
        };
        if let Some(reason) = reason {
            return self.ignored(id, at, reason, raw);
        }
        let text = match self.username() {
            Some(me) if !private => without_mention(text, &me),
            _ => text.trim().to_owned(),
        };
        let media = media_of(m, self.max_media_bytes);
        let location = m["location"].is_object().then(|| Location {
            text: m["venue"]["address"].as_str().map(str::to_owned),
            lat: m["location"]["latitude"].as_f64(),
            lon: m["location"]["longitude"].as_f64(),
        });
        let body = if !text.is_empty() {
            text.clone()
        } else if let Some(first) = media.first() {
            format!("({} tanpa keterangan)", first.what)
        } else if location.is_some() {
            "(lokasi dibagikan)".into()
        } else {
            return self.ignored(
                id,
                at,
                "a message without text, photo, document or location (a sticker)",
                raw,
            );
        };
        let name = [from["first_name"].as_str(), from["last_name"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let draft = Box::new(ComplaintDraft {
            title: title_of(&text),
            body,
            location,
            reporter: Reporter {
                name: (!name.is_empty()).then_some(name.clone()),
                handle: from["username"].as_str().map(|u| format!("@{u}")),
                user_id: Some(user_id.to_string()),
                ..Reporter::default()
            },
            ..ComplaintDraft::default()
        });
        let chat_id = m["chat"]["id"].as_i64().unwrap_or_default();
        let mut refs = vec![key.clone()];
        if let Some(parent) = message_key(&m["reply_to_message"]) {
            refs.push(parent);
        }
        let thread = Threading {
            keys: vec![key.clone()],
            refs,
            tracking_hint: TrackingId::find_in(&text).map(|t| t.to_string()),
            sender: Some(SenderThread {
                key: format!("chat:{chat_id}:from:{user_id}"),
                window: self.window,
            }),
        };
        if edited {
            return self.item(id, at, InboundKind::Edited { of: key, draft }, thread, raw);
        }
        let mut item = self.item(id, at, InboundKind::Complaint(draft), thread, raw);
        if Acknowledgement::fresh_enough(at, self.ack_max_age) {
            item.acknowledge = self.ack.as_ref().map(|body| Acknowledgement {
                recipient: Recipient {
                    address: chat_id.to_string(),
                    name: (!name.is_empty()).then_some(name),
                },
                subject: None,
                body: body.clone(),
                in_reply_to: Some(key),
                references: Vec::new(),
                once_per: Duration::ZERO,
                per_hour: None,
            });
        }
        item
    }

    /// A body that is not an update at all (not JSON, not an object).
    pub fn unreadable(&self, raw: &Bytes, why: String) -> Inbound {
        Inbound::quarantined_json(KIND, self.channel.clone(), "update", raw.clone(), why)
    }

    /// The command a stored item asks, with the chat and the message to answer: read
    /// again from its raw update, for what was recorded as a command.
    pub fn command_in(&self, item: &Inbound) -> Option<(Command, i64, i64)> {
        if !matches!(&item.kind, InboundKind::Ignored { reason } if reason.starts_with("a /")) {
            return None;
        }
        let update: Value = serde_json::from_slice(&item.raw.bytes).ok()?;
        let (m, _) = message_of(&update)?;
        let text = m["text"].as_str()?;
        let cmd = Command::parse(text, self.username().as_deref())?;
        Some((cmd, m["chat"]["id"].as_i64()?, m["message_id"].as_i64()?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> Bytes {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        Bytes::from(std::fs::read(path).expect("fixture"))
    }

    pub(crate) fn n() -> Normalizer {
        let n = Normalizer::new(ChannelName::parse("tg").expect("name"), 7_000_000_001)
            .with_acknowledgement(DEFAULT_ACK_TEMPLATE.into());
        n.set_username("lapor_pemda_bot");
        n
    }

    fn one(name: &str) -> Inbound {
        let raw = fixture(name);
        let v: Value = serde_json::from_slice(&raw).expect("json");
        let item = n().update(&v, &raw);
        aduan_kit::testing::check_inbound(&item, &ChannelName::parse("tg").expect("name"));
        item
    }

    fn draft(item: &Inbound) -> &ComplaintDraft {
        match &item.kind {
            InboundKind::Complaint(d) | InboundKind::Edited { draft: d, .. } => d,
            other => panic!("not a complaint: {other:?}"),
        }
    }

    #[test]
    fn a_private_message_is_a_complaint_with_a_receipt() {
        let item = one("private_text.json");
        assert_eq!(item.external_id, "5100000001:41");
        let d = draft(&item);
        assert!(d.body.contains("Lampu jalan"), "{}", d.body);
        assert_eq!(d.reporter.user_id.as_deref(), Some("5100000001"));
        assert_eq!(d.reporter.handle.as_deref(), Some("@siti_aminah"));
        assert_eq!(d.reporter.name.as_deref(), Some("Siti Aminah"));
        assert_eq!(
            item.thread.sender.as_ref().map(|s| s.key.as_str()),
            Some("chat:5100000001:from:5100000001")
        );
        // The fixture is from 2025: too old for a receipt.
        assert!(item.acknowledge.is_none());
        let mut v: Value = serde_json::from_slice(&fixture("private_text.json")).expect("json");
        v["message"]["date"] = Value::from(Utc::now().timestamp());
        let fresh = n().update(&v, &fixture("private_text.json"));
        let ack = fresh.acknowledge.expect("receipt");
        assert_eq!(ack.recipient.address, "5100000001");
        assert_eq!(ack.in_reply_to.as_deref(), Some("5100000001:41"));
    }

    #[test]
    fn groups_are_heard_only_when_the_bot_is_addressed() {
        let ignored = one("group_unaddressed.json");
        assert!(
            matches!(&ignored.kind, InboundKind::Ignored { reason } if reason.contains("not addressed")),
            "{:?}",
            ignored.kind
        );
        let mention = one("group_mention.json");
        let d = draft(&mention);
        assert!(!d.body.contains("@lapor_pemda_bot"), "{}", d.body);
        assert!(d.body.contains("Sampah"), "{}", d.body);
        assert_eq!(mention.external_id, "-1001500000001:310");
        let reply = one("group_reply_to_bot.json");
        assert!(draft(&reply).body.contains("belum"), "{:?}", reply.kind);
        assert!(
            reply.thread.refs.contains(&"-1001500000001:311".to_owned()),
            "a reply names the bot's message: {:?}",
            reply.thread.refs
        );
        // Without the username, a mention cannot be recognised, but a reply still is.
        let blind = Normalizer::new(ChannelName::parse("tg").expect("name"), 7_000_000_001);
        let raw = fixture("group_mention.json");
        let v: Value = serde_json::from_slice(&raw).expect("json");
        assert!(matches!(
            blind.update(&v, &raw).kind,
            InboundKind::Ignored { .. }
        ));
    }

    #[test]
    fn an_edit_revises_the_message_it_edits() {
        let item = one("edited_message.json");
        assert_eq!(item.external_id, "5100000001:41:edited:1764900600");
        match &item.kind {
            InboundKind::Edited { of, draft } => {
                assert_eq!(of, "5100000001:41");
                assert!(draft.body.contains("RT 04"), "{}", draft.body);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands_are_recorded_not_filed() {
        let start = one("command_start.json");
        assert!(matches!(&start.kind, InboundKind::Ignored { .. }));
        assert_eq!(
            n().command_in(&start),
            Some((Command::Help, 5100000001, 40))
        );
        let status = one("command_status.json");
        assert_eq!(
            n().command_in(&status),
            Some((Command::Status("7KQM-3XW0".into()), 5100000001, 45))
        );
        assert_eq!(
            Command::parse("/status@lain_bot X", Some("lapor_pemda_bot")),
            None
        );
        assert_eq!(
            Command::parse("/START@Lapor_Pemda_Bot", Some("lapor_pemda_bot")),
            Some(Command::Help)
        );
        assert_eq!(Command::parse("jalan /start", None), None);
        // An edited command is neither filed nor answered again.
        let mut v: Value = serde_json::from_slice(&fixture("command_status.json")).expect("json");
        v["edited_message"] = v["message"].take();
        v["edited_message"]["edit_date"] = Value::from(1764901060);
        let edited = n().update(&v, &fixture("command_status.json"));
        assert!(
            matches!(&edited.kind, InboundKind::Ignored { .. }),
            "{:?}",
            edited.kind
        );
        assert!(n().command_in(&edited).is_none());
        // A complaint is no command.
        assert!(n().command_in(&one("private_text.json")).is_none());
    }

    #[test]
    fn photos_and_documents_are_named_for_download() {
        let raw = fixture("private_photo.json");
        let v: Value = serde_json::from_slice(&raw).expect("json");
        let media = media_of(&v["message"], 20 * 1024 * 1024);
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].file_id, "AgACAgUAAxkBAAIBc2f-besar");
        // With a small cap, the largest size that fits.
        let media = media_of(&v["message"], 20_000);
        assert_eq!(media[0].file_id, "AgACAgUAAxkBAAIBc2f-sedang");
        let item = n().update(&v, &raw);
        assert!(draft(&item).body.contains("Jalan berlubang"));
        let raw = fixture("private_document.json");
        let v: Value = serde_json::from_slice(&raw).expect("json");
        let media = media_of(&v["message"], 20 * 1024 * 1024);
        assert_eq!(media[0].what, "dokumen");
        assert_eq!(media[0].file_name.as_deref(), Some("surat-keterangan.pdf"));
        let d = n().update(&v, &raw);
        assert_eq!(draft(&d).body, "(dokumen tanpa keterangan)");
    }

    #[test]
    fn what_is_no_message_is_ignored_or_quarantined() {
        let raw = Bytes::from_static(br#"{"update_id":9,"my_chat_member":{}}"#);
        let v: Value = serde_json::from_slice(&raw).expect("json");
        let item = n().update(&v, &raw);
        assert_eq!(item.external_id, "update:9");
        assert!(matches!(item.kind, InboundKind::Ignored { .. }));
        let raw = Bytes::from_static(br#"{"update_id":9,"message":{"text":"x"}}"#);
        let v: Value = serde_json::from_slice(&raw).expect("json");
        assert!(matches!(
            n().update(&v, &raw).kind,
            InboundKind::Quarantine { .. }
        ));
        assert_eq!(parse_key("-100:5:edited:9"), Some((-100, 5)));
        assert_eq!(parse_key("x"), None);
    }
}
