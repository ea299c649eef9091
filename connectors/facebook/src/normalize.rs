//! Page webhook entries and polled Graph objects as [`Inbound`] items. Both paths give
//! the same external ids (comment id, post id, Messenger `mid`), so a message seen by
//! both is one record.
//!
//! * A comment or a visitor post (`verb: add`) is a complaint; its thread key is its
//!   id, and it names its parent (the top-level comment, or the post), so a reply under
//!   a comment that already is a complaint joins it.
//! * An edit (`verb: edited`) replaces the text of what it edits, keeping the earlier
//!   text; a removal (`verb: remove`) marks it removed.
//! * The Page's own posts, comments and Messenger echoes (`is_echo`) are never
//!   complaints.
//! * A Messenger message joins its sender's open complaint (`psid:{sender}`) within the
//!   configured window; later it files a new one.

use std::time::Duration;

use aduan_kit::{
    Acknowledgement, ChannelName, ComplaintDraft, Inbound, InboundKind, Raw, Recipient, Reporter,
    SenderThread, Threading,
};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

pub const KIND: &str = "facebook";

pub const DEFAULT_ACK_TEMPLATE: &str = "Terima kasih, laporan Anda sudah kami terima dengan nomor {tracking_id}. Perkembangannya dapat dipantau di {status_url}";

pub struct Normalizer {
    pub channel: ChannelName,
    page_id: String,
    window: Duration,
    ack: Option<String>,
    ack_max_age: Duration,
}

fn title_of(text: &str) -> String {
    let mut t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 100 {
        t = t.chars().take(99).collect::<String>() + "…";
    }
    if t.is_empty() {
        "Laporan melalui Facebook".into()
    } else {
        t
    }
}

fn secs(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single())
}

fn millis(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// Graph's `2026-11-20T01:59:50+0000`.
pub fn graph_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A comment or a post, as the webhook and the Graph API both describe it.
struct FeedItem<'a> {
    id: String,
    what: &'a str,
    /// The top-level comment a reply answers, or the post a comment is under.
    parent: Option<String>,
    from: &'a Value,
    text: String,
    at: Option<DateTime<Utc>>,
}

/// A Messenger message from a person to the Page.
struct Message {
    mid: String,
    sender: String,
    name: Option<String>,
    text: String,
    at: Option<DateTime<Utc>>,
    reply_to: Option<String>,
}

/// The links of a message's attachments, from the webhook (`payload.url`) or the Graph
/// API (`image_data.url`, `video_data.url`, `file_url`).
pub fn attachment_links(message: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let list = message["attachments"]
        .as_array()
        .or_else(|| message["attachments"]["data"].as_array());
    for a in list.into_iter().flatten() {
        let url = a["payload"]["url"]
            .as_str()
            .or_else(|| a["image_data"]["url"].as_str())
            .or_else(|| a["video_data"]["url"].as_str())
            .or_else(|| a["file_url"].as_str());
        let kind = a["type"]
            .as_str()
            .or_else(|| a["mime_type"].as_str().and_then(|m| m.split('/').next()))
            .unwrap_or("file");
        if let Some(url) = url {
            out.push((kind.to_owned(), url.to_owned()));
        }
    }
    out
}

impl Normalizer {
    pub fn new(channel: ChannelName, page_id: &str) -> Self {
        Self {
            channel,
            page_id: page_id.to_owned(),
            window: Duration::from_secs(3 * 24 * 3600),
            ack: None,
            ack_max_age: Acknowledgement::DEFAULT_MAX_AGE,
        }
    }

    /// Messenger messages join their sender's complaint within `window`.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Every new complaint gets this receipt on Facebook.
    pub fn with_acknowledgement(mut self, template: String) -> Self {
        self.ack = Some(template);
        self
    }

    /// Messages older than `max_age` are filed without a receipt.
    pub fn with_ack_max_age(mut self, max_age: Duration) -> Self {
        self.ack_max_age = max_age;
        self
    }

