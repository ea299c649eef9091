//! A tweet, from either shape, as an [`Inbound`]: our own tweets, retweets and blocked
//! authors are recorded as ignored; a reply by the same author in the same conversation
//! (or to one of our replies) joins its complaint.
//!
//! Thread keys: the tweet id (so a reply to it, or to our reply, joins) and
//! `conv:{conversation}:{author}` (so the same citizen going on in the same
//! conversation joins, while another citizen replying there files their own).

use std::collections::HashSet;
use std::time::Duration;

use aduan_kit::{
    Acknowledgement, AttachmentData, ChannelName, ComplaintDraft, Inbound, InboundKind, Raw,
    Recipient, Reporter, Threading,
};
use bytes::Bytes;
use chrono::Utc;

use crate::model::{parse_v1_time, Includes, TweetV1, TweetV2};

pub const KIND: &str = "x";

pub const DEFAULT_ACK_TEMPLATE: &str =
    "Terima kasih, laporan Anda tercatat dengan nomor {tracking_id}. Pantau perkembangannya di {status_url}";

/// A tweet in the one form both shapes come to.
#[derive(Debug, Clone)]
pub struct TweetView {
    pub id: String,
    pub text: String,
    pub author_id: String,
    pub author_handle: Option<String>,
    pub author_name: Option<String>,
    pub conversation_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub created_at: Option<chrono::DateTime<Utc>>,
    pub is_retweet: bool,
    /// Photo and video preview URLs, to download as attachments.
    pub media_urls: Vec<String>,
}

