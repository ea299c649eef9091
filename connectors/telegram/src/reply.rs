//! Receipts and answers through the outbox: `sendMessage` to the chat of the message
//! answered, as a reply to it (`reply_to_message_id`), still sent when that message
//! was deleted. The chat and the message come from the id answered
//! (`{chat_id}:{message_id}`), the recipient's address being the chat (a receipt) or
//! the person (an answer; the same in a private chat).

use std::sync::Arc;

use aduan_kit::{ConnectorError, OutboundMessage, OutboundSender, SendReceipt};
use serde_json::{json, Value};

use crate::api::BotApi;
use crate::normalize::parse_key;

/// The longest text `sendMessage` takes.
pub const MAX_CHARS: usize = 4096;

pub struct TelegramSender {
    pub api: Arc<BotApi>,
}

/// The length of `text` as Telegram counts it: UTF-16 code units (an emoji outside
/// the Basic Multilingual Plane is two).
pub fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The text, shortened to `max` as [`telegram_len`] counts, with the tracking number kept.
pub fn fit(msg: &OutboundMessage, max: usize) -> String {
    let body = msg.body.trim();
    if telegram_len(body) <= max {
        return body.to_owned();
    }
    let tail = format!(" … [{}]", msg.tracking_id);
    let mut room = max.saturating_sub(telegram_len(&tail));
    let mut out = String::new();
    for c in body.chars() {
        let Some(left) = room.checked_sub(c.len_utf16()) else {
            break;
        };
        room = left;
        out.push(c);
    }
    out + &tail
}

/// The chat to write to and the message to answer there.
pub fn target(msg: &OutboundMessage) -> Option<(i64, Option<i64>)> {
    match msg.in_reply_to.as_deref().and_then(parse_key) {
        Some((chat, message)) => Some((chat, Some(message))),
        None => msg.recipient.address.parse().ok().map(|chat| (chat, None)),
    }
}

#[async_trait::async_trait]
impl OutboundSender for TelegramSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let (chat, reply_to) = target(msg).ok_or_else(|| {
            ConnectorError::permanent(
                &self.api.name,
                "cannot be sent on Telegram: neither the message answered nor the recipient names a chat",
            )
        })?;
        let mut body = json!({
            "chat_id": chat,
            "text": fit(msg, MAX_CHARS),
            "disable_web_page_preview": true,
        });
        if let Some(m) = reply_to {
            body["reply_to_message_id"] = Value::from(m);
            body["allow_sending_without_reply"] = Value::from(true);
        }
        let sent = self.api.call("sendMessage", &body).await?;
        Ok(SendReceipt {
            external_id: sent["message_id"]
                .as_i64()
                .map(|m| format!("{}:{m}", sent["chat"]["id"].as_i64().unwrap_or(chat))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::{ChannelName, OutboundKind, Recipient};

    fn msg(body: &str, in_reply_to: Option<&str>, address: &str) -> OutboundMessage {
        OutboundMessage {
            idempotency_key: "k".into(),
            channel_name: ChannelName::parse("tg").expect("name"),
            kind: OutboundKind::Answer,
            tracking_id: "7KQM-3XW0".into(),
            recipient: Recipient {
                address: address.into(),
                name: None,
            },
            subject: None,
            body: body.into(),
            in_reply_to: in_reply_to.map(str::to_owned),
            references: Vec::new(),
            attempt: 0,
            last_inbound_at: None,
        }
    }

    #[test]
    fn the_chat_comes_from_the_message_answered() {
        assert_eq!(
            target(&msg("a", Some("-1001500000001:310"), "5100000003")),
            Some((-1001500000001, Some(310)))
        );
        assert_eq!(
            target(&msg(
                "a",
                Some("5100000001:41:edited:1764900600"),
                "5100000001"
            )),
            Some((5100000001, Some(41)))
        );
        assert_eq!(
            target(&msg("a", None, "5100000001")),
            Some((5100000001, None))
        );
        assert_eq!(target(&msg("a", None, "siti")), None);
    }

    #[test]
    fn long_texts_are_cut_with_the_number_kept() {
        let t = fit(&msg(&"x".repeat(5000), None, "1"), MAX_CHARS);
        assert_eq!(t.chars().count(), MAX_CHARS);
        assert!(t.ends_with("[7KQM-3XW0]"));
        // Emoji count twice: the cut leaves room for them.
        let t = fit(&msg(&"🚧".repeat(3000), None, "1"), MAX_CHARS);
        assert!(
            telegram_len(&t) <= MAX_CHARS && telegram_len(&t) > MAX_CHARS - 2,
            "{}",
            telegram_len(&t)
        );
        assert!(t.ends_with("[7KQM-3XW0]"));
    }
}
