//! `[[channels]] kind = "x"`: one X account.

use secrecy::SecretString;
use serde::Deserialize;

use crate::normalize::DEFAULT_ACK_TEMPLATE;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XConfig {
    /// The account's numeric user id (mentions are read for it; its own posts are
    /// never complaints).
    pub user_id: String,
    /// The account's handle, without `@`.
    pub handle: String,
    /// App-only bearer token, for reading.
    pub bearer_token: SecretString,
    /// OAuth 1.0a user context, for replies and the webhook's CRC and signatures.
    #[serde(default)]
    pub consumer_key: Option<SecretString>,
    #[serde(default)]
    pub consumer_secret: Option<SecretString>,
    #[serde(default)]
    pub access_token: Option<SecretString>,
    #[serde(default)]
    pub access_token_secret: Option<SecretString>,
    /// Read `GET /2/users/:id/mentions` (default true).
    #[serde(default = "yes")]
    pub mentions: bool,
    /// Recent-search queries, e.g. `"#LaporSiak -is:retweet"`.
    #[serde(default)]
    pub queries: Vec<String>,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// X API base URL (tests and proxies change it).
    #[serde(default = "default_base")]
    pub api_base: String,
    /// Handles or user ids whose posts are never complaints.
    #[serde(default)]
    pub block_list: Vec<String>,
    /// Larger media are not downloaded (the post is still filed).
    #[serde(default = "default_media")]
    pub max_media_bytes: usize,
    /// Media are downloaded over https only, from these hosts and their subdomains,
    /// and only from public addresses (the links in a post are not to be trusted).
    #[serde(default = "default_media_hosts")]
    pub media_hosts: Vec<String>,
    /// FOR TESTS ONLY: also download media over plain http from loopback (a local fake
    /// of X). The hosts must still be listed in `media_hosts`.
    #[serde(default)]
    pub insecure_local_media_for_tests: bool,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub ack: AckConfig,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckConfig {
    /// Reply to every new complaint with its tracking number (needs OAuth 1.0a).
    pub enabled: bool,
    /// `{tracking_id}` and `{status_url}` are filled in; at most 280 as X counts.
    pub template: String,
    /// At most one receipt per author in this many seconds (default 0: every post
    /// gets its own reply with its own number).
    pub window_secs: u64,
    /// Posts older than this get no public receipt (they are still filed): a first
    /// start or a catch-up must not answer days of old posts at once.
    pub max_age_hours: u64,
}

impl Default for AckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            template: DEFAULT_ACK_TEMPLATE.to_owned(),
            window_secs: 0,
            max_age_hours: 24,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_poll() -> u64 {
    60
}
fn default_base() -> String {
    "https://api.x.com".into()
}
fn default_media() -> usize {
    5 * 1024 * 1024
}
fn default_media_hosts() -> Vec<String> {
    ["twimg.com", "ton.twitter.com"].map(String::from).to_vec()
}
fn default_timeout() -> u64 {
    30
}
