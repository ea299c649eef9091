//! The bot's webhook at `/webhooks/{name}`: Telegram sends each update as a `POST`
//! with the `secret_token` given to `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`.
//! It is checked in constant time before the body is read; Telegram signs nothing
//! else, so the secret is what tells its calls from anyone's.

use std::sync::Arc;

use aduan_kit::signature::same_secret;
use aduan_kit::{Delivery, Inbound, PushError, PushHandler, PushReply, Sink, WebhookRequest};
use secrecy::{ExposeSecret, SecretString};

use crate::commands::Answers;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub struct TelegramWebhook {
    pub secret: SecretString,
    pub answers: Arc<Answers>,
}

#[async_trait::async_trait]
impl PushHandler for TelegramWebhook {
    fn handle(&self, req: &WebhookRequest) -> Result<PushReply, PushError> {
        if req.method != http::Method::POST {
            return Err(PushError::MethodNotAllowed);
        }
        let given = req
            .header(SECRET_HEADER)
            .ok_or_else(|| PushError::Unauthorized(format!("no {SECRET_HEADER}")))?;
        if !same_secret(given.as_bytes(), self.secret.expose_secret().as_bytes()) {
            return Err(PushError::Unauthorized(format!("wrong {SECRET_HEADER}")));
        }
        let normalizer = &self.answers.normalizer;
        let item = match serde_json::from_slice::<serde_json::Value>(&req.body) {
            Ok(v) if v.is_object() => normalizer.update(&v, &req.body),
            Ok(_) => {
                normalizer.unreadable(&req.body, "the webhook body is not an update object".into())
            }
            Err(e) => {
                normalizer.unreadable(&req.body, format!("the webhook body is not JSON: {e}"))
            }
        };
        Ok(PushReply::Ingest(vec![item]))
    }

    async fn complete(&self, items: Vec<Inbound>) -> Vec<Inbound> {
        self.answers.complete(items).await
    }

    async fn after_commit(&self, items: &[Inbound], deliveries: &[Delivery], sink: &dyn Sink) {
        self.answers.answer(items, deliveries, sink).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BotApi;
    use crate::normalize::tests::{fixture, n};
    use aduan_kit::testing::check_inbound;
    use aduan_kit::{ChannelName, InboundKind};
    use bytes::Bytes;
    use std::time::Duration;

    fn hook() -> TelegramWebhook {
        let name = ChannelName::parse("tg").expect("name");
        TelegramWebhook {
            secret: SecretString::from("rahasia_webhook-1".to_owned()),
            answers: Arc::new(Answers {
                api: Arc::new(
                    BotApi::new(
                        name,
                        "https://api.telegram.org",
                        SecretString::from("7000000001:AAHrahasia".to_owned()),
                        Duration::from_secs(5),
                        1024,
                        false,
                    )
                    .expect("api"),
                ),
                normalizer: Arc::new(n()),
                public_url: "https://lapor.example.go.id".into(),
            }),
        }
    }

    fn req(secret: Option<&str>, body: Bytes) -> WebhookRequest {
        let mut headers = http::HeaderMap::new();
        if let Some(s) = secret {
            headers.insert(SECRET_HEADER, s.parse().expect("header"));
        }
        WebhookRequest {
            method: http::Method::POST,
            query: None,
            headers,
            body,
        }
    }

    #[test]
    fn only_the_right_secret_is_let_in() {
        let body = fixture("private_text.json");
        match hook().handle(&req(Some("rahasia_webhook-1"), body.clone())) {
            Ok(PushReply::Ingest(items)) => {
                assert_eq!(items.len(), 1);
                check_inbound(&items[0], &ChannelName::parse("tg").expect("name"));
                assert!(matches!(items[0].kind, InboundKind::Complaint(_)));
            }
            other => panic!("{other:?}"),
        }
        for wrong in [
            Some("rahasia_webhook-2"),
            Some("rahasia_webhook-"),
            Some(""),
            None,
        ] {
            assert!(
                matches!(
                    hook().handle(&req(wrong, body.clone())),
                    Err(PushError::Unauthorized(_))
                ),
                "{wrong:?}"
            );
        }
        let mut get = req(Some("rahasia_webhook-1"), body);
        get.method = http::Method::GET;
        assert!(matches!(
            hook().handle(&get),
            Err(PushError::MethodNotAllowed)
        ));
    }

    #[test]
    fn a_body_that_is_no_update_is_quarantined() {
        match hook().handle(&req(
            Some("rahasia_webhook-1"),
            Bytes::from_static(b"{bukan json"),
        )) {
            Ok(PushReply::Ingest(items)) => {
                assert!(matches!(items[0].kind, InboundKind::Quarantine { .. }));
                assert!(items[0].external_id.starts_with("update:"));
            }
            other => panic!("{other:?}"),
        }
    }
}
