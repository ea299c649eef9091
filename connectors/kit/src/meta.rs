//! What the Meta channels (Facebook Pages, WhatsApp) share on their webhook: the
//! subscription handshake, `X-Hub-Signature-256` over the exact bytes received, and the
//! JSON body's `object` telling whose delivery it is.

use bytes::Bytes;
use serde_json::Value;

use crate::signature::{same_secret, verify_hex};
use crate::{ChannelName, Inbound, PushError, PushReply, WebhookRequest};

/// The header Meta signs webhook deliveries with.
pub const HUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Meta's webhook subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=…
/// &hub.challenge=…`): the challenge echoed when the verify token is the configured one,
/// compared in constant time.
pub fn hub_handshake(req: &WebhookRequest, verify_token: &str) -> Result<PushReply, PushError> {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("hub.mode") != Some("subscribe") {
        return Err(PushError::BadRequest("hub.mode must be subscribe".into()));
    }
    let token = get("hub.verify_token").unwrap_or("");
    if !same_secret(token.as_bytes(), verify_token.as_bytes()) {
        return Err(PushError::Unauthorized("wrong hub.verify_token".into()));
    }
    Ok(PushReply::Respond {
        status: 200,
        content_type: "text/plain",
        body: Bytes::from(get("hub.challenge").unwrap_or("").to_owned()),
    })
}

/// A Meta webhook delivery (`POST`) is authentic: [`HUB_SIGNATURE_HEADER`] holds the
/// app secret's HMAC of the exact bytes received (Meta escapes non-ASCII as `\uXXXX`;
/// nothing is re-encoded here).
pub fn check_hub_signature(req: &WebhookRequest, app_secret: &[u8]) -> Result<(), PushError> {
    let sig = req
        .header(HUB_SIGNATURE_HEADER)
        .ok_or_else(|| PushError::Unauthorized(format!("no {HUB_SIGNATURE_HEADER}")))?;
    if verify_hex(app_secret, &req.body, sig) {
        Ok(())
    } else {
        Err(PushError::Unauthorized(
            "the signature does not match".into(),
        ))
    }
}

/// `appsecret_proof` for Graph calls: the lowercase hex HMAC-SHA256 of the access token
/// keyed with the app secret.
pub fn appsecret_proof(app_secret: &[u8], token: &[u8]) -> String {
    crate::signature::sign_hex(app_secret, token)
        .trim_start_matches("sha256=")
        .to_owned()
}

/// The secrets of a Meta webhook.
pub struct HubSecrets<'a> {
    pub verify_token: &'a str,
    pub app_secret: &'a [u8],
}

/// One Meta webhook call: the handshake on `GET`; on `POST` the signature, then the
/// body handed to `entries` when its `object` is `object` (another object's delivery is
/// acknowledged with nothing), and a body that is not JSON quarantined whole.
pub fn hub_webhook(
    req: &WebhookRequest,
    secrets: HubSecrets<'_>,
    object: &str,
    (kind, channel): (&'static str, &ChannelName),
    entries: impl FnOnce(&Value) -> Vec<Inbound>,
) -> Result<PushReply, PushError> {
    match req.method {
        http::Method::GET => hub_handshake(req, secrets.verify_token),
        http::Method::POST => {
            check_hub_signature(req, secrets.app_secret)?;
            Ok(PushReply::Ingest(
                match serde_json::from_slice::<Value>(&req.body) {
                    Ok(v) if v["object"] == object => entries(&v),
                    Ok(_) => Vec::new(),
                    Err(e) => vec![Inbound::quarantined_json(
                        kind,
                        channel.clone(),
                        "webhook",
                        req.body.clone(),
                        format!("webhook body is not JSON: {e}"),
                    )],
                },
            ))
        }
        _ => Err(PushError::MethodNotAllowed),
    }
}