    pub fn page_id(&self) -> &str {
        &self.page_id
    }

    fn item(
        &self,
        id: String,
        at: Option<DateTime<Utc>>,
        kind: InboundKind,
        thread: Threading,
        raw: &Bytes,
    ) -> Inbound {
        Inbound {
            channel: KIND,
            channel_name: self.channel.clone(),
            external_id: id,
            received_at: at.unwrap_or_else(Utc::now),
            kind,
            thread,
            raw: Raw {
                content_type: "application/json".into(),
                bytes: raw.clone(),
            },
            acknowledge: None,
        }
    }

    fn draft(text: &str, name: Option<&str>, user_id: &str) -> Box<ComplaintDraft> {
        Box::new(ComplaintDraft {
            title: title_of(text),
            body: text.trim().to_owned(),
            reporter: Reporter {
                name: name.map(str::to_owned),
                user_id: (!user_id.is_empty()).then(|| user_id.to_owned()),
                ..Reporter::default()
            },
            ..ComplaintDraft::default()
        })
    }

    /// The receipt for a message written at `at`. Only fresh messages get one: what a
    /// first poll or a catch-up finds from days ago is filed without a public reply under
    /// an old comment (and Messenger would refuse it after 24 hours anyway).
    fn acknowledgement(
        &self,
        at: Option<DateTime<Utc>>,
        address: &str,
        name: Option<&str>,
        reply_to: &str,
    ) -> Option<Acknowledgement> {
        if !Acknowledgement::fresh_enough(at, self.ack_max_age) {
            return None;
        }
        self.ack.as_ref().map(|body| Acknowledgement {
            per_hour: None,
            recipient: Recipient {
                address: address.to_owned(),
                name: name.map(str::to_owned),
            },
            subject: None,
            body: body.clone(),
            in_reply_to: Some(reply_to.to_owned()),
            references: Vec::new(),
            once_per: Duration::ZERO,
        })
    }

    /// A new comment or post (`add`).
    fn added(&self, f: FeedItem<'_>, raw: &Bytes) -> Inbound {
        let mut thread = Threading {
            keys: vec![f.id.clone()],
            // Its own id first: an edit filed before it (a missed delivery) named it.
            refs: vec![f.id.clone()],
            ..Threading::default()
        };
        thread.refs.extend(f.parent.clone());
        let from_id = f.from["id"].as_str().unwrap_or("");
        if from_id == self.page_id {
            return self.item(
                f.id,
                f.at,
                InboundKind::Ignored {
                    reason: format!("the Page's own {}", f.what),
                },
                Threading::default(),
                raw,
            );
        }
        if f.text.trim().is_empty() {
            return self.item(
                f.id,
                f.at,
                InboundKind::Ignored {
                    reason: format!("a {} without text (a sticker or an emoji)", f.what),
                },
                Threading::default(),
                raw,
            );
        }
        let name = f.from["name"].as_str();
        let mut item = self.item(
            f.id.clone(),
            f.at,
            InboundKind::Complaint(Self::draft(&f.text, name, from_id)),
            thread,
            raw,
        );
        item.acknowledge = self.acknowledgement(f.at, &f.id, name, &f.id);
        item
    }

    fn messenger(&self, m: Message, raw: &Bytes) -> Inbound {
        let key = format!("psid:{}", m.sender);
        let thread = Threading {
            keys: vec![m.mid.clone()],
            refs: m.reply_to.clone().into_iter().collect(),
            tracking_hint: aduan_kit::tracking::TrackingId::find_in(&m.text).map(|t| t.to_string()),
            sender: Some(SenderThread {
                key,
                window: self.window,
            }),
        };
        if m.sender == self.page_id || m.sender.is_empty() {
            return self.item(
                m.mid,
                m.at,
                InboundKind::Ignored {
                    reason: "the Page's own message (echo)".into(),
                },
                Threading::default(),
                raw,
            );
        }
        if m.text.trim().is_empty() {
            return self.item(
                m.mid,
                m.at,
                InboundKind::Ignored {
                    reason: "a message without text or attachments (a sticker or a reaction)"
                        .into(),
                },
                Threading::default(),
                raw,
            );
        }
        let mut item = self.item(
            m.mid.clone(),
            m.at,
            InboundKind::Complaint(Self::draft(&m.text, m.name.as_deref(), &m.sender)),
            thread,
            raw,
        );
        item.acknowledge = self.acknowledgement(m.at, &m.sender, m.name.as_deref(), &m.mid);
        item
    }

