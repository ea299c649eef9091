//! A Page webhook body (`object: page`): its `feed` changes (comments, posts, edits,
//! removals) and its `messaging` events (Messenger messages), each item on its own.

use aduan_kit::{Inbound, InboundKind, Threading};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::{attachment_links, FeedItem, Message, Normalizer, KIND};

fn secs(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single())
}

fn millis(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

impl Normalizer {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, n};
    use super::*;
    use aduan_kit::ChannelName;

    trait Of {
        fn entries_of(&self, v: &Value) -> Vec<Inbound>;
    }
    impl Of for Normalizer {
        fn entries_of(&self, v: &Value) -> Vec<Inbound> {
            self.entries(v, &Bytes::from(v.to_string()))
        }
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
}
