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
//!
//! The webhook's entries are read in `entries`, the objects the polling fallback
//! fetches in `polled`; both end in the same builders here.

mod entries;
mod polled;

use std::time::Duration;

use aduan_kit::{
    Acknowledgement, ChannelName, ComplaintDraft, Inbound, InboundKind, Recipient, Reporter,
    SenderThread, Threading,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use polled::graph_time;

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
}

/// What the tests of both paths share: the fixtures and a normalizer with receipts.
#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    pub(super) fn n() -> Normalizer {
        Normalizer::new(ChannelName::parse("fb").expect("name"), "104500000000001")
            .with_acknowledgement(DEFAULT_ACK_TEMPLATE.into())
    }
}
