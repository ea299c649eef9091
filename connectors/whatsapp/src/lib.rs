//! The WhatsApp channel: one business phone number on the Cloud API (Graph), with the
//! version and base URL configurable.
//!
//! * [`webhook`]: the subscription handshake and deliveries signed with
//!   `X-Hub-Signature-256`; media downloaded through the media-id endpoint before the
//!   commit.
//! * [`normalize`]: messages as complaints (threaded by sender and by the message they
//!   quote), statuses as delivery reports: the pure part.
//! * [`reply`]: receipts and answers through the outbox, as text within 24 hours of
//!   the citizen's last message, else as the approved template.
//! * [`api`]: calls, error codes, media.

pub mod api;
pub mod config;
pub mod normalize;
pub mod reply;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    BuildContext, Channel, ChannelFactory, ConfigError, ConnectorError, HealthCheck, KindInfo,
    Words,
};
use secrecy::ExposeSecret;

pub use config::WhatsAppConfig;
pub use normalize::{Normalizer, KIND};
pub use webhook::WhatsAppWebhook;

/// How the console shows WhatsApp complaints.
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "WhatsApp",
        en: "WhatsApp",
    },
    icon: r#"<path d="M8 1.5a6.5 6.5 0 0 0-5.6 9.8l-.9 3.2 3.3-.9A6.5 6.5 0 1 0 8 1.5z" fill="none" stroke="currentColor"/><path d="M5.8 4.8c.3-.3.7-.3.9 0l.7 1.1c.1.3.1.6-.1.8l-.4.4c.4.9 1.1 1.6 2 2l.4-.4c.2-.2.5-.3.8-.1l1.1.7c.3.2.3.6 0 .9l-.5.5c-.5.5-1.3.6-1.9.3-1.6-.8-2.9-2.1-3.7-3.7-.3-.6-.2-1.4.3-1.9z" fill="currentColor"/>"#,
    colour: "#0f7a3d",
    chart_colour: "#25a35a",
    answer_limit: Some(reply::MAX_CHARS),
    reauthorize: Some(Words {
        id: "token akses baru (pengguna sistem) dari Meta Business",
        en: "a new (system user) access token from Meta Business",
    }),
};

/// Builds `kind = "whatsapp"` channels.
pub struct WhatsAppFactory;

impl ChannelFactory for WhatsAppFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: WhatsAppConfig = ctx.parse()?;
        let name = ctx.name.as_str();
        if cfg.phone_number_id.is_empty()
            || !cfg.phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ConfigError::new(
                name,
                "phone_number_id",
                "the number's numeric id in the Cloud API (not the phone number)",
            ));
        }
        for (key, value) in [
            ("access_token", &cfg.access_token),
            ("app_secret", &cfg.app_secret),
            ("verify_token", &cfg.verify_token),
        ] {
            if value.expose_secret().trim().is_empty() {
                return Err(ConfigError::new(
                    name,
                    key,
                    "a secret (use ${VAR} or a *_file key)",
                ));
            }
        }
        if !(cfg.api_base.starts_with("https://") || cfg.api_base.starts_with("http://")) {
            return Err(ConfigError::new(name, "api_base", "an http(s) URL"));
        }
        if !cfg.graph_version.starts_with('v') {
            return Err(ConfigError::new(
                name,
                "graph_version",
                "a version such as \"v24.0\"",
            ));
        }
        if cfg.max_media_bytes == 0 {
            return Err(ConfigError::new(name, "max_media_bytes", "at least 1"));
        }
        if let Some(bad) = aduan_kit::fetch::FetchPolicy::bad_host(&cfg.media_hosts) {
            return Err(ConfigError::new(
                name,
                "media_hosts",
                format!("host names such as \"fbsbx.com\", not {bad:?}"),
            ));
        }
        let template = match &cfg.template_name {
            Some(t) if t.trim().is_empty() => {
                return Err(ConfigError::new(
                    name,
                    "template_name",
                    "the name of an approved message template",
                ))
            }
            Some(t) => Some((t.trim().to_owned(), cfg.template_language.trim().to_owned())),
            None => None,
        };
        if template.is_some() && cfg.template_language.trim().is_empty() {
            return Err(ConfigError::new(
                name,
                "template_language",
                "the template's language code, such as \"id\"",
            ));
        }
        let api = Arc::new(
            api::CloudApi::new(ctx.name.clone(), &cfg)
                .map_err(|e| ConfigError::new(name, "api_base", e))?,
        );
        let mut normalizer = Normalizer::new(ctx.name.clone(), &cfg.phone_number_id)
            .with_window(Duration::from_secs(cfg.thread_window_secs));
        if cfg.ack.enabled {
            normalizer = normalizer
                .with_acknowledgement(cfg.ack.template.clone())
                .with_ack_max_age(Duration::from_secs(cfg.ack.max_age_hours * 3600));
        }
        let mut channel = Channel::new(KIND, ctx.name.clone());
        channel.push = Some(Arc::new(WhatsAppWebhook {
            app_secret: cfg.app_secret.clone(),
            verify_token: cfg.verify_token.clone(),
            normalizer: Arc::new(normalizer),
            api: Some(api.clone()),
        }));
        channel.outbound = Some(Arc::new(reply::WhatsAppSender {
            api: api.clone(),
            phone_number_id: cfg.phone_number_id.clone(),
            template,
        }));
        channel.health_check = Some(Arc::new(WhatsAppCheck {
            api,
            phone_number_id: cfg.phone_number_id,
        }));
        Ok(channel)
    }
}

/// `aduan check --online`: the token may read the number's metadata.
struct WhatsAppCheck {
    api: Arc<api::CloudApi>,
    phone_number_id: String,
}

#[async_trait::async_trait]
impl HealthCheck for WhatsAppCheck {
    async fn check(&self) -> Result<String, ConnectorError> {
        let body = self
            .api
            .get(
                &self.phone_number_id,
                &[(
                    "fields",
                    "display_phone_number,verified_name,quality_rating",
                )],
            )
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(
                &self.api.name,
                format!("GET /{}: {e}", self.phone_number_id),
            )
        })?;
        let number = v["display_phone_number"].as_str().unwrap_or("?");
        let mut report = format!("WhatsApp number {number}");
        if let Some(n) = v["verified_name"].as_str() {
            report.push_str(&format!(" ({n})"));
        }
        if let Some(q) = v["quality_rating"].as_str() {
            report.push_str(&format!(", quality {q}"));
        }
        Ok(report)
    }
}
