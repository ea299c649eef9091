//! The X (Twitter) channel, on API v2 (egg-mode only speaks the retired v1.1):
//!
//! * [`poll`]: mentions and recent-search queries with `since_id` cursors.
//! * [`webhook`]: the Account Activity webhook (CRC, signatures over the raw body).
//! * [`reply`]: replies through the outbox, OAuth 1.0a signed.
//! * [`normalize`], [`model`], [`text`]: the pure parts.

pub mod api;
pub mod config;
pub mod model;
pub mod normalize;
pub mod poll;
pub mod reply;
pub mod text;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    AnswerPreview, BuildContext, Channel, ChannelFactory, ConfigError, ConnectorError, HealthCheck,
    KindInfo, OutboundMessage, Words,
};
use secrecy::ExposeSecret;

pub use config::XConfig;
pub use normalize::{Normalizer, KIND};

/// How the console shows X complaints; an answer is one post, weighed as X weighs it
/// ([`text::MAX_WEIGHT`], the figure [`reply::reply_text`] shortens to).
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "X (Twitter)",
        en: "X (Twitter)",
    },
    icon: r#"<path d="M2 2h3.2l3.3 4.5L12.3 2H14l-4.7 5.6L14.5 14h-3.2L7.7 9.2 3.6 14H2l5-6L2 2z" fill="currentColor"/>"#,
    colour: "#111",
    chart_colour: "#3d454d",
    answer_limit: Some(text::MAX_WEIGHT),
    reauthorize: None,
};

/// Builds `kind = "x"` channels.
pub struct XFactory;

impl ChannelFactory for XFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    /// The post exactly as [`reply::XSender`] writes it, weighed as X weighs it.
    fn preview_answer(&self, msg: &OutboundMessage, draft: &str) -> AnswerPreview {
        let text = reply::reply_text(msg);
        AnswerPreview {
            cut: !text.contains(draft),
            length: text::weighted_len(&text),
            text,
        }
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: XConfig = ctx.parse()?;
        let name = ctx.name.as_str();
        if cfg.user_id.is_empty() || !cfg.user_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::new(
                name,
                "user_id",
                "the account's numeric user id",
            ));
        }
        if cfg.bearer_token.expose_secret().trim().is_empty() {
            return Err(ConfigError::new(
                name,
                "bearer_token",
                "the app's bearer token (use ${VAR} or bearer_token_file)",
            ));
        }
        if !cfg.mentions && cfg.queries.is_empty() {
            return Err(ConfigError::new(
                name,
                "queries",
                "at least one search query, or mentions = true",
            ));
        }
        if !(cfg.api_base.starts_with("https://") || cfg.api_base.starts_with("http://")) {
            return Err(ConfigError::new(name, "api_base", "an http(s) URL"));
        }
        let oauth = match (&cfg.consumer_key, &cfg.consumer_secret, &cfg.access_token, &cfg.access_token_secret) {
            (Some(ck), Some(cs), Some(at), Some(ats)) => Some(api::OAuthCredentials {
                consumer_key: ck.clone(),
                consumer_secret: cs.clone(),
                access_token: at.clone(),
                access_token_secret: ats.clone(),
            }),
            (None, None, None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    name,
                    "consumer_key",
                    "all four OAuth 1.0a values (consumer_key, consumer_secret, access_token, access_token_secret) or none",
                ))
            }
        };
        let can_reply = oauth.is_some();
        if let Some(bad) = aduan_kit::fetch::FetchPolicy::bad_host(&cfg.media_hosts) {
            return Err(ConfigError::new(
                name,
                "media_hosts",
                format!("host names such as \"twimg.com\", not {bad:?}"),
            ));
        }
        if cfg.insecure_local_media_for_tests {
            tracing::warn!(channel = %ctx.name, "insecure_local_media_for_tests is on: media may come over plain http from loopback");
        }
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let media = aduan_kit::fetch::Fetcher::new(
            aduan_kit::fetch::FetchPolicy::new(&cfg.media_hosts)
                .allow_loopback_http(cfg.insecure_local_media_for_tests),
            timeout,
            cfg.max_media_bytes,
        )
        .map_err(|e| ConfigError::new(name, "media_hosts", e))?;
        let api = Arc::new(
            api::XApi::new(
                ctx.name.clone(),
                &cfg.api_base,
                cfg.bearer_token.clone(),
                oauth,
                timeout,
                media,
            )
            .map_err(|e| ConfigError::new(name, "api_base", e))?,
        );
        let mut normalizer =
            Normalizer::new(ctx.name.clone(), &cfg.user_id, &cfg.handle, &cfg.block_list);
        if can_reply && cfg.ack.enabled {
            normalizer = normalizer
                .with_acknowledgement(
                    cfg.ack.template.clone(),
                    Duration::from_secs(cfg.ack.window_secs),
                )
                .with_ack_max_age(Duration::from_secs(cfg.ack.max_age_hours * 3600));
        }
        let normalizer = Arc::new(normalizer);
        let mut channel = Channel::new(KIND, ctx.name.clone());
        channel.pull = Some(Arc::new(poll::XPoller {
            api: api.clone(),
            normalizer: normalizer.clone(),
            user_id: cfg.user_id.clone(),
            mentions: cfg.mentions,
            queries: cfg.queries.clone(),
            poll_interval: Duration::from_secs(cfg.poll_interval_secs.max(1)),
        }));
        if let Some(secret) = &cfg.consumer_secret {
            channel.push = Some(Arc::new(webhook::XWebhook {
                consumer_secret: secret.clone(),
                normalizer,
            }));
        }
        if can_reply {
            channel.outbound = Some(Arc::new(reply::XSender { api: api.clone() }));
        }
        channel.health_check = Some(Arc::new(XCheck {
            api,
            user_id: cfg.user_id,
        }));
        Ok(channel)
    }
}

struct XCheck {
    api: Arc<api::XApi>,
    user_id: String,
}

#[async_trait::async_trait]
impl HealthCheck for XCheck {
    async fn check(&self) -> Result<String, ConnectorError> {
        let body = self
            .api
            .get(&format!("/2/users/{}", self.user_id), &[])
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ConnectorError::transient(&self.api.name, format!("GET /2/users: {e}")))?;
        let handle = v["data"]["username"].as_str().unwrap_or("?").to_owned();
        let mut report = format!("bearer token ok (@{handle})");
        if self.api.can_write() {
            let me = self.api.get_user_context("/2/users/me").await?;
            let me: serde_json::Value = serde_json::from_slice(&me).map_err(|e| {
                ConnectorError::transient(&self.api.name, format!("GET /2/users/me: {e}"))
            })?;
            if me["data"]["id"].as_str() != Some(self.user_id.as_str()) {
                return Err(ConnectorError::auth_expired(
                    &self.api.name,
                    format!(
                        "the OAuth 1.0a tokens belong to another account ({:?})",
                        me["data"]["id"]
                    ),
                ));
            }
            report.push_str("; OAuth 1.0a user context ok");
        } else {
            report.push_str("; no OAuth 1.0a credentials: no replies");
        }
        Ok(report)
    }
}
