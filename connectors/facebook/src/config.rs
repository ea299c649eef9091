//! `[[channels]] kind = "facebook"`: one Facebook Page.

use secrecy::SecretString;
use serde::Deserialize;

use crate::normalize::DEFAULT_ACK_TEMPLATE;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookConfig {
    /// The Page's numeric id (its own posts, comments and messages are never complaints).
    pub page_id: String,
    /// The Page access token (`pages_read_engagement`, `pages_manage_engagement`,
    /// `pages_messaging`, `pages_read_user_content`).
    pub page_access_token: SecretString,
    /// The app secret: checks webhook signatures and signs every Graph call
    /// (`appsecret_proof`).
    pub app_secret: SecretString,
    /// The token Meta echoes in the webhook subscription handshake. Without it the
    /// channel has no webhook and relies on polling.
    #[serde(default)]
    pub verify_token: Option<SecretString>,
    /// Graph API version, e.g. `v24.0`.
    #[serde(default = "default_version")]
    pub graph_version: String,
    /// Graph API base URL (tests and proxies change it).
    #[serde(default = "default_base")]
    pub api_base: String,
    /// Poll the Page feed, comments and conversations (the fallback for Pages without
    /// webhooks, and the catch-up after downtime). Default true.
    #[serde(default = "yes")]
    pub poll: bool,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Comments are read on posts at most this many days old.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Read Messenger conversations when polling. Default true.
    #[serde(default = "yes")]
    pub messenger: bool,
    /// A Messenger message joins its sender's open complaint when their previous message
    /// is at most this old; otherwise it files a new complaint.
    #[serde(default = "default_window")]
    pub messenger_window_secs: u64,
    /// What to do with a Messenger answer when the citizen last wrote more than 24
    /// hours ago: `"human_agent"` (send with the HUMAN_AGENT tag, up to 7 days, where the
    /// app is approved for it) or `"refuse"` (the answer fails visibly as "cannot be
    /// sent on Messenger", and the admins choose another way).
    #[serde(default)]
    pub outside_window: OutsideWindow,
    /// Larger attachments are not downloaded (the message is still filed, with the link).
    #[serde(default = "default_attachment")]
    pub max_attachment_bytes: usize,
    /// Attachments are downloaded over https only, from these hosts and their
    /// subdomains, and only from public addresses (a link in a message is not to be
    /// trusted).
    #[serde(default = "default_media_hosts")]
    pub media_hosts: Vec<String>,
    /// FOR TESTS ONLY: also download attachments over plain http from loopback (a
    /// local fake of the Graph API). The hosts must still be listed in `media_hosts`.
    #[serde(default)]
    pub insecure_local_media_for_tests: bool,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long to wait after Meta's throttling errors (4, 17, 32, 613, 80001) when
    /// Meta does not say.
    #[serde(default = "default_throttle")]
    pub throttle_backoff_secs: u64,
    #[serde(default)]
    pub ack: AckConfig,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutsideWindow {
    HumanAgent,
    #[default]
    Refuse,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckConfig {
    /// Answer every new complaint with its tracking number: a reply under the comment
    /// or post, or a Messenger message.
    pub enabled: bool,
    /// `{tracking_id}` and `{status_url}` are filled in.
    pub template: String,
    /// Comments, posts and messages older than this get no receipt (they are still
    /// filed), and Messenger refuses answers after 24 hours anyway.
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

fn yes() -> bool {
    true
}
fn default_version() -> String {
    "v24.0".into()
}
fn default_base() -> String {
    "https://graph.facebook.com".into()
}
fn default_poll() -> u64 {
    300
}
fn default_lookback() -> u32 {
    7
}
fn default_window() -> u64 {
    3 * 24 * 3600
}
fn default_attachment() -> usize {
    10 * 1024 * 1024
}
fn default_media_hosts() -> Vec<String> {
    ["fbcdn.net", "fbsbx.com", "facebook.com"]
        .map(String::from)
        .to_vec()
}
fn default_timeout() -> u64 {
    30
}
fn default_throttle() -> u64 {
    300
}
