//! Replies through the outbox.
//!
//! * Under a comment or a post: `POST /{comment-or-post-id}/comments` with `message`.
//! * On Messenger (the message answered is a `mid`): the Send API,
//!   `POST /{page-id}/messages`, with `messaging_type: RESPONSE` within 24 hours of the
//!   citizen's last message. Later, by configuration, with the `HUMAN_AGENT` tag (up to
//!   7 days), or not at all: the answer then fails visibly as "cannot be sent on
//!   Messenger" so the admins choose another way.

use std::sync::Arc;

use aduan_kit::{ConnectorError, OutboundMessage, OutboundSender, SendReceipt};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::api::GraphApi;
use crate::config::OutsideWindow;

/// Messenger refuses longer texts.
pub const MESSENGER_MAX_CHARS: usize = 2000;
/// Comments may be longer; answers never need more.
pub const COMMENT_MAX_CHARS: usize = 8000;

pub struct FacebookSender {
    pub api: Arc<GraphApi>,
    pub page_id: String,
    pub outside_window: OutsideWindow,
}

/// Whether `id` names a Messenger message (`m_…`, or the older `mid.…`).
pub fn is_messenger(id: &str) -> bool {
    id.starts_with("m_") || id.starts_with("mid.")
}

/// The text, shortened to `max` characters with the tracking number kept.
pub fn fit(msg: &OutboundMessage, max: usize) -> String {
    msg.fitted(max)
}

/// How a Messenger answer may go out now: `Ok(Some(tag))` with a message tag, `Ok(None)`
/// as a plain response, `Err` with why it cannot.
pub fn messenger_mode(
    msg: &OutboundMessage,
    outside: OutsideWindow,
) -> Result<Option<&'static str>, String> {
    let since = msg.last_inbound_at.map(|t| Utc::now() - t);
    match (since, outside) {
        (Some(d), _) if d <= Duration::hours(24) => Ok(None),
        (Some(d), OutsideWindow::HumanAgent) if d <= Duration::days(7) => Ok(Some("HUMAN_AGENT")),
        (Some(d), _) => Err(format!(
            "cannot be sent on Messenger: the citizen last wrote {} hours ago, outside the 24-hour window; answer another way",
            d.num_hours()
        )),
        (None, _) => Err(
            "cannot be sent on Messenger: when the citizen last wrote is unknown; answer another way".into(),
        ),
    }
}

#[async_trait::async_trait]
impl OutboundSender for FacebookSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let target = msg.in_reply_to.clone().ok_or_else(|| {
            ConnectorError::permanent(
                &self.api.name,
                "a reply needs the comment or message it answers",
            )
        })?;
        if is_messenger(&target) {
            let tag = messenger_mode(msg, self.outside_window)
                .map_err(|why| ConnectorError::permanent(&self.api.name, why))?;
            let mut body = json!({
                "recipient": { "id": msg.recipient.address },
                "messaging_type": if tag.is_some() { "MESSAGE_TAG" } else { "RESPONSE" },
                "message": { "text": fit(msg, MESSENGER_MAX_CHARS) },
            });
            if let Some(tag) = tag {
                body["tag"] = Value::from(tag);
            }
            let bytes = self
                .api
                .post(&format!("{}/messages", self.page_id), &body)
                .await?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(SendReceipt {
                external_id: v["message_id"].as_str().map(str::to_owned),
            })
        } else {
            let body = json!({ "message": fit(msg, COMMENT_MAX_CHARS) });
            let bytes = self.api.post(&format!("{target}/comments"), &body).await?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(SendReceipt {
                external_id: v["id"].as_str().map(str::to_owned),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::{ChannelName, OutboundKind, Recipient};

    fn msg(body: &str, hours_ago: Option<i64>) -> OutboundMessage {
        OutboundMessage {
            idempotency_key: "k".into(),
            channel_name: ChannelName::parse("fb").expect("name"),
            kind: OutboundKind::Answer,
            tracking_id: "ABCD-EFGH".into(),
            recipient: Recipient::default(),
            subject: None,
            body: body.into(),
            in_reply_to: Some("m_1".into()),
            references: Vec::new(),
            attempt: 0,
            last_inbound_at: hours_ago.map(|h| Utc::now() - Duration::hours(h)),
        }
    }

    #[test]
    fn the_24_hour_window_decides_how_messenger_answers_go() {
        assert_eq!(
            messenger_mode(&msg("a", Some(2)), OutsideWindow::Refuse),
            Ok(None)
        );
        assert!(messenger_mode(&msg("a", Some(30)), OutsideWindow::Refuse)
            .is_err_and(|e| e.contains("cannot be sent on Messenger")));
        assert_eq!(
            messenger_mode(&msg("a", Some(30)), OutsideWindow::HumanAgent),
            Ok(Some("HUMAN_AGENT"))
        );
        assert!(messenger_mode(&msg("a", Some(24 * 8)), OutsideWindow::HumanAgent).is_err());
        assert!(messenger_mode(&msg("a", None), OutsideWindow::HumanAgent).is_err());
    }

    #[test]
    fn long_texts_are_cut_with_the_number_kept() {
        let t = fit(&msg(&"x".repeat(3000), Some(1)), MESSENGER_MAX_CHARS);
        assert_eq!(t.chars().count(), MESSENGER_MAX_CHARS);
        assert!(t.ends_with("[ABCD-EFGH]"));
        assert_eq!(fit(&msg(" pendek ", Some(1)), 10), "pendek");
        assert!(is_messenger("m_AbC") && is_messenger("mid.123") && !is_messenger("1_2"));
    }
}
