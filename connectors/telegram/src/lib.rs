//! The Telegram channel: a bot on the Bot API, fed by its webhook or by `getUpdates`.
//!
//! * [`webhook`]: `X-Telegram-Bot-Api-Secret-Token` checked in constant time, photos
//!   and documents downloaded before the commit, `/start` and `/status` answered after.
//! * [`poll`]: `getUpdates`, the offset committed with the batch it covers.
//! * [`reply`]: receipts and answers with `sendMessage` through the outbox.
//! * [`api`]: calls and errors; [`normalize`]: the pure part; [`commands`]: what the
//!   bot answers itself.

pub mod api;
pub mod commands;
pub mod config;
pub mod normalize;
pub mod poll;
pub mod reply;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    AnswerPreview, BuildContext, Channel, ChannelFactory, ConfigError, ConnectorError, HealthCheck,
    KindInfo, OutboundMessage, Words,
};
use secrecy::ExposeSecret;

pub use config::{Mode, TelegramConfig};
pub use normalize::{Normalizer, KIND};
pub use webhook::TelegramWebhook;

/// How the console shows Telegram complaints.
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "Telegram",
        en: "Telegram",
    },
    icon: r#"<circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M3.6 7.8l7.6-3c.4-.1.7.1.6.6l-1.3 6.1c-.1.4-.4.5-.8.3l-2-1.5-1 .9c-.1.1-.2.2-.4.2l.1-2 3.7-3.4c.2-.1 0-.2-.2-.1L5.3 8.7l-2-.6c-.4-.1-.4-.4.3-.3z" fill="white"/>"#,
    colour: "#1b6a98",
    chart_colour: "#2aa3dd",
    answer_limit: Some(reply::MAX_CHARS),
    reauthorize: Some(Words {
        id: "token bot baru dari @BotFather",
        en: "a new bot token from @BotFather",
    }),
};

/// Builds `kind = "telegram"` channels.
pub struct TelegramFactory;

/// The bot's user id: the number before the colon of its token.
pub fn bot_id_of(token: &str) -> Option<i64> {
    let (id, rest) = token.split_once(':')?;
    if rest.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// Telegram's rule for a webhook `secret_token`: 1–256 of `A-Z a-z 0-9 _ -`.
fn valid_secret(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ChannelFactory for TelegramFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    /// The answer as the sender shortens it, counted as Telegram counts.
    fn preview_answer(&self, msg: &OutboundMessage, draft: &str) -> AnswerPreview {
        let text = reply::fit(msg, reply::MAX_CHARS);
        AnswerPreview {
            cut: reply::telegram_len(draft) > reply::MAX_CHARS || !text.contains(draft.trim()),
            length: reply::telegram_len(&text),
            text,
        }
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: TelegramConfig = ctx.parse()?;
        let name = ctx.name.as_str();
        let bot_id = bot_id_of(cfg.bot_token.expose_secret()).ok_or_else(|| {
            ConfigError::new(
                name,
                "bot_token",
                "a bot token from @BotFather (digits, a colon, then the secret; use ${VAR} or a *_file key)",
            )
        })?;
        let secret = cfg
            .webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned());
        match (&secret, cfg.mode) {
            (Some(s), _) if !valid_secret(s) => {
                return Err(ConfigError::new(
                    name,
                    "webhook_secret",
                    "1 to 256 letters, digits, _ or - (Telegram's rule for secret_token)",
                ))
            }
            (None, Mode::Webhook) => {
                return Err(ConfigError::new(
                    name,
                    "webhook_secret",
                    "a secret for X-Telegram-Bot-Api-Secret-Token, or mode = \"polling\"",
                ))
            }
            _ => {}
        }
        if !(cfg.api_base.starts_with("https://") || cfg.api_base.starts_with("http://")) {
            return Err(ConfigError::new(name, "api_base", "an http(s) URL"));
        }
        if cfg.max_media_bytes == 0 {
            return Err(ConfigError::new(name, "max_media_bytes", "at least 1"));
        }
        let api = Arc::new(
            api::BotApi::new(
                ctx.name.clone(),
                &cfg.api_base,
                cfg.bot_token.clone(),
                Duration::from_secs(cfg.timeout_secs.max(1)),
                cfg.max_media_bytes,
                cfg.insecure_local_media_for_tests,
            )
            .map_err(|e| ConfigError::new(name, "api_base", e))?,
        );
        let mut normalizer = Normalizer::new(ctx.name.clone(), bot_id)
            .with_window(Duration::from_secs(cfg.thread_window_secs))
            .with_max_media_bytes(cfg.max_media_bytes);
        if cfg.ack.enabled {
            normalizer = normalizer
                .with_acknowledgement(cfg.ack.template.clone())
                .with_ack_max_age(Duration::from_secs(cfg.ack.max_age_hours * 3600));
        }
        if let Some(u) = &cfg.bot_username {
            normalizer.set_username(u);
        }
        let normalizer = Arc::new(normalizer);
        let answers = Arc::new(commands::Answers {
            api: api.clone(),
            normalizer: normalizer.clone(),
            public_url: ctx.public_url.trim_end_matches('/').to_owned(),
        });
        let mut channel = Channel::new(KIND, ctx.name.clone());
        match (cfg.mode, cfg.webhook_secret) {
            (Mode::Polling, _) => {
                channel.pull = Some(Arc::new(poll::TelegramPoller {
                    answers: answers.clone(),
                    long_poll: Duration::from_secs(cfg.long_poll_secs),
                    poll_interval: Duration::from_secs(cfg.poll_interval_secs.max(1)),
                }));
            }
            (Mode::Webhook, Some(secret)) => {
                channel.push = Some(Arc::new(TelegramWebhook {
                    secret,
                    answers: answers.clone(),
                }));
            }
            (Mode::Webhook, None) => {}
        }
        channel.outbound = Some(Arc::new(reply::TelegramSender { api: api.clone() }));
        channel.health_check = Some(Arc::new(TelegramCheck {
            answers,
            mode: cfg.mode,
        }));
        Ok(channel)
    }
}

/// `aduan check --online`: `getMe` answers for this token.
struct TelegramCheck {
    answers: Arc<commands::Answers>,
    mode: Mode,
}

#[async_trait::async_trait]
impl HealthCheck for TelegramCheck {
    async fn check(&self) -> Result<String, ConnectorError> {
        let (id, username) = self.answers.api.get_me().await?;
        if id != self.answers.normalizer.bot_id() {
            return Err(ConnectorError::auth_expired(
                &self.answers.api.name,
                format!("getMe answered for bot {id}, not the bot the token names"),
            ));
        }
        self.answers.normalizer.set_username(&username);
        let mode = match self.mode {
            Mode::Webhook => "webhook",
            Mode::Polling => "polling",
        };
        Ok(format!("bot @{username} ({id}) ok; updates by {mode}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bot_id_comes_from_the_token() {
        assert_eq!(bot_id_of("7000000001:AAHrahasia"), Some(7_000_000_001));
        assert_eq!(bot_id_of("bot:AAH"), None);
        assert_eq!(bot_id_of("7000000001:"), None);
        assert_eq!(bot_id_of("tanpa-titik-dua"), None);
        assert!(valid_secret("rahasia_webhook-1"));
        assert!(!valid_secret("ada spasi"));
        assert!(!valid_secret(""));
    }
}
