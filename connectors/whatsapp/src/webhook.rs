//! The Cloud API webhook: the subscription handshake and deliveries checked against
//! `X-Hub-Signature-256` over the exact bytes received, in constant time, before
//! anything is parsed (the kit's Meta helpers). Media are downloaded before the
//! commit.

use std::sync::Arc;

use aduan_kit::meta::{hub_webhook, HubSecrets};
use aduan_kit::{
    AttachmentData, Inbound, InboundKind, PushError, PushHandler, PushReply, WebhookRequest,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::api::CloudApi;
use crate::normalize::{media_of, Normalizer, KIND};

pub use aduan_kit::meta::HUB_SIGNATURE_HEADER as SIGNATURE_HEADER;

pub struct WhatsAppWebhook {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub normalizer: Arc<Normalizer>,
    /// Downloads media before the items are committed (`None` in unit tests: the text
    /// names the media).
    pub api: Option<Arc<CloudApi>>,
}

/// The message with this `wamid` in a webhook body.
fn message_in<'a>(body: &'a Value, id: &str) -> Option<&'a Value> {
    body["entry"]
        .as_array()?
        .iter()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .flat_map(|c| c["value"]["messages"].as_array().into_iter().flatten())
        .find(|m| m["id"].as_str() == Some(id))
}

/// A file name for a message's media: the document's own name when it has a safe one.
fn filename(message: &Value, kind: &str, id: &str, content_type: &str) -> String {
    let own = message[kind]["filename"]
        .as_str()
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).trim())
        .filter(|f| !f.is_empty() && !f.starts_with('.') && f.len() <= 200);
    if let Some(f) = own {
        return f.to_owned();
    }
    let ext = match content_type.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(80)
        .collect();
    format!("{safe}-{kind}.{ext}")
}

#[async_trait::async_trait]
impl PushHandler for WhatsAppWebhook {
    async fn complete(&self, mut items: Vec<Inbound>) -> Vec<Inbound> {
        let Some(api) = &self.api else {
            return items;
        };
        for item in &mut items {
            let InboundKind::Complaint(draft) = &mut item.kind else {
                continue;
            };
            let Ok(body) = serde_json::from_slice::<Value>(&item.raw.bytes) else {
                continue;
            };
            let Some(message) = message_in(&body, &item.external_id) else {
                continue;
            };
            let Some((kind, media_id)) = media_of(message) else {
                continue;
            };
            match api.download_media(media_id).await {
                Ok((content_type, bytes)) => draft.attachments.push(AttachmentData {
                    filename: filename(message, kind, &item.external_id, &content_type),
                    content_type,
                    bytes,
                }),
                Err(e) => {
                    tracing::warn!(channel = %api.name, error = %e, "media not downloaded; the message says so");
                    draft
                        .body
                        .push_str(&format!("\n[lampiran tidak diunduh: media {media_id}]"));
                }
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
            "whatsapp_business_account",
            (KIND, &self.normalizer.channel),
            |v| self.normalizer.entries(v, &req.body),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::testing::{check_inbound, check_push_verifies};
    use aduan_kit::ChannelName;
    use bytes::Bytes;

    fn vectors() -> Value {
        let p = format!(
            "{}/tests/fixtures/signature_vectors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(p).expect("vectors")).expect("json")
    }

    fn hook() -> WhatsAppWebhook {
        let v = vectors();
        WhatsAppWebhook {
            app_secret: SecretString::from(v["app_secret"].as_str().expect("secret").to_owned()),
            verify_token: SecretString::from(v["verify_token"].as_str().expect("token").to_owned()),
            normalizer: Arc::new(Normalizer::new(
                ChannelName::parse("wa").expect("name"),
                "106540000000001",
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

    fn fixture(file: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("body")
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
        for wrong in [
            "hub.mode=subscribe&hub.verify_token=salah&hub.challenge=1",
            "hub.mode=subscribe&hub.challenge=1",
        ] {
            assert!(matches!(
                hook().handle(&req(
                    http::Method::GET,
                    Some(wrong.into()),
                    None,
                    Vec::new()
                )),
                Err(PushError::Unauthorized(_))
            ));
        }
        assert!(matches!(
            hook().handle(&req(
                http::Method::GET,
                Some("hub.mode=x".into()),
                None,
                Vec::new()
            )),
            Err(PushError::BadRequest(_))
        ));
    }

    /// The vectors were computed with python3's hmac over the fixtures' exact bytes,
    /// in which Meta's `\uXXXX` escapes stand for the non-ASCII text.
    #[test]
    fn the_known_signatures_verify_over_the_exact_bytes_and_forgeries_do_not() {
        let v = vectors();
        for file in ["text.json", "statuses.json"] {
            let body = fixture(file);
            let sig = v["signatures"][file].as_str().expect("sig");
            let signed = req(http::Method::POST, None, Some(sig), body.clone());
            check_push_verifies(&hook(), &signed, &[SIGNATURE_HEADER]);
            match hook().handle(&signed) {
                Ok(PushReply::Ingest(items)) => {
                    assert!(!items.is_empty(), "{file}");
                    for it in &items {
                        check_inbound(it, &ChannelName::parse("wa").expect("name"));
                    }
                }
                other => panic!("{file}: {other:?}"),
            }
        }
        // The same text re-encoded as UTF-8 (what a careless re-serialization would
        // sign) does not verify: the signature is over the bytes Meta sent.
        let body = fixture("text.json");
        let reencoded = serde_json::to_vec(&serde_json::from_slice::<Value>(&body).expect("json"))
            .expect("json");
        assert_ne!(reencoded, body);
        let sig = v["signatures"]["text.json"].as_str().expect("sig");
        assert!(matches!(
            hook().handle(&req(http::Method::POST, None, Some(sig), reencoded)),
            Err(PushError::Unauthorized(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_json_is_quarantined_and_other_objects_are_not_ours() {
        let secret = vectors()["app_secret"].as_str().expect("s").to_owned();
        let sign = |b: &[u8]| aduan_kit::signature::sign_hex(secret.as_bytes(), b);
        let bad = b"{\"object\":".to_vec();
        match hook().handle(&req(
            http::Method::POST,
            None,
            Some(&sign(&bad)),
            bad.clone(),
        )) {
            Ok(PushReply::Ingest(items)) => {
                assert_eq!(items.len(), 1);
                assert!(
                    matches!(&items[0].kind, InboundKind::Quarantine { reason } if reason.contains("not JSON"))
                );
            }
            other => panic!("{other:?}"),
        }
        let page = br#"{"object":"page","entry":[]}"#.to_vec();
        assert!(matches!(
            hook().handle(&req(http::Method::POST, None, Some(&sign(&page)), page)),
            Ok(PushReply::Ingest(items)) if items.is_empty()
        ));
        assert!(matches!(
            hook().handle(&req(http::Method::PUT, None, None, Vec::new())),
            Err(PushError::MethodNotAllowed)
        ));
    }

    #[test]
    fn media_files_get_safe_names() {
        let m: Value = serde_json::json!({"document": {"filename": "../../etc/surat.pdf"}});
        assert_eq!(
            filename(&m, "document", "wamid.X", "application/pdf"),
            "surat.pdf"
        );
        let m: Value = serde_json::json!({"image": {}});
        assert_eq!(
            filename(&m, "image", "wamid.A/B=", "image/jpeg"),
            "wamid_A_B_-image.jpg"
        );
    }
}
