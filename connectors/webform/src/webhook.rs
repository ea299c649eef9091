//! Submissions from an external form provider (a hosted form, a kiosk app), posted to
//! `/webhooks/{name}` as JSON signed with HMAC-SHA256 of the raw body.

use std::collections::BTreeMap;

use aduan_kit::signature::verify_hex;
use aduan_kit::{
    ChannelName, ConfigError, Inbound, InboundKind, PushError, PushHandler, PushReply, Raw,
    Threading, WebhookRequest,
};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fields::{FormRules, ReportFields};

/// `[[channels]] kind = "webform"` keys.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Shared secret of the provider; with it, the channel accepts webhooks.
    pub secret: Option<SecretString>,
    /// Header carrying `sha256=<hex>`; default `X-Aduan-Signature`.
    pub signature_header: Option<String>,
    /// JSON pointer to the provider's submission id; default `/id`.
    pub id_field: Option<String>,
    /// Report field → JSON pointer in the provider's payload (`title = "/answers/judul"`).
    /// Fields not named are read from the payload's top level under their own name.
    pub fields: BTreeMap<String, String>,
    /// Whether this channel is the public form at `GET /` (default: when it has no secret).
    pub public_form: Option<bool>,
}

const FIELD_NAMES: &[&str] = &[
    "title",
    "body",
    "category",
    "location",
    "occurred_on",
    "name",
    "email",
    "phone",
    "anonymous",
    "confidential",
];

