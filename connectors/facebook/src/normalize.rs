//! Page webhook entries as [`Inbound`] items.
//!
//! * A comment or a visitor post (`field: feed`, `verb: add`) is a complaint; its thread
//!   key is its id, and a reply comment names its parent, so it joins.
//! * An edit (`verb: edited`) joins the original as a follow-up carrying the new text;
//!   a removal (`verb: remove`) is recorded as ignored.
//! * The Page's own posts and Messenger echoes (`is_echo`) are never complaints.
//! * A Messenger message is a complaint, and every later message from the same person
//!   (`psid:{sender}`) joins it.

use aduan_kit::{ChannelName, ComplaintDraft, Inbound, InboundKind, Raw, Reporter, Threading};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

pub const KIND: &str = "facebook";

pub struct Normalizer {
    pub channel: ChannelName,
    page_id: String,
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

impl Normalizer {
    pub fn new(channel: ChannelName, page_id: &str) -> Self {
        Self {
            channel,
            page_id: page_id.to_owned(),
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

    fn complaint(text: &str, from: &Value) -> InboundKind {
        InboundKind::Complaint(Box::new(ComplaintDraft {
            title: title_of(text),
            body: text.trim().to_owned(),
            reporter: Reporter {
                name: from["name"].as_str().map(str::to_owned),
                user_id: from["id"].as_str().map(str::to_owned),
                ..Reporter::default()
            },
            ..ComplaintDraft::default()
        }))
    }

    /// Every item of a Page webhook body (`object: page`); `raw` is the body's exact
    /// bytes, kept with each item it yields.
    pub fn entries(&self, body: &Value, raw: &Bytes) -> Vec<Inbound> {
        let mut out = Vec::new();
        for entry in body["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                if change["field"] == "feed" {
                    out.extend(self.feed(&change["value"], raw));
                }
            }
            for m in entry["messaging"].as_array().into_iter().flatten() {
                out.extend(self.messaging(m, raw));
            }
        }
        out
    }

    fn feed(&self, v: &Value, raw: &Bytes) -> Option<Inbound> {
        let item = v["item"].as_str().unwrap_or("");
        if !matches!(item, "comment" | "status" | "post" | "photo") {
            return None;
        }
        let id = v["comment_id"]
            .as_str()
            .or_else(|| v["post_id"].as_str())?
            .to_owned();
        let from = &v["from"];
        let at = secs(&v["created_time"]);
        let mut thread = Threading {
            keys: vec![id.clone()],
            ..Threading::default()
        };
        if let Some(parent) = v["parent_id"].as_str() {
            thread.refs.push(parent.to_owned());
        }
        if from["id"].as_str() == Some(self.page_id.as_str()) {
            return Some(self.item(
                id,
                at,
                InboundKind::Ignored {
                    reason: "the Page's own post".into(),
                },
                thread,
                raw,
            ));
        }
        let text = v["message"].as_str().unwrap_or("");
        match v["verb"].as_str().unwrap_or("") {
            "add" if !text.trim().is_empty() => {
                Some(self.item(id, at, Self::complaint(text, from), thread, raw))
            }
            "add" => Some(self.item(
                id,
                at,
                InboundKind::Quarantine {
                    reason: format!("a {item} without text"),
                },
                thread,
                raw,
            )),
            "edited" => {
                // The edit joins the original (named by its own id) as a follow-up.
                let edit_id = format!("{id}:edited:{}", v["created_time"]);
                let thread = Threading {
                    keys: Vec::new(),
                    refs: vec![id],
                    tracking_hint: None,
                };
                Some(self.item(
                    edit_id,
                    at,
                    Self::complaint(&format!("[diubah] {text}"), from),
                    thread,
                    raw,
                ))
            }
            "remove" => Some(self.item(
                format!("{id}:removed"),
                at,
                InboundKind::Ignored {
                    reason: format!("the author removed the {item}"),
                },
                thread,
                raw,
            )),
            other => Some(self.item(
                format!("{id}:{other}"),
                at,
                InboundKind::Ignored {
                    reason: format!("feed verb {other:?}"),
                },
                thread,
                raw,
            )),
        }
    }

