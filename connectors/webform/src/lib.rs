//! The web-form channel.
//!
//! * [`fields`]: the citizen form's fields, their validation (stable error codes for the
//!   API, Indonesian messages for the page) and their conversion into an [`Inbound`].
//!   The daemon serves the form (`GET /`) and `POST /api/v1/reports` with it.
//! * [`webhook`]: submissions from an external form provider, signed with HMAC-SHA256
//!   over the raw body, mapped into the same fields by configuration.

pub mod fields;
pub mod webhook;

use std::sync::Arc;

use aduan_kit::{BuildContext, Channel, ChannelFactory, ConfigError, KindInfo, Words};

pub use fields::{
    sniff_content_type, FieldError, FileUpload, FormRules, ReportFields, ValidReport,
    DEFAULT_ALLOWED_TYPES,
};
pub use webhook::{WebhookConfig, WebhookHandler};

/// The channel kind of complaints filed through a form.
pub const KIND: &str = "webform";

/// How the console shows form complaints. Forms take answers only on the status page
/// (or by e-mail), so there is no answer limit.
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "Formulir web",
        en: "Web form",
    },
    icon: r#"<rect x="2.5" y="1.5" width="11" height="13" rx="1" fill="none" stroke="currentColor"/><path d="M5 5h6M5 8h6M5 11h3" stroke="currentColor"/>"#,
    colour: "#6d1414",
    chart_colour: "#8b1a1a",
    answer_limit: None,
    reauthorize: None,
};

/// Builds `kind = "webform"` channels: the public form (no extra keys) or, with a
/// `secret`, an external form provider's webhook.
pub struct WebformFactory;

impl ChannelFactory for WebformFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: WebhookConfig = ctx.parse()?;
        let mut channel = Channel::new(KIND, ctx.name.clone());
        if cfg.secret.is_some() {
            let rules: FormRules = match ctx.globals.get("form") {
                Some(v) => v
                    .clone()
                    .try_into()
                    .map_err(|e| ConfigError::from_toml("form", e))?,
                None => FormRules::default(),
            };
            channel.push = Some(Arc::new(
                WebhookHandler::new(ctx.name.clone(), cfg)?.with_rules(rules),
            ));
        }
        Ok(channel)
    }
}