impl TweetView {
    pub fn from_v2(t: &TweetV2, includes: &Includes) -> Self {
        let author = t
            .author_id
            .as_deref()
            .and_then(|a| includes.users.iter().find(|u| u.id == a));
        let media_urls = t
            .attachments
            .as_ref()
            .map(|a| {
                a.media_keys
                    .iter()
                    .filter_map(|k| includes.media.iter().find(|m| &m.media_key == k))
                    .filter_map(|m| m.url.clone().or_else(|| m.preview_image_url.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: t.id.clone(),
            text: t.text.clone(),
            author_id: t.author_id.clone().unwrap_or_default(),
            author_handle: author.map(|u| u.username.clone()),
            author_name: author.and_then(|u| u.name.clone()),
            conversation_id: t.conversation_id.clone(),
            in_reply_to: t
                .referenced_tweets
                .iter()
                .find(|r| r.kind == "replied_to")
                .map(|r| r.id.clone()),
            created_at: t.created_at,
            is_retweet: t.referenced_tweets.iter().any(|r| r.kind == "retweeted")
                || t.text.starts_with("RT @"),
            media_urls,
        }
    }

    pub fn from_v1(t: &TweetV1) -> Self {
        let text = t
            .extended_tweet
            .as_ref()
            .map(|e| e.full_text.clone())
            .or_else(|| t.full_text.clone())
            .unwrap_or_else(|| t.text.clone());
        let media_urls = t
            .extended_entities
            .as_ref()
            .or(t.entities.as_ref())
            .map(|e| {
                e.media
                    .iter()
                    .filter_map(|m| m.media_url_https.clone())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: t.id_str.clone(),
            is_retweet: t.retweeted_status.is_some() || text.starts_with("RT @"),
            text,
            author_id: t.user.id_str.clone(),
            author_handle: Some(t.user.screen_name.clone()),
            author_name: t.user.name.clone(),
            // v1.1 has no conversation id; replies thread through in_reply_to.
            conversation_id: None,
            in_reply_to: t.in_reply_to_status_id_str.clone(),
            created_at: t.created_at.as_deref().and_then(parse_v1_time),
            media_urls,
        }
    }
}

pub struct Normalizer {
    pub channel: ChannelName,
    own_user_id: String,
    own_handle: String,
    blocked: HashSet<String>,
    ack: Option<(String, Duration)>,
    ack_max_age: Duration,
}

impl Normalizer {
    pub fn new(
        channel: ChannelName,
        own_user_id: &str,
        own_handle: &str,
        blocked: &[String],
    ) -> Self {
        Self {
            channel,
            own_user_id: own_user_id.to_owned(),
            own_handle: own_handle.trim_start_matches('@').to_ascii_lowercase(),
            blocked: blocked
                .iter()
                .map(|b| b.trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            ack: None,
            ack_max_age: Acknowledgement::DEFAULT_MAX_AGE,
        }
    }

    pub fn with_acknowledgement(mut self, template: String, window: Duration) -> Self {
        self.ack = Some((template, window));
        self
    }

    /// Posts older than `max_age` are filed without a public receipt.
    pub fn with_ack_max_age(mut self, max_age: Duration) -> Self {
        self.ack_max_age = max_age;
        self
    }

    fn ignored(&self, t: &TweetView) -> Option<String> {
        let handle = t
            .author_handle
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        if t.author_id == self.own_user_id || (!handle.is_empty() && handle == self.own_handle) {
            Some("our own post".into())
        } else if t.is_retweet {
            Some("a repost, not a report".into())
        } else if self.blocked.contains(&t.author_id) || self.blocked.contains(&handle) {
            Some(format!("author @{handle} is on the block list"))
        } else {
            None
        }
    }

    /// The tweet as an item; `raw` is its exact bytes, `attachments` its downloaded media.
    pub fn inbound(&self, t: &TweetView, raw: Bytes, attachments: Vec<AttachmentData>) -> Inbound {
        let received_at = t.created_at.unwrap_or_else(Utc::now);
        let mut thread = Threading {
            keys: vec![t.id.clone()],
            refs: Vec::new(),
            tracking_hint: aduan_kit::tracking::TrackingId::find_in(&t.text)
                .map(|id| id.to_string()),
            sender: None,
        };
        if let Some(conv) = &t.conversation_id {
            let key = format!("conv:{conv}:{}", t.author_id);
            thread.keys.push(key.clone());
            thread.refs.push(key);
        }
        if let Some(parent) = &t.in_reply_to {
            thread.refs.push(parent.clone());
        }
        let raw = Raw {
            content_type: "application/json".into(),
            bytes: raw,
        };
        let base = |kind| Inbound {
            channel: KIND,
            channel_name: self.channel.clone(),
            external_id: t.id.clone(),
            received_at,
            kind,
            thread: thread.clone(),
            raw: raw.clone(),
            acknowledge: None,
        };
        if t.id.is_empty() || t.author_id.is_empty() {
            return base(InboundKind::Quarantine {
                reason: "a post without an id or an author".into(),
            });
        }
        if let Some(reason) = self.ignored(t) {
            return base(InboundKind::Ignored { reason });
        }
        let body = t.text.trim().to_owned();
        let title = title_of(&body);
        let mut item = base(InboundKind::Complaint(Box::new(ComplaintDraft {
            title,
            body,
            reporter: Reporter {
                name: t.author_name.clone(),
                handle: t.author_handle.as_ref().map(|h| format!("@{h}")),
                user_id: Some(t.author_id.clone()),
                ..Reporter::default()
            },
            attachments,
            ..ComplaintDraft::default()
        })));
        let fresh = Acknowledgement::fresh_enough(t.created_at, self.ack_max_age);
        if let Some((template, window)) = self.ack.as_ref().filter(|_| fresh) {
            item.acknowledge = Some(Acknowledgement {
                per_hour: None,
                // One receipt per author per window; the reply goes under this post.
                recipient: Recipient {
                    address: t.author_id.clone(),
                    name: t.author_handle.clone(),
                },
                subject: None,
                body: template.clone(),
                in_reply_to: Some(t.id.clone()),
                references: Vec::new(),
                once_per: *window,
            });
        }
        item
    }
}

/// The first words of the post without leading @mentions, at most 100 characters.
pub fn title_of(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .skip_while(|w| w.starts_with('@'))
        .collect();
    let mut title = String::new();
    for w in words {
        if title.chars().count() + w.chars().count() + 1 > 100 {
            title.push('…');
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(w);
    }
    if title.is_empty() {
        "Laporan melalui X".into()
    } else {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_skip_mentions_and_stay_short() {
        assert_eq!(
            title_of("@PemkabSiak @bupati lampu jalan mati"),
            "lampu jalan mati"
        );
        assert_eq!(title_of("@PemkabSiak"), "Laporan melalui X");
        assert!(title_of(&"kata ".repeat(60)).chars().count() <= 101);
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::model::{Page, TweetV1};

    fn page(json: &str) -> Page {
        serde_json::from_str(json).expect("page")
    }

    fn normalizer() -> Normalizer {
        Normalizer::new(
            ChannelName::parse("x").expect("name"),
            "1500000000000000000",
            "@PemkabSiak",
            &["@spammer".into(), "1999".into()],
        )
    }

    fn kind_of(p: &Page, i: usize) -> InboundKind {
        let t: TweetV2 = serde_json::from_str(p.data[i].get()).expect("tweet");
        let view = TweetView::from_v2(&t, &p.includes);
        normalizer().inbound(&view, Bytes::new(), Vec::new()).kind
    }

    #[test]
    fn own_posts_reposts_and_blocked_authors_are_ignored_with_a_reason() {
        let p = page(
            r#"{"data": [
                {"id": "1", "text": "Info layanan", "author_id": "1500000000000000000"},
                {"id": "2", "text": "RT @warga: jalan rusak", "author_id": "17", "referenced_tweets": [{"type": "retweeted", "id": "9"}]},
                {"id": "3", "text": "promo", "author_id": "18"},
                {"id": "4", "text": "promo", "author_id": "1999"},
                {"id": "5", "text": "@PemkabSiak air mati", "author_id": "17"}
            ], "includes": {"users": [{"id": "17", "username": "warga"}, {"id": "18", "username": "Spammer"}]}}"#,
        );
        for (i, want) in [
            (0, "our own"),
            (1, "repost"),
            (2, "block list"),
            (3, "block list"),
        ] {
            match kind_of(&p, i) {
                InboundKind::Ignored { reason } => assert!(reason.contains(want), "{i}: {reason}"),
                other => panic!("{i}: {other:?}"),
            }
        }
        assert!(matches!(kind_of(&p, 4), InboundKind::Complaint(_)));
    }

    #[test]
    fn newer_post_names_are_accepted() {
        let p = page(
            r#"{"data": [{"id": "5", "text": "lampu mati", "author_id": "17"}],
                "includes": {"users": [{"id": "17", "username": "warga", "name": "Warga"}], "posts": [{"id": "4", "text": "x"}]},
                "meta": {"result_count": 1}}"#,
        );
        assert_eq!(p.includes.tweets.len(), 1);
        match kind_of(&p, 0) {
            InboundKind::Complaint(d) => assert_eq!(d.reporter.handle.as_deref(), Some("@warga")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_webhook_tweets_thread_through_their_parent() {
        let t: TweetV1 = serde_json::from_str(
            r#"{"id_str": "7", "text": "short", "extended_tweet": {"full_text": "the full text"},
                "in_reply_to_status_id_str": "6", "created_at": "Fri Nov 20 02:15:00 +0000 2026",
                "user": {"id_str": "17", "screen_name": "warga"}}"#,
        )
        .expect("v1");
        let view = TweetView::from_v1(&t);
        assert_eq!(view.text, "the full text");
        let item = normalizer().inbound(&view, Bytes::new(), Vec::new());
        assert_eq!(item.thread.refs, vec!["6".to_owned()]);
        assert_eq!(item.received_at.to_rfc3339(), "2026-11-20T02:15:00+00:00");
    }
}