    fn messaging(&self, m: &Value, raw: &Bytes) -> Option<Inbound> {
        let msg = &m["message"];
        let mid = msg["mid"].as_str()?.to_owned();
        let sender = m["sender"]["id"].as_str().unwrap_or("").to_owned();
        let at = millis(&m["timestamp"]);
        let key = format!("psid:{sender}");
        let thread = Threading {
            keys: vec![mid.clone(), key.clone()],
            refs: vec![key],
            tracking_hint: msg["text"]
                .as_str()
                .and_then(aduan_kit::tracking::TrackingId::find_in)
                .map(|t| t.to_string()),
        };
        if msg["is_echo"].as_bool() == Some(true) || sender == self.page_id {
            return Some(self.item(
                mid,
                at,
                InboundKind::Ignored {
                    reason: "the Page's own message (echo)".into(),
                },
                Threading::default(),
                raw,
            ));
        }
        let mut text = msg["text"].as_str().unwrap_or("").to_owned();
        // No I/O here: attachments stay as links for now.
        for a in msg["attachments"].as_array().into_iter().flatten() {
            if let Some(url) = a["payload"]["url"].as_str() {
                text.push_str(&format!(
                    "\n[{}: {url}]",
                    a["type"].as_str().unwrap_or("lampiran")
                ));
            }
        }
        if text.trim().is_empty() {
            return Some(self.item(
                mid,
                at,
                InboundKind::Quarantine {
                    reason: "a message without text or attachments".into(),
                },
                thread,
                raw,
            ));
        }
        Some(self.item(
            mid,
            at,
            Self::complaint(&text, &serde_json::json!({"id": sender})),
            thread,
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
    }

    #[test]
    fn a_comment_is_a_complaint_keyed_by_its_id() {
        let items = n().entries_of(&fixture("feed_comment.json"));
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.external_id, "122100000000000001_1213500000000001");
        assert_eq!(it.received_at.timestamp(), 1763603990);
        match &it.kind {
            InboundKind::Complaint(d) => {
                assert!(d.body.starts_with("Air PDAM"));
                assert_eq!(d.reporter.name.as_deref(), Some("Siti Aminah"));
                assert_eq!(d.reporter.user_id.as_deref(), Some("7100000000000001"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_edit_joins_the_original_and_a_removal_is_recorded() {
        let edit = &n().entries_of(&fixture("feed_comment_edited.json"))[0];
        assert_eq!(
            edit.thread.refs,
            vec!["122100000000000001_1213500000000001".to_owned()]
        );
        assert!(edit.thread.keys.is_empty());
        assert_ne!(edit.external_id, "122100000000000001_1213500000000001");
        assert!(matches!(&edit.kind, InboundKind::Complaint(d) if d.body.contains("kemarin pagi")));
        let removed = &n().entries_of(&fixture("feed_comment_removed.json"))[0];
        assert!(
            matches!(&removed.kind, InboundKind::Ignored { reason } if reason.contains("removed"))
        );
    }

    #[test]
    fn visitor_posts_and_messenger_messages_are_complaints_echoes_are_not() {
        let post = &n().entries_of(&fixture("feed_visitor_post.json"))[0];
        assert!(
            matches!(&post.kind, InboundKind::Complaint(d) if d.reporter.name.as_deref() == Some("Andi Pratama"))
        );
        let text = &n().entries_of(&fixture("messaging_text.json"))[0];
        assert_eq!(text.external_id, "m_AbCdEf0123456789");
        assert!(text
            .thread
            .keys
            .contains(&"psid:6200000000000001".to_owned()));
        assert!(
            matches!(&text.kind, InboundKind::Complaint(d) if d.body.contains("bantuan sosial"))
        );
        let photo = &n().entries_of(&fixture("messaging_attachment.json"))[0];
        assert!(
            photo
                .thread
                .refs
                .contains(&"psid:6200000000000001".to_owned()),
            "joins the same person's thread"
        );
        assert!(
            matches!(&photo.kind, InboundKind::Complaint(d) if d.body.contains("https://scontent.example/bansos-rt03.jpg"))
        );
        let echo = &n().entries_of(&fixture("messaging_echo.json"))[0];
        assert!(matches!(&echo.kind, InboundKind::Ignored { .. }));
    }
}
