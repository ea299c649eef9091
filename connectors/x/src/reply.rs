//! Replies through the outbox: `POST /2/tweets` with `reply.in_reply_to_tweet_id`,
//! signed with OAuth 1.0a, at most 280 characters as X counts them with the tracking
//! number and status link kept whole.

use std::sync::Arc;

use aduan_kit::{ConnectorError, OutboundMessage, OutboundSender, SendReceipt};
use serde::Deserialize;

use crate::api::XApi;
use crate::text::fit;

pub struct XSender {
    pub api: Arc<XApi>,
}

#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    id: String,
}

/// The post's text: the message, shortened if needed; the tracking number (if the
/// text does not carry it yet) and any link at its end stay whole.
pub fn reply_text(msg: &OutboundMessage) -> String {
    let body = msg.body.trim();
    // Keep the last line whole when it holds the link or the number.
    let (head, tail) = match body.rsplit_once(char::is_whitespace) {
        Some((h, t)) if t.starts_with("http") => (h.to_owned(), format!(" {t}")),
        _ => (body.to_owned(), String::new()),
    };
    let mut tail = tail;
    // The number must be readable in the text itself: X shows links shortened.
    let in_text = body
        .split_whitespace()
        .filter(|w| !w.starts_with("http"))
        .any(|w| w.contains(&msg.tracking_id));
    if !msg.tracking_id.is_empty() && !in_text {
        tail = format!(" [{}]{tail}", msg.tracking_id);
    }
    fit(&head, &tail)
}

#[async_trait::async_trait]
impl OutboundSender for XSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let in_reply_to = msg.in_reply_to.clone().ok_or_else(|| {
            ConnectorError::permanent(&self.api.name, "a reply needs the post it answers")
        })?;
        let body = serde_json::json!({
            "text": reply_text(msg),
            "reply": { "in_reply_to_tweet_id": in_reply_to },
        });
        let bytes = self.api.post_json("/2/tweets", &body).await?;
        let created: Created = serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::transient(
                &self.api.name,
                format!("POST /2/tweets: unreadable answer: {e}"),
            )
        })?;
        Ok(SendReceipt {
            external_id: Some(created.data.id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::{ChannelName, OutboundKind, Recipient};

    fn msg(body: &str) -> OutboundMessage {
        OutboundMessage {
            idempotency_key: "k".into(),
            channel_name: ChannelName::parse("x").unwrap(),
            kind: OutboundKind::Answer,
            tracking_id: "ABCD-EFGH".into(),
            recipient: Recipient::default(),
            subject: None,
            body: body.into(),
            in_reply_to: Some("1".into()),
            references: Vec::new(),
            attempt: 0,
            last_inbound_at: None,
        }
    }

    #[test]
    fn long_answers_are_shortened_around_the_number_and_link() {
        let long = format!(
            "{} https://lapor.contoh.go.id/laporan/ABCD-EFGH",
            "Perbaikan jalan dijadwalkan. ".repeat(20)
        );
        let t = reply_text(&msg(&long));
        assert!(crate::text::weighted_len(&t) <= 280, "{t}");
        assert!(
            t.ends_with("https://lapor.contoh.go.id/laporan/ABCD-EFGH"),
            "{t}"
        );
        assert!(t.contains("[ABCD-EFGH]"), "{t}");
        let short = reply_text(&msg("Terima kasih, nomor ABCD-EFGH."));
        assert_eq!(short, "Terima kasih, nomor ABCD-EFGH.");
    }
}
