//! The Facebook channel: a Page's feed (comments and visitor posts) and its Messenger
//! inbox, on the Graph API with the version and base URL configurable.
//!
//! * [`webhook`]: the Page webhook (handshake, `X-Hub-Signature-256` over the raw body),
//!   with Messenger attachments downloaded before the commit.
//! * [`poll`]: the polling fallback (feed, comments, conversations), deduplicated with
//!   the webhook by the providers' ids.
//! * [`reply`]: comment replies and Send API answers through the outbox.
//! * [`api`]: calls, usage headers, error codes; [`normalize`]: the pure part.

pub mod api;
pub mod config;
pub mod normalize;
pub mod poll;
pub mod reply;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    BuildContext, Channel, ChannelFactory, ConfigError, ConnectorError, HealthCheck, KindInfo,
    Words,
};
use secrecy::ExposeSecret;

pub use config::FacebookConfig;
pub use normalize::{Normalizer, KIND};
pub use webhook::FacebookWebhook;

/// How the console shows Facebook complaints, comments and Messenger alike. The limit
/// shown is a comment reply's ([`reply::COMMENT_MAX_CHARS`]); the sender shortens a
/// Messenger answer further, to [`reply::MESSENGER_MAX_CHARS`].
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "Facebook",
        en: "Facebook",
    },
    icon: r##"<circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M8.8 14V9.2h1.6l.3-1.9H8.8V6.1c0-.5.2-.9.9-.9h1V3.5c-.2 0-.8-.1-1.5-.1-1.5 0-2.4.9-2.4 2.5v1.4H5.2v1.9h1.6V14" fill="#fff"/>"##,
    colour: "#1558b0",
    chart_colour: "#4d8fe0",
    answer_limit: Some(reply::COMMENT_MAX_CHARS),
    reauthorize: Some(Words {
        id: "token Halaman baru dari Meta for Developers",
        en: "a new Page token from Meta for Developers",
    }),
};

/// Builds `kind = "facebook"` channels.
pub struct FacebookFactory;

impl ChannelFactory for FacebookFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: FacebookConfig = ctx.parse()?;
        let name = ctx.name.as_str();
        if cfg.page_id.is_empty() || !cfg.page_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::new(name, "page_id", "the Page's numeric id"));
        }
        for (key, value) in [
            ("page_access_token", &cfg.page_access_token),
            ("app_secret", &cfg.app_secret),
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
        if !cfg.poll && cfg.verify_token.is_none() {
            return Err(ConfigError::new(
                name,
                "verify_token",
                "a webhook verify token, or poll = true: otherwise nothing is read",
            ));
        }
        if let Some(bad) = aduan_kit::fetch::FetchPolicy::bad_host(&cfg.media_hosts) {
            return Err(ConfigError::new(
                name,
                "media_hosts",
                format!("host names such as \"fbcdn.net\", not {bad:?}"),
            ));
        }
        let api = Arc::new(
            api::GraphApi::new(ctx.name.clone(), &cfg)
                .map_err(|e| ConfigError::new(name, "api_base", e))?,
        );
        let mut normalizer = Normalizer::new(ctx.name.clone(), &cfg.page_id)
            .with_window(Duration::from_secs(cfg.messenger_window_secs));
        if cfg.ack.enabled {
            normalizer = normalizer
                .with_acknowledgement(cfg.ack.template.clone())
                .with_ack_max_age(Duration::from_secs(cfg.ack.max_age_hours * 3600));
        }
        let normalizer = Arc::new(normalizer);
        let mut channel = Channel::new(KIND, ctx.name.clone());
        if cfg.poll {
            channel.pull = Some(Arc::new(poll::FacebookPoller {
                api: api.clone(),
                normalizer: normalizer.clone(),
                lookback: Duration::from_secs(u64::from(cfg.lookback_days.max(1)) * 24 * 3600),
                messenger: cfg.messenger,
                poll_interval: Duration::from_secs(cfg.poll_interval_secs.max(1)),
            }));
        }
        if let Some(verify_token) = &cfg.verify_token {
            channel.push = Some(Arc::new(FacebookWebhook {
                app_secret: cfg.app_secret.clone(),
                verify_token: verify_token.clone(),
                normalizer,
                api: Some(api.clone()),
            }));
        }
        channel.outbound = Some(Arc::new(reply::FacebookSender {
            api: api.clone(),
            page_id: cfg.page_id.clone(),
            outside_window: cfg.outside_window,
        }));
        channel.health_check = Some(Arc::new(FacebookCheck {
            api,
            page_id: cfg.page_id,
            messenger: cfg.messenger,
        }));
        Ok(channel)
    }
}

/// `aduan check --online`: the token is this Page's, and it may read the feed and the
/// conversations.
struct FacebookCheck {
    api: Arc<api::GraphApi>,
    page_id: String,
    messenger: bool,
}

#[async_trait::async_trait]
impl HealthCheck for FacebookCheck {
    async fn check(&self) -> Result<String, ConnectorError> {
        let me = self.api.get("me", &[("fields", "id,name".into())]).await?;
        let me: serde_json::Value = serde_json::from_slice(&me)
            .map_err(|e| ConnectorError::transient(&self.api.name, format!("GET /me: {e}")))?;
        if me["id"].as_str() != Some(self.page_id.as_str()) {
            return Err(ConnectorError::auth_expired(
                &self.api.name,
                format!(
                    "the access token is not a Page token for {} (it belongs to {:?}); re-authorize the Page",
                    self.page_id, me["id"]
                ),
            ));
        }
        let mut report = format!(
            "Page token ok ({})",
            me["name"].as_str().unwrap_or(&self.page_id)
        );
        self.api
            .get(&format!("{}/feed", self.page_id), &[("limit", "1".into())])
            .await?;
        report.push_str("; feed readable");
        if self.messenger {
            self.api
                .get(
                    &format!("{}/conversations", self.page_id),
                    &[("platform", "messenger".into()), ("limit", "1".into())],
                )
                .await?;
            report.push_str("; conversations readable");
        }
        Ok(report)
    }
}