pub struct WebhookHandler {
    name: ChannelName,
    secret: SecretString,
    header: String,
    id_pointer: String,
    fields: Vec<(&'static str, String)>,
    rules: FormRules,
}

impl WebhookHandler {
    pub fn new(name: ChannelName, cfg: WebhookConfig) -> Result<Self, ConfigError> {
        let secret = cfg.secret.ok_or_else(|| {
            ConfigError::new(
                name.as_str(),
                "secret",
                "a shared secret for the webhook signature",
            )
        })?;
        if secret.expose_secret().len() < 16 {
            return Err(ConfigError::new(
                name.as_str(),
                "secret",
                "at least 16 characters",
            ));
        }
        for key in cfg.fields.keys() {
            if !FIELD_NAMES.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    name.as_str(),
                    format!("fields.{key}"),
                    format!("one of {}", FIELD_NAMES.join(", ")),
                ));
            }
        }
        let pointer = |p: &str, key: &str| -> Result<String, ConfigError> {
            if p.is_empty() || p.starts_with('/') {
                Ok(p.to_owned())
            } else {
                Err(ConfigError::new(
                    name.as_str(),
                    key,
                    format!("a JSON pointer starting with '/', got {p:?}"),
                ))
            }
        };
        let fields = FIELD_NAMES
            .iter()
            .map(|f| {
                let p = cfg
                    .fields
                    .get(*f)
                    .cloned()
                    .unwrap_or_else(|| format!("/{f}"));
                pointer(&p, &format!("fields.{f}")).map(|p| (*f, p))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id_pointer: pointer(cfg.id_field.as_deref().unwrap_or("/id"), "id_field")?,
            header: cfg
                .signature_header
                .unwrap_or_else(|| "x-aduan-signature".to_owned())
                .to_ascii_lowercase(),
            name,
            secret,
            fields,
            rules: FormRules::default(),
        })
    }

    /// Categories and limits come from the daemon's `[form]` section.
    pub fn with_rules(mut self, rules: FormRules) -> Self {
        self.rules = rules;
        self
    }

    fn inbound(&self, external_id: String, kind: InboundKind, raw: &bytes::Bytes) -> Inbound {
        Inbound {
            channel: crate::KIND,
            channel_name: self.name.clone(),
            external_id,
            received_at: Utc::now(),
            kind,
            thread: Threading::default(),
            raw: Raw {
                content_type: "application/json".into(),
                bytes: raw.clone(),
            },
            acknowledge: None,
        }
    }

    fn map_fields(&self, payload: &Value) -> ReportFields {
        let mut obj = serde_json::Map::new();
        for (field, ptr) in &self.fields {
            match payload.pointer(ptr) {
                Some(Value::Null) | None => {}
                Some(Value::String(s)) => {
                    obj.insert((*field).to_owned(), Value::String(s.clone()));
                }
                Some(v @ Value::Bool(_)) if matches!(*field, "anonymous" | "confidential") => {
                    obj.insert((*field).to_owned(), v.clone());
                }
                Some(v) => {
                    obj.insert((*field).to_owned(), Value::String(v.to_string()));
                }
            }
        }
        serde_json::from_value(Value::Object(obj)).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PushHandler for WebhookHandler {
    fn handle(&self, req: &WebhookRequest) -> Result<PushReply, PushError> {
        if req.method != http::Method::POST {
            return Err(PushError::MethodNotAllowed);
        }
        let sig = req
            .header(&self.header)
            .ok_or_else(|| PushError::Unauthorized(format!("missing {} header", self.header)))?;
        if !verify_hex(self.secret.expose_secret().as_bytes(), &req.body, sig) {
            return Err(PushError::Unauthorized(
                "signature does not match the body".into(),
            ));
        }
        // From here on the request is authentic: whatever is wrong with it is kept
        // (quarantined) for an admin to see, never dropped.
        let body_hash = || format!("sha256:{}", hex::encode(Sha256::digest(&req.body)));
        let payload: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => {
                let kind = InboundKind::Quarantine {
                    reason: format!("body is not JSON: {e}"),
                };
                return Ok(PushReply::Ingest(vec![self.inbound(
                    body_hash(),
                    kind,
                    &req.body,
                )]));
            }
        };
        let external_id = match payload.pointer(&self.id_pointer) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => body_hash(),
        };
        let kind = match self.map_fields(&payload).validate(&self.rules, Vec::new()) {
            Ok(v) => InboundKind::Complaint(Box::new(v.draft)),
            Err(errs) => InboundKind::Quarantine {
                reason: errs
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.code))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        };
        Ok(PushReply::Ingest(vec![self.inbound(
            external_id,
            kind,
            &req.body,
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_kit::signature::sign_hex;
    use aduan_kit::testing::{check_inbound, check_push_verifies};

    const SECRET: &str = "rahasia-penyedia-formulir";

    fn handler() -> WebhookHandler {
        let cfg: WebhookConfig = toml::from_str(&format!(
            r#"
            secret = "{SECRET}"
            id_field = "/submission/id"
            [fields]
            title = "/answers/judul"
            body = "/answers/isi"
            email = "/answers/surel"
            "#
        ))
        .expect("config");
        WebhookHandler::new(ChannelName::parse("formulir-mitra").expect("name"), cfg)
            .expect("handler")
    }

    fn request(body: &[u8]) -> WebhookRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-aduan-signature",
            sign_hex(SECRET.as_bytes(), body).parse().expect("header"),
        );
        WebhookRequest {
            method: http::Method::POST,
            query: None,
            headers,
            body: bytes::Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn maps_fields_and_keeps_the_contract() {
        let body = br#"{"submission":{"id":"S-991"},"answers":{"judul":"Jalan rusak","isi":"Lubang besar di Jl. Sudirman","surel":"a@b.id"}}"#;
        let h = handler();
        check_push_verifies(&h, &request(body), &["x-aduan-signature"]);
        let Ok(PushReply::Ingest(items)) = h.handle(&request(body)) else {
            panic!("not ingested")
        };
        assert_eq!(items.len(), 1);
        check_inbound(
            &items[0],
            &ChannelName::parse("formulir-mitra").expect("name"),
        );
        assert_eq!(items[0].external_id, "S-991");
        let InboundKind::Complaint(d) = &items[0].kind else {
            panic!("not a complaint")
        };
        assert_eq!(d.title, "Jalan rusak");
        assert_eq!(d.reporter.email.as_deref(), Some("a@b.id"));
    }

    #[test]
    fn authentic_but_invalid_payloads_are_quarantined_not_dropped() {
        let h = handler();
        for body in [&b"not json"[..], br#"{"submission":{"id":7},"answers":{}}"#] {
            let Ok(PushReply::Ingest(items)) = h.handle(&request(body)) else {
                panic!("refused")
            };
            assert!(
                matches!(items[0].kind, InboundKind::Quarantine { .. }),
                "{:?}",
                items[0].kind
            );
            check_inbound(
                &items[0],
                &ChannelName::parse("formulir-mitra").expect("name"),
            );
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg: WebhookConfig = toml::from_str("secret = \"short\"").expect("config");
        let err = WebhookHandler::new(ChannelName::parse("f").expect("name"), cfg)
            .err()
            .expect("refused");
        assert_eq!(err.key, "secret");
        let cfg: WebhookConfig =
            toml::from_str(&format!("secret = \"{SECRET}\"\n[fields]\njudul = \"/a\""))
                .expect("config");
        let err = WebhookHandler::new(ChannelName::parse("f").expect("name"), cfg)
            .err()
            .expect("refused");
        assert_eq!(err.key, "fields.judul");
    }
}
