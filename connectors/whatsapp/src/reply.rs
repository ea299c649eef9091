//! Replies through the outbox: `POST /{phone-number-id}/messages`.
//!
//! * Within 24 hours of the citizen's last message: free-form text, quoting the
//!   message answered.
//! * Later, WhatsApp takes only approved templates: the configured one (`template_name`,
//!   its language, the tracking number as `{{1}}`), or, without one, the answer fails
//!   visibly as "cannot be sent on WhatsApp" so the admins choose another way.

use std::sync::Arc;

use aduan_kit::{ConnectorError, OutboundMessage, OutboundSender, SendReceipt};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::api::CloudApi;

/// WhatsApp refuses longer texts.
pub const MAX_CHARS: usize = 4096;

pub struct WhatsAppSender {
    pub api: Arc<CloudApi>,
    pub phone_number_id: String,
    /// `(name, language)` of the approved template for answers outside the window.
    pub template: Option<(String, String)>,
}

/// How a message may go out now.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    Text,
    /// `(name, language)`.
    Template(&'a str, &'a str),
}

/// Free-form text within 24 hours of the citizen's last message, else the template,
/// else `Err` with why it cannot go out.
pub fn mode<'a>(
    msg: &OutboundMessage,
    template: Option<&'a (String, String)>,
) -> Result<Mode<'a>, String> {
    let since = msg.last_inbound_at.map(|t| Utc::now() - t);
    if since.is_some_and(|d| d <= Duration::hours(24)) {
        return Ok(Mode::Text);
    }
    if let Some((name, lang)) = template {
        return Ok(Mode::Template(name, lang));
    }
    Err(match since {
        Some(d) => format!(
            "cannot be sent on WhatsApp: the citizen last wrote {} hours ago, outside the 24-hour window, and no template_name is configured; answer another way",
            d.num_hours()
        ),
        None => "cannot be sent on WhatsApp: when the citizen last wrote is unknown and no template_name is configured; answer another way".into(),
    })
}

/// The Cloud API request for `msg` in `mode`.
pub fn request(msg: &OutboundMessage, mode: &Mode<'_>) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": msg.recipient.address,
    });
    match mode {
        Mode::Text => {
            body["type"] = Value::from("text");
            body["text"] = json!({ "preview_url": false, "body": msg.fitted(MAX_CHARS) });
            if let Some(quoted) = msg
                .in_reply_to
                .as_deref()
                .filter(|m| m.starts_with("wamid."))
            {
                body["context"] = json!({ "message_id": quoted });
            }
        }
        Mode::Template(name, lang) => {
            body["type"] = Value::from("template");
            body["template"] = json!({
                "name": name,
                "language": { "code": lang },
                "components": [{
                    "type": "body",
                    "parameters": [{ "type": "text", "text": msg.tracking_id }],
                }],
            });
        }
    }
    body
}

#[async_trait::async_trait]
impl OutboundSender for WhatsAppSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        if msg.recipient.address.trim().is_empty() {
            return Err(ConnectorError::permanent(
                &self.api.name,
                "a WhatsApp reply needs the citizen's WhatsApp id",
            ));
        }
        let mode = mode(msg, self.template.as_ref())
            .map_err(|why| ConnectorError::permanent(&self.api.name, why))?;
        let bytes = self
            .api
            .post(
                &format!("{}/messages", self.phone_number_id),
                &request(msg, &mode),
            )
            .await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(SendReceipt {
            external_id: v["messages"][0]["id"].as_str().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::{ChannelName, OutboundKind, Recipient};

    fn msg(body: &str, hours_ago: Option<i64>) -> OutboundMessage {
        OutboundMessage {
            idempotency_key: "k".into(),
            channel_name: ChannelName::parse("wa").expect("name"),
            kind: OutboundKind::Answer,
            tracking_id: "ABCD-EFGH".into(),
            recipient: Recipient {
                address: "6281234567890".into(),
                name: None,
            },
            subject: None,
            body: body.into(),
            in_reply_to: Some("wamid.ASAL".into()),
            references: Vec::new(),
            attempt: 0,
            last_inbound_at: hours_ago.map(|h| Utc::now() - Duration::hours(h)),
        }
    }

    #[test]
    fn the_24_hour_window_decides_between_text_and_template() {
        let t = ("status_laporan".to_owned(), "id".to_owned());
        assert_eq!(mode(&msg("a", Some(2)), None), Ok(Mode::Text));
        assert_eq!(mode(&msg("a", Some(2)), Some(&t)), Ok(Mode::Text));
        assert_eq!(
            mode(&msg("a", Some(30)), Some(&t)),
            Ok(Mode::Template("status_laporan", "id"))
        );
        assert!(mode(&msg("a", Some(30)), None)
            .is_err_and(|e| e.contains("cannot be sent on WhatsApp") && e.contains("30 hours")));
        assert!(mode(&msg("a", None), None).is_err());
        assert_eq!(
            mode(&msg("a", None), Some(&t)),
            Ok(Mode::Template("status_laporan", "id"))
        );
    }

    #[test]
    fn requests_quote_the_message_and_templates_carry_the_number() {
        let m = msg(&"x".repeat(5000), Some(1));
        let text = request(&m, &Mode::Text);
        assert_eq!(text["to"], "6281234567890");
        assert_eq!(text["type"], "text");
        assert_eq!(text["context"]["message_id"], "wamid.ASAL");
        let body = text["text"]["body"].as_str().expect("body");
        assert_eq!(body.chars().count(), MAX_CHARS);
        assert!(body.ends_with("[ABCD-EFGH]"));
        let tpl = request(&m, &Mode::Template("status_laporan", "id"));
        assert_eq!(tpl["template"]["name"], "status_laporan");
        assert_eq!(tpl["template"]["language"]["code"], "id");
        assert_eq!(
            tpl["template"]["components"][0]["parameters"][0]["text"],
            "ABCD-EFGH"
        );
        assert!(tpl.get("context").is_none());
    }
}
