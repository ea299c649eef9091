//! The Page webhook: the subscription handshake (`GET ?hub.mode=subscribe&
//! hub.verify_token=…&hub.challenge=…`) and deliveries (`POST`) checked against
//! `X-Hub-Signature-256` (lowercase hex HMAC-SHA256 of the app secret) over the raw
//! body, in constant time, before anything is parsed.

use std::sync::Arc;

use aduan_kit::meta::{hub_webhook, HubSecrets};
use aduan_kit::{Inbound, PushError, PushHandler, PushReply, WebhookRequest};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::api::GraphApi;
use crate::normalize::{Normalizer, KIND};

pub use aduan_kit::meta::HUB_SIGNATURE_HEADER as SIGNATURE_HEADER;

pub struct FacebookWebhook {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub normalizer: Arc<Normalizer>,
    /// Downloads Messenger attachments before the items are committed (`None` in unit
    /// tests: the links stay in the text).
    pub api: Option<Arc<GraphApi>>,
}

/// The Messenger message with this `mid` in a webhook body.
fn message_in<'a>(body: &'a serde_json::Value, mid: &str) -> Option<&'a serde_json::Value> {
    body["entry"]
        .as_array()?
        .iter()
        .flat_map(|e| e["messaging"].as_array().into_iter().flatten())
        .map(|m| &m["message"])
        .find(|m| m["mid"].as_str() == Some(mid))
}

#[async_trait::async_trait]
impl PushHandler for FacebookWebhook {
    async fn complete(&self, mut items: Vec<Inbound>) -> Vec<Inbound> {
        let Some(api) = &self.api else {
            return items;
        };
        // The items of a request carry the same body: it is parsed once, and only when
        // a Messenger message may link attachments.
        let mut parsed: Option<(Bytes, serde_json::Value)> = None;
        for item in &mut items {
            if !matches!(item.kind, aduan_kit::InboundKind::Complaint(_))
                || !crate::reply::is_messenger(&item.external_id)
            {
                continue;
            }
            if parsed
                .as_ref()
                .is_none_or(|(raw, _)| *raw != item.raw.bytes)
            {
                parsed = serde_json::from_slice(&item.raw.bytes)
                    .ok()
                    .map(|v| (item.raw.bytes.clone(), v));
            }
            if let Some(message) = parsed
                .as_ref()
                .and_then(|(_, b)| message_in(b, &item.external_id))
            {
                let message = message.clone();
                crate::poll::attach(api, item, &message).await;
            }
        }
        items
    }

    fn handle(&self, req: &WebhookRequest) -> Result<PushReply, PushError> {
        hub_webhook(
            req,
            HubSecrets {
                verify_token: self.verify_token.expose_secret(),
                app_secret: self.app_secret.expose_secret().as_bytes(),
            },
            "page",
            (KIND, &self.normalizer.channel),
            |v| self.normalizer.entries(v, &req.body),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::ChannelName;

    fn vectors() -> serde_json::Value {
        let p = format!(
            "{}/tests/fixtures/signature_vectors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(p).expect("vectors")).expect("json")
    }

    fn hook() -> FacebookWebhook {
        let v = vectors();
        FacebookWebhook {
            app_secret: SecretString::from(v["app_secret"].as_str().expect("secret").to_owned()),
            verify_token: SecretString::from(v["verify_token"].as_str().expect("token").to_owned()),
            normalizer: Arc::new(Normalizer::new(
                ChannelName::parse("fb").expect("name"),
                "104500000000001",
            )),
            api: None,
        }
    }

    fn req(
        method: http::Method,
        query: Option<String>,
        sig: Option<&str>,
        body: Vec<u8>,
    ) -> WebhookRequest {
        let mut headers = http::HeaderMap::new();
        if let Some(s) = sig {
            headers.insert(SIGNATURE_HEADER, s.parse().expect("header"));
        }
        WebhookRequest {
            method,
            query,
            headers,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
        let v = vectors();
        let q = format!(
            "hub.mode=subscribe&hub.verify_token={}&hub.challenge={}",
            v["verify_token"].as_str().expect("t"),
            v["challenge"].as_str().expect("c")
        );
        match hook().handle(&req(http::Method::GET, Some(q), None, Vec::new())) {
            Ok(PushReply::Respond { status, body, .. }) => {
                assert_eq!(status, 200);
                assert_eq!(
                    body,
                    Bytes::from(v["challenge"].as_str().expect("c").to_owned())
                );
            }
            other => panic!("{other:?}"),
        }
        let wrong = "hub.mode=subscribe&hub.verify_token=salah&hub.challenge=1".to_owned();
        assert!(matches!(
            hook().handle(&req(http::Method::GET, Some(wrong), None, Vec::new())),
            Err(PushError::Unauthorized(_))
        ));
    }

    #[test]
    fn the_known_signatures_verify_over_the_exact_bytes_and_forgeries_do_not() {
        let v = vectors();
        for file in ["feed_comment.json", "messaging_text.json"] {
            let body = std::fs::read(format!(
                "{}/tests/fixtures/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("body");
            let sig = v["signatures"][file].as_str().expect("sig");
            match hook().handle(&req(http::Method::POST, None, Some(sig), body.clone())) {
                Ok(PushReply::Ingest(items)) => assert_eq!(items.len(), 1, "{file}"),
                other => panic!("{file}: {other:?}"),
            }
            let mut tampered = body.clone();
            tampered.push(b' ');
            assert!(matches!(
                hook().handle(&req(http::Method::POST, None, Some(sig), tampered)),
                Err(PushError::Unauthorized(_))
            ));
            assert!(matches!(
                hook().handle(&req(http::Method::POST, None, None, body)),
                Err(PushError::Unauthorized(_))
            ));
        }
    }
}
