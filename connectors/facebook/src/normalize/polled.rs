//! The objects the polling fallback fetches from the Graph API (feed posts, comments,
//! conversation messages), with the webhook's ids so that both paths file one record.

use aduan_kit::Inbound;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{attachment_links, FeedItem, Message, Normalizer};

/// Graph's `2026-11-20T01:59:50+0000`.
pub fn graph_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Normalizer {
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
    use super::super::tests::{fixture, n};
    use super::*;
    use aduan_kit::InboundKind;

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
