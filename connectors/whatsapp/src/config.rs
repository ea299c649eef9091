//! `[[channels]] kind = "whatsapp"`: one WhatsApp Business phone number on the Cloud API.

use secrecy::SecretString;
use serde::Deserialize;

use crate::normalize::DEFAULT_ACK_TEMPLATE;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The phone number's id in the Cloud API (not the number itself).
    pub phone_number_id: String,
    /// A system user's access token with `whatsapp_business_messaging` (and
    /// `whatsapp_business_management` for `aduan check --online`).
    pub access_token: SecretString,
    /// The app secret: checks webhook signatures and signs every Graph call
    /// (`appsecret_proof`).
    pub app_secret: SecretString,
    /// The token Meta echoes in the webhook subscription handshake.
    pub verify_token: SecretString,
    /// Graph API version, e.g. `v24.0`.
    #[serde(default = "default_version")]
    pub graph_version: String,
    /// Graph API base URL (tests and proxies change it).
    #[serde(default = "default_base")]
    pub api_base: String,
    /// Larger media are not downloaded (the message is still filed, and says so).
    #[serde(default = "default_media_bytes")]
    pub max_media_bytes: usize,
    /// Media are downloaded over https only, from these hosts and their subdomains,
    /// and only from public addresses.
    #[serde(default = "default_media_hosts")]
    pub media_hosts: Vec<String>,
    /// FOR TESTS ONLY: also download media over plain http from loopback (a local fake
    /// of the Graph API). The hosts must still be listed in `media_hosts`.
    #[serde(default)]
    pub insecure_local_media_for_tests: bool,
    /// A person's message joins their open complaint when their previous message is at
    /// most this old; otherwise it files a new complaint.
    #[serde(default = "default_window")]
    pub thread_window_secs: u64,
    /// The approved message template sent when an answer is due more than 24 hours
    /// after the citizen last wrote (WhatsApp allows free-form text only within 24
    /// hours). Its body has one variable, `{{1}}`, the tracking number. Without it,
    /// such an answer fails visibly and the admins answer another way.
    #[serde(default)]
    pub template_name: Option<String>,
    /// The template's language code.
    #[serde(default = "default_language")]
    pub template_language: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long to wait after Meta's throttling errors (4, 80007, 130429, 131056) when
    /// Meta does not say.
    #[serde(default = "default_throttle")]
    pub throttle_backoff_secs: u64,
    #[serde(default)]
    pub ack: AckConfig,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckConfig {
    /// Answer every new complaint with its tracking number and status link.
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

fn default_version() -> String {
    "v24.0".into()
}
fn default_base() -> String {
    "https://graph.facebook.com".into()
}
fn default_media_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_media_hosts() -> Vec<String> {
    ["fbsbx.com", "whatsapp.net"].map(String::from).to_vec()
}
fn default_window() -> u64 {
    3 * 24 * 3600
}
fn default_language() -> String {
    "id".into()
}
fn default_timeout() -> u64 {
    30
}
fn default_throttle() -> u64 {
    60
}
