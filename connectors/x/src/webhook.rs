//! The Account Activity webhook at `/webhooks/{name}`: the CRC challenge (`GET
//! ?crc_token=`) answered with the HMAC of the consumer secret, and event deliveries
//! (`POST`) checked against `x-twitter-webhooks-signature` over the raw body, in
//! constant time, before anything is parsed.

use std::sync::Arc;

use aduan_kit::signature::{sign_base64, verify_base64};
use aduan_kit::{Inbound, PushError, PushHandler, PushReply, WebhookRequest};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::model::{ActivityEvent, TweetV1};
use crate::normalize::{Normalizer, TweetView, KIND};

pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";

pub struct XWebhook {
    pub consumer_secret: SecretString,
    pub normalizer: Arc<Normalizer>,
}

/// The longest CRC token answered. X's tokens are a few dozen base64 characters.
pub const MAX_CRC_TOKEN: usize = 256;

/// `sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>`.
pub fn crc_response(consumer_secret: &str, crc_token: &str) -> String {
    sign_base64(consumer_secret.as_bytes(), crc_token.as_bytes())
}

/// Whether a CRC token is one X could have sent. The answer to a CRC check is the
/// same HMAC that signs an event body, so a token that could be a body (JSON has
/// braces and quotes) must never be signed: that would make the check a signing
/// oracle for forged events.
pub fn crc_token_acceptable(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_CRC_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

impl XWebhook {
    fn quarantine(&self, body: &Bytes, reason: String) -> Inbound {
        Inbound::quarantined_json(
            KIND,
            self.normalizer.channel.clone(),
            "webhook",
            body.clone(),
            reason,
        )
    }
}

#[async_trait::async_trait]
impl PushHandler for XWebhook {
    fn handle(&self, req: &WebhookRequest) -> Result<PushReply, PushError> {
        let secret = self.consumer_secret.expose_secret();
        match req.method {
            http::Method::GET => {
                let token = req
                    .query_pairs()
                    .into_iter()
                    .find(|(k, _)| k == "crc_token")
                    .map(|(_, v)| v)
                    .ok_or_else(|| PushError::BadRequest("crc_token is missing".into()))?;
                if !crc_token_acceptable(&token) {
                    return Err(PushError::BadRequest(format!(
                        "crc_token must be 1 to {MAX_CRC_TOKEN} base64 characters"
                    )));
                }
                let body = serde_json::json!({ "response_token": crc_response(secret, &token) });
                Ok(PushReply::Respond {
                    status: 200,
                    content_type: "application/json",
                    body: Bytes::from(body.to_string()),
                })
            }
            http::Method::POST => {
                let signature = req
                    .header(SIGNATURE_HEADER)
                    .ok_or_else(|| PushError::Unauthorized(format!("no {SIGNATURE_HEADER}")))?;
                if !verify_base64(secret.as_bytes(), &req.body, signature) {
                    return Err(PushError::Unauthorized(
                        "the signature does not match".into(),
                    ));
                }
                let event: ActivityEvent = match serde_json::from_slice(&req.body) {
                    Ok(e) => e,
                    Err(e) => {
                        return Ok(PushReply::Ingest(vec![self.quarantine(
                            &req.body,
                            format!("webhook body is not an Account Activity event: {e}"),
                        )]))
                    }
                };
                let mut items = Vec::new();
                for raw in &event.tweet_create_events {
                    let bytes = Bytes::copy_from_slice(raw.get().as_bytes());
                    match serde_json::from_str::<TweetV1>(raw.get()) {
                        Ok(t) => {
                            let mut view = TweetView::from_v1(&t);
                            // Media cannot be fetched here (no I/O in a push handler):
                            // their links stay in the text.
                            for url in std::mem::take(&mut view.media_urls) {
                                view.text.push_str(&format!("\n[media: {url}]"));
                            }
                            items.push(self.normalizer.inbound(&view, bytes, Vec::new()));
                        }
                        Err(e) => items.push(self.quarantine(
                            &bytes,
                            format!("a tweet_create_event that is not a tweet: {e}"),
                        )),
                    }
                }
                Ok(PushReply::Ingest(items))
            }
            _ => Err(PushError::MethodNotAllowed),
        }
    }
}
