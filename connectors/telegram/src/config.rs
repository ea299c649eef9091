//! `[[channels]] kind = "telegram"`: one Telegram bot.

use secrecy::SecretString;
use serde::Deserialize;

use crate::normalize::DEFAULT_ACK_TEMPLATE;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather (`123456789:AA…`). It goes in the path of every
    /// Bot API call, so no URL of a call is ever logged or shown.
    pub bot_token: SecretString,
    /// What Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (set with `setWebhook`'s
    /// `secret_token`). Required with `mode = "webhook"`.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// How updates arrive: `"webhook"` at `/webhooks/{name}`, or `"polling"` with
    /// `getUpdates` where the daemon has no public address.
    #[serde(default)]
    pub mode: Mode,
    /// Bot API base URL (tests and self-hosted Bot API servers change it). File
    /// downloads come from the same host.
    #[serde(default = "default_base")]
    pub api_base: String,
    /// The bot's username (without `@`): group messages that mention it are
    /// complaints. When unset it is read with `getMe` before the first group message.
    #[serde(default)]
    pub bot_username: Option<String>,
    /// Larger photos and documents are not downloaded (the message is still filed and
    /// says so). The Bot API serves files up to 20 MB.
    #[serde(default = "default_media")]
    pub max_media_bytes: u64,
    /// FOR TESTS ONLY: download files over plain http from loopback (a local fake of
    /// the Bot API).
    #[serde(default)]
    pub insecure_local_media_for_tests: bool,
    /// A person's messages in one chat join their open complaint while their previous
    /// message is at most this old.
    #[serde(default = "default_window")]
    pub thread_window_secs: u64,
    /// How long one `getUpdates` call waits for updates (long polling).
    #[serde(default = "default_long_poll")]
    pub long_poll_secs: u64,
    /// The pause after an empty or failed poll round.
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub ack: AckConfig,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Webhook,
    Polling,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckConfig {
    /// Answer every new complaint in its chat with its tracking number.
    pub enabled: bool,
    /// `{tracking_id}` and `{status_url}` are filled in.
    pub template: String,
    /// Messages older than this get no receipt (they are still filed).
    pub max_age_hours: u64,
}

impl Default for AckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            template: DEFAULT_ACK_TEMPLATE.to_owned(),
            max_age_hours: 24,
        }
    }
}

fn default_base() -> String {
    "https://api.telegram.org".into()
}
fn default_media() -> u64 {
    10 * 1024 * 1024
}
fn default_window() -> u64 {
    3 * 24 * 3600
}
fn default_long_poll() -> u64 {
    25
}
fn default_poll() -> u64 {
    1
}
fn default_timeout() -> u64 {
    30
}
