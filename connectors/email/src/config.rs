//! `[[channels]] kind = "email"`: one mailbox.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use crate::auth::AuthMethod;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS before login.
    Starttls,
    /// No TLS at all: only for a server on loopback, and only when asked for by name.
    Plain,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AfterIngest {
    /// Mark the message `\Seen` (default).
    Seen,
    /// Move it to `move_to`.
    Move,
    /// Leave it as it is.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    pub user: String,
    /// `"password"` (default) or `"xoauth2"`.
    #[serde(default)]
    pub auth: AuthMethod,
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The bearer token for `auth = "xoauth2"`, fixed at start.
    #[serde(default)]
    pub oauth2_token: Option<SecretString>,
    /// A file holding the bearer token, read again before every login.
    #[serde(default)]
    pub oauth2_token_path: Option<PathBuf>,
    /// Folders to watch; default `["INBOX"]`.
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    #[serde(default = "default_after")]
    pub after_ingest: AfterIngest,
    #[serde(default)]
    pub move_to: Option<String>,
    /// Use IMAP IDLE when the server offers it (default true); otherwise poll.
    #[serde(default = "yes")]
    pub idle: bool,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// IDLE is re-issued after this long, well before the 29 minutes of RFC 2177.
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
    /// Every IMAP command is given up after this long and the connection is replaced.
    #[serde(default = "default_timeout")]
    pub command_timeout_secs: u64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Larger messages are not fetched whole: they are quarantined from their headers.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: u32,
    /// The domain of our own Message-IDs (`aduan.example.go.id`): mail carrying one is
    /// ours and is never filed.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// Outbound mail: acknowledgements and answers. Without it, nothing is sent.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub ack: AckConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// Default `"starttls"` (submission, port 587).
    #[serde(default = "default_smtp_tls")]
    pub tls: TlsMode,
    /// Without `user`, mail is sent without logging in (a relay that trusts our address).
    #[serde(default)]
    pub user: Option<String>,
    /// `"password"` (default) or `"xoauth2"`.
    #[serde(default)]
    pub auth: AuthMethod,
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub oauth2_token: Option<SecretString>,
    #[serde(default)]
    pub oauth2_token_path: Option<PathBuf>,
    /// Our sender address (`pengaduan@example.go.id`).
    pub from: String,
    #[serde(default)]
    pub from_name: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::Plain => 25,
        })
    }
}

/// The receipt sent for every new complaint.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AckConfig {
    pub enabled: bool,
    /// The text; `{name}`, `{title}`, `{tracking_id}` and `{status_url}` are filled in.
    pub template: String,
    /// At most one receipt per sender in this many seconds (a sender who writes ten
    /// times gets one answer, and two auto-responders cannot ping-pong).
    pub window_secs: u64,
    /// Send a receipt only when our receiving server's `Authentication-Results` header
    /// records an SPF, DKIM or DMARC pass aligned with the From domain (default true):
    /// otherwise anyone could make us mail any address by forging its From.
    pub require_authentication: bool,
    /// The authserv-id of our own receiving server (the first word of the
    /// `Authentication-Results` it adds, e.g. `"mx.example.go.id"`): its topmost header
    /// is the one believed. Without it, only the topmost header of the message is.
    pub authserv_id: Option<String>,
    /// Send the receipt to a `Reply-To` in another domain than From (default false:
    /// such a receipt goes to the From address).
    pub reply_to_other_domain: bool,
    /// At most this many receipts per hour on this channel, to anyone (default 200;
    /// 0: no cap). Past it complaints are filed without a receipt.
    pub max_per_hour: u32,
}

pub const DEFAULT_ACK_TEMPLATE: &str = "Yth. {name},

Terima kasih. Laporan Anda \"{title}\" telah kami terima dengan nomor {tracking_id}.
Laporan akan diverifikasi paling lambat 3 hari kerja. Perkembangannya dapat Anda pantau di:
{status_url}

Balas e-mail ini bila ada keterangan tambahan; balasan Anda akan digabungkan dengan
laporan yang sama.

Pesan ini dikirim otomatis.";

impl Default for AckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            template: DEFAULT_ACK_TEMPLATE.to_owned(),
            window_secs: 3600,
            require_authentication: true,
            authserv_id: None,
            reply_to_other_domain: false,
            max_per_hour: 200,
        }
    }
}

fn default_smtp_tls() -> TlsMode {
    TlsMode::Starttls
}

fn default_tls() -> TlsMode {
    TlsMode::Implicit
}
fn default_folders() -> Vec<String> {
    vec!["INBOX".into()]
}
fn default_after() -> AfterIngest {
    AfterIngest::Seen
}
fn yes() -> bool {
    true
}
fn default_poll() -> u64 {
    60
}
fn default_idle_renew() -> u64 {
    25 * 60
}
fn default_timeout() -> u64 {
    30
}
fn default_batch() -> usize {
    50
}
fn default_max_bytes() -> u32 {
    25 * 1024 * 1024
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            TlsMode::Starttls | TlsMode::Plain => 143,
        })
    }
}