    /// Every item of a Page webhook body (`object: page`); `raw` is the body's exact
    /// bytes, kept with each item it yields.
    pub fn entries(&self, body: &Value, raw: &Bytes) -> Vec<Inbound> {
        let mut out = Vec::new();
        // An item that cannot be read is quarantined on its own, keyed by the body and
        // its place in it; the others go on.
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
                if change["field"] == "feed" {
                    match self.feed(&change["value"], raw) {
                        Ok(item) => out.extend(item),
                        Err(why) => out.push(unreadable(format!(":{e}:changes:{c}"), why)),
                    }
                }
            }
            for (m, msg) in entry["messaging"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                match self.messaging(msg, raw) {
                    Ok(item) => out.extend(item),
                    Err(why) => out.push(unreadable(format!(":{e}:messaging:{m}"), why)),
                }
            }
        }
        out
    }

    /// `Ok(None)`: not a message (a reaction, a like); `Err`: a message that cannot be
    /// read.
    fn feed(&self, v: &Value, raw: &Bytes) -> Result<Option<Inbound>, String> {
        let what = v["item"].as_str().unwrap_or("");
        if !matches!(
            what,
            "comment" | "status" | "post" | "photo" | "video" | "share"
        ) {
            // Reactions, likes and Page settings are not messages.
            return Ok(None);
        }
        let id = v["comment_id"]
            .as_str()
            .or_else(|| v["post_id"].as_str())
            .ok_or_else(|| format!("a feed {what:?} without comment_id or post_id"))?
            .to_owned();
        let from = &v["from"];
        let at = secs(&v["created_time"]);
        let mut text = v["message"].as_str().unwrap_or("").to_owned();
        if let Some(link) = v["photo"].as_str().or_else(|| v["link"].as_str()) {
            text.push_str(&format!("\n[foto: {link}]"));
        }
        let own = from["id"].as_str() == Some(self.page_id.as_str());
        Ok(match v["verb"].as_str().unwrap_or("") {
            "add" => Some(self.added(
                FeedItem {
                    parent: v["parent_id"].as_str().map(str::to_owned),
                    id,
                    what,
                    from,
                    text,
                    at,
                },
                raw,
            )),
            // An edit that leaves no text would blank the filed message (or file an
            // empty complaint when the original was missed): the earlier text stands.
            "edited" if !own && text.trim().is_empty() => Some(self.item(
                format!("{id}:edited:{}", v["created_time"]),
                at,
                InboundKind::Ignored {
                    reason: format!("an edit of a {what} without text; the earlier text is kept"),
                },
                Threading::default(),
                raw,
            )),
            "edited" if !own => Some(self.item(
                format!("{id}:edited:{}", v["created_time"]),
                at,
                InboundKind::Edited {
                    draft: Self::draft(
                        &text,
                        from["name"].as_str(),
                        from["id"].as_str().unwrap_or(""),
                    ),
                    of: id.clone(),
                },
                Threading {
                    keys: vec![id],
                    ..Threading::default()
                },
                raw,
            )),
            "remove" if !own => Some(self.item(
                format!("{id}:removed"),
                at,
                InboundKind::Removed { of: id },
                Threading::default(),
                raw,
            )),
            "edited" | "remove" => Some(self.item(
                format!("{id}:{}", v["verb"].as_str().unwrap_or("")),
                at,
                InboundKind::Ignored {
                    reason: format!("the Page changed its own {what}"),
                },
                Threading::default(),
                raw,
            )),
            other => Some(self.item(
                format!("{id}:{other}"),
                at,
                InboundKind::Ignored {
                    reason: format!("feed verb {other:?}"),
                },
                Threading::default(),
                raw,
            )),
        })
    }

    /// `Ok(None)`: not a message (a delivery or read receipt, a reaction); `Err`: a
    /// message that cannot be read.
    fn messaging(&self, m: &Value, raw: &Bytes) -> Result<Option<Inbound>, String> {
        let msg = &m["message"];
        if msg.is_null() {
            return Ok(None);
        }
        let mid = msg["mid"]
            .as_str()
            .ok_or("a Messenger message without mid")?
            .to_owned();
        let sender = m["sender"]["id"].as_str().unwrap_or("").to_owned();
        let echo = msg["is_echo"].as_bool() == Some(true);
        let mut text = msg["text"].as_str().unwrap_or("").to_owned();
        for (kind, url) in attachment_links(msg) {
            text.push_str(&format!("\n[{kind}: {url}]"));
        }
        Ok(Some(self.messenger(
            Message {
                mid,
                sender: if echo { self.page_id.clone() } else { sender },
                name: None,
                text,
                at: millis(&m["timestamp"]),
                reply_to: msg["reply_to"]["mid"].as_str().map(str::to_owned),
            },
            raw,
        )))
    }

    /// A post from `GET /{page}/feed` (`id, message, created_time, from`).
    pub fn polled_post(&self, v: &Value, raw: &Bytes) -> Option<Inbound> {
        Some(self.added(
            FeedItem {
                id: v["id"].as_str()?.to_owned(),
                what: "post",
                parent: None,
                from: &v["from"],
                text: v["message"].as_str().unwrap_or("").to_owned(),
                at: graph_time(&v["created_time"]),
            },
            raw,
        ))
    }

    /// A comment from `GET /{post}/comments` (`id, message, created_time, from,
    /// parent{id}`), under `post_id`.
    pub fn polled_comment(&self, v: &Value, post_id: &str, raw: &Bytes) -> Option<Inbound> {
        Some(self.added(
            FeedItem {
                id: v["id"].as_str()?.to_owned(),
                what: "comment",
                parent: Some(v["parent"]["id"].as_str().unwrap_or(post_id).to_owned()),
                from: &v["from"],
                text: v["message"].as_str().unwrap_or("").to_owned(),
                at: graph_time(&v["created_time"]),
            },
            raw,
        ))
    }

    /// A message from a conversation (`id, created_time, from, message, attachments`).
    pub fn polled_message(&self, v: &Value, raw: &Bytes) -> Option<Inbound> {
        let mut text = v["message"].as_str().unwrap_or("").to_owned();
        for (kind, url) in attachment_links(v) {
            text.push_str(&format!("\n[{kind}: {url}]"));
        }
        Some(self.messenger(
            Message {
                mid: v["id"].as_str()?.to_owned(),
                sender: v["from"]["id"].as_str().unwrap_or("").to_owned(),
                name: v["from"]["name"].as_str().map(str::to_owned),
                text,
                at: graph_time(&v["created_time"]),
                reply_to: None,
            },
            raw,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    trait Of {
        fn entries_of(&self, v: &Value) -> Vec<Inbound>;
    }
    impl Of for Normalizer {
        fn entries_of(&self, v: &Value) -> Vec<Inbound> {
            self.entries(v, &Bytes::from(v.to_string()))
        }
    }

    fn n() -> Normalizer {
        Normalizer::new(ChannelName::parse("fb").expect("name"), "104500000000001")
            .with_acknowledgement(DEFAULT_ACK_TEMPLATE.into())
    }

    #[test]
    fn a_comment_is_a_complaint_keyed_by_its_id_and_answered_under_it() {
        let items = n().entries_of(&fixture("feed_comment.json"));
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.external_id, "122100000000000001_1213500000000001");
        assert_eq!(it.received_at.timestamp(), 1763603990);
        assert_eq!(
            it.thread.refs,
            vec![
                "122100000000000001_1213500000000001".to_owned(),
                "104500000000001_122100000000000001".to_owned()
            ]
        );
        match &it.kind {
            InboundKind::Complaint(d) => {
                assert!(d.body.starts_with("Air PDAM"));
                assert_eq!(d.reporter.name.as_deref(), Some("Siti Aminah"));
                assert_eq!(d.reporter.user_id.as_deref(), Some("7100000000000001"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            it.acknowledge.is_none(),
            "a year-old comment gets no receipt"
        );
        let mut fresh = fixture("feed_comment.json");
        fresh["entry"][0]["changes"][0]["value"]["created_time"] =
            Value::from(Utc::now().timestamp() - 60);
        let it = &n().entries_of(&fresh)[0];
        let ack = it.acknowledge.as_ref().expect("receipt");
        assert_eq!(
            ack.in_reply_to.as_deref(),
            Some("122100000000000001_1213500000000001")
        );
    }

    #[test]
    fn an_edit_and_a_removal_name_the_comment() {
        let edit = &n().entries_of(&fixture("feed_comment_edited.json"))[0];
        assert_ne!(edit.external_id, "122100000000000001_1213500000000001");
        match &edit.kind {
            InboundKind::Edited { of, draft } => {
                assert_eq!(of, "122100000000000001_1213500000000001");
                assert!(draft.body.contains("kemarin pagi"));
                assert!(!draft.body.contains("[diubah]"));
            }
            other => panic!("{other:?}"),
        }
        let removed = &n().entries_of(&fixture("feed_comment_removed.json"))[0];
        assert!(
            matches!(&removed.kind, InboundKind::Removed { of } if of == "122100000000000001_1213500000000001")
        );
    }

    /// Found by the `facebook_webhook` fuzz target: an edit whose new text is missing
    /// (or blank) became an `Edited` without text, which would blank the filed message,
    /// or file a complaint with neither title nor body when the original was missed.
    #[test]
    fn an_edit_without_text_is_ignored_with_a_reason() {
        let crash = br#"{"object":"page","entry":[{"id":"104500000000001","changes":[{"field":"feed","value":{"from":{"id":"7100000000000001","name":"Siti Aminah"},"mes?age":"Air PDAM","post_id":"104500000000001_122100000000000001","comment_id":"122100000000000001_1213500000000001","created_time":1763604590,"item":"comment","verb":"edited"}}]}]}"#;
        let mut blank: Value = serde_json::from_slice(crash).expect("json");
        blank["entry"][0]["changes"][0]["value"]["message"] = Value::from(" \n ");
        for body in [serde_json::from_slice(crash).expect("json"), blank] {
            let items = n().entries_of(&body);
            assert_eq!(items.len(), 1);
            aduan_kit::testing::check_inbound(&items[0], &ChannelName::parse("fb").expect("name"));
            assert_eq!(
                items[0].external_id,
                "122100000000000001_1213500000000001:edited:1763604590"
            );
            assert!(
                matches!(&items[0].kind, InboundKind::Ignored { reason } if reason.contains("edit")),
                "{:?}",
                items[0].kind
            );
        }
    }

    #[test]
    fn visitor_posts_and_messenger_messages_are_complaints_echoes_are_not() {
        let post = &n().entries_of(&fixture("feed_visitor_post.json"))[0];
        assert!(
            matches!(&post.kind, InboundKind::Complaint(d) if d.reporter.name.as_deref() == Some("Andi Pratama"))
        );
        let text = &n().entries_of(&fixture("messaging_text.json"))[0];
        assert_eq!(text.external_id, "m_AbCdEf0123456789");
        assert_eq!(
            text.thread.sender.as_ref().map(|s| s.key.as_str()),
            Some("psid:6200000000000001")
        );
        assert!(
            matches!(&text.kind, InboundKind::Complaint(d) if d.body.contains("bantuan sosial"))
        );
        assert!(text.acknowledge.is_none(), "too old for a receipt");
        let mut fresh = fixture("messaging_text.json");
        fresh["entry"][0]["messaging"][0]["timestamp"] = Value::from(Utc::now().timestamp_millis());
        let fresh = &n().entries_of(&fresh)[0];
        let ack = fresh.acknowledge.as_ref().expect("receipt");
        assert_eq!(ack.recipient.address, "6200000000000001");
        assert_eq!(ack.in_reply_to.as_deref(), Some("m_AbCdEf0123456789"));
        let photo = &n().entries_of(&fixture("messaging_attachment.json"))[0];
        assert_eq!(
            photo.thread.sender.as_ref().map(|s| s.key.as_str()),
            Some("psid:6200000000000001"),
            "joins the same person's conversation"
        );
        assert!(
            matches!(&photo.kind, InboundKind::Complaint(d) if d.body.contains("https://scontent.example/bansos-rt03.jpg"))
        );
        let echo = &n().entries_of(&fixture("messaging_echo.json"))[0];
        assert!(matches!(&echo.kind, InboundKind::Ignored { .. }));
    }

    #[test]
    fn an_unreadable_item_is_quarantined_and_the_others_go_on() {
        let mut body = fixture("feed_comment.json");
        let good = body["entry"][0]["changes"][0].clone();
        let mut bad = good.clone();
        bad["value"]
            .as_object_mut()
            .expect("object")
            .remove("comment_id");
        bad["value"]
            .as_object_mut()
            .expect("object")
            .remove("post_id");
        let mut reaction = good.clone();
        reaction["value"]["item"] = Value::from("reaction");
        body["entry"][0]["changes"] = Value::from(vec![bad, reaction, good]);
        body["entry"][0]["messaging"] = serde_json::json!([
            {"sender": {"id": "1"}, "delivery": {"mids": ["m_1"]}},
            {"sender": {"id": "1"}, "message": {"text": "tanpa mid"}}
        ]);
        let items = n().entries_of(&body);
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(
            matches!(&items[0].kind, InboundKind::Quarantine { reason } if reason.contains("comment_id"))
        );
        assert!(items[0].external_id.ends_with(":0:changes:0"));
        assert!(matches!(items[1].kind, InboundKind::Complaint(_)));
        assert!(
            matches!(&items[2].kind, InboundKind::Quarantine { reason } if reason.contains("mid"))
        );
        assert_ne!(items[0].external_id, items[2].external_id);
    }

    #[test]
    fn polled_objects_have_the_webhook_ids() {
        let feed = fixture("page_feed_poll.json");
        let raw = Bytes::from_static(b"{}");
        let visitor = n().polled_post(&feed["data"][0], &raw).expect("post");
        assert_eq!(visitor.external_id, "104500000000001_122100000000000777");
        assert!(matches!(visitor.kind, InboundKind::Complaint(_)));
        let own = n().polled_post(&feed["data"][1], &raw).expect("post");
        assert!(matches!(own.kind, InboundKind::Ignored { .. }));
        let comments = fixture("post_comments_poll.json");
        let c = n()
            .polled_comment(
                &comments["data"][0],
                "104500000000001_122100000000000001",
                &raw,
            )
            .expect("comment");
        assert_eq!(c.external_id, "122100000000000001_1213500000000001");
        assert_eq!(c.received_at.to_rfc3339(), "2026-11-20T01:59:50+00:00");
        let conv = fixture("conversation_messages_poll.json");
        let m = n()
            .polled_message(&conv["messages"]["data"][0], &raw)
            .expect("message");
        assert_eq!(m.external_id, "m_AbCdEf0123456789");
        assert!(
            matches!(&m.kind, InboundKind::Complaint(d) if d.reporter.name.as_deref() == Some("Dewi Lestari") && d.reporter.email.is_none())
        );
    }
}
