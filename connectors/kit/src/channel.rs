use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    AnswerPreview, ChannelName, ConfigError, ConnectorError, Delivery, ErrorKind, Inbound,
    KindInfo, OutboundMessage, PushError, SendReceipt, Sink,
};

/// Builds channels of one kind from their configuration. The daemon keeps one factory
/// per kind in its registry; adding a channel kind is one crate and one line there.
pub trait ChannelFactory: Send + Sync {
    /// The `kind = "..."` this factory builds, and the `channel` field of its complaints.
    fn kind(&self) -> &'static str;

    /// How the daemon presents this kind (labels, icon, colours) and the answer limit it
    /// shows: everything the console knows about the kind comes from here.
    fn kind_info(&self) -> &'static KindInfo;

    /// What a reporter receives when the answer `msg` goes out on a channel of this kind:
    /// `msg.body` is the whole answer (footer and status link filled in), `draft` the
    /// part the staff wrote. A kind whose sender reshapes or shortens the text says so
    /// here with the sender's own code; the default keeps the body and only tells
    /// whether `draft` is over [`KindInfo::answer_limit`].
    fn preview_answer(&self, msg: &OutboundMessage, draft: &str) -> AnswerPreview {
        AnswerPreview::unchanged(msg, draft, self.kind_info().answer_limit)
    }

    /// Builds everything without starting anything: errors name the key and what was
    /// expected (`aduan check` shows them).
    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError>;
}

/// What a factory gets: the instance name and its configuration table, with secrets
/// already resolved from `${VAR}` and `*_file`.
pub struct BuildContext<'a> {
    pub name: ChannelName,
    pub config: &'a toml::Table,
    /// Daemon-wide sections a channel may read (`form`: the form rules and categories).
    pub globals: &'a toml::Table,
    /// The public base URL of this daemon, for status links (`https://lapor.example/`).
    pub public_url: &'a str,
    pub data_dir: PathBuf,
}

impl BuildContext<'_> {
    /// Deserializes the channel's table into its typed config struct.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let mut table = self.config.clone();
        table.remove("kind");
        table.remove("name");
        table.remove("enabled");
        toml::Value::Table(table)
            .try_into()
            .map_err(|e| ConfigError::from_toml(self.name.as_str(), e))
    }
}

/// A built channel: any subset of the three capabilities.
pub struct Channel {
    pub kind: &'static str,
    pub name: ChannelName,
    pub pull: Option<Arc<dyn PullSource>>,
    pub push: Option<Arc<dyn PushHandler>>,
    pub outbound: Option<Arc<dyn OutboundSender>>,
    /// Connects to the provider and reports (`aduan check --online`).
    pub health_check: Option<Arc<dyn HealthCheck>>,
}

impl Channel {
    pub fn new(kind: &'static str, name: ChannelName) -> Self {
        Self {
            kind,
            name,
            pull: None,
            push: None,
            outbound: None,
            health_check: None,
        }
    }
}

/// A long-running intake task.
#[async_trait::async_trait]
pub trait PullSource: Send + Sync {
    /// Runs until `ctx.shutdown` is cancelled (return `Ok`) or a failure it cannot handle
    /// itself (return `Err`: the supervisor reports it and restarts with backoff).
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError>;
}

pub struct PullContext {
    pub sink: Arc<dyn Sink>,
    pub shutdown: CancellationToken,
    pub health: HealthHandle,
}

/// A webhook request as the daemon received it: the body is the raw bytes, never
/// re-serialized, so signatures can be checked over exactly what was signed.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: http::Method,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl WebhookRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Query parameters, percent-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(parse_query).unwrap_or_default()
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// What a push handler wants done with a request that passed verification.
#[derive(Debug)]
pub enum PushReply {
    /// Answer directly, store nothing (verification handshakes, CRC checks).
    Respond {
        status: u16,
        content_type: &'static str,
        body: Bytes,
    },
    /// Commit these items, then answer 200. An empty list is a valid, acknowledged call.
    Ingest(Vec<Inbound>),
}

/// Verifies and parses webhook calls routed to `/webhooks/{channel-name}`.
#[async_trait::async_trait]
pub trait PushHandler: Send + Sync {
    /// Pure: no I/O. Verification comes first, over the raw body; a payload that passes
    /// verification but cannot be parsed becomes a quarantined [`Inbound`], not an error.
    fn handle(&self, req: &WebhookRequest) -> Result<PushReply, PushError>;

    /// Runs after [`PushHandler::handle`] accepted a request and before its items are
    /// committed: fetches what the payload only links to (attachments). It must not
    /// drop items; a fetch that fails leaves the link in the text.
    async fn complete(&self, items: Vec<Inbound>) -> Vec<Inbound> {
        items
    }

    /// Runs after the items of an accepted request were committed, with one
    /// [`Delivery`] per item: for what a chat channel answers at once and files as no
    /// complaint (Telegram's `/start` and `/status NOMOR`), reading the public status
    /// through `sink`. Only what the delivery says was new is answered, so a redelivered
    /// request is not answered twice. Failures are the channel's to log; the request
    /// stays acknowledged.
    async fn after_commit(&self, items: &[Inbound], deliveries: &[Delivery], sink: &dyn Sink) {
        let _ = (items, deliveries, sink);
    }
}

#[async_trait::async_trait]
pub trait OutboundSender: Send + Sync {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError>;
}

#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// Connects and verifies credentials; returns a one-line description on success.
    async fn check(&self) -> Result<String, ConnectorError>;
}

/// The health a channel reports about itself, shown to operators.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HealthState {
    pub healthy: bool,
    pub status: &'static str,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub error_kind: Option<ErrorKind>,
    pub restarts: u64,
}

/// A cheap handle connectors use to report health; the daemon reads it.
#[derive(Debug, Clone)]
pub struct HealthHandle(Arc<Mutex<HealthState>>);

impl Default for HealthHandle {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(HealthState {
            healthy: true,
            status: "starting",
            ..HealthState::default()
        })))
    }
}

impl HealthHandle {
    fn update(&self, f: impl FnOnce(&mut HealthState)) {
        // A poisoned lock only means a reporter panicked mid-update; the state is plain data.
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
    }

    pub fn ok(&self) {
        self.update(|s| {
            s.healthy = true;
            s.status = "ok";
            s.last_success = Some(Utc::now());
        });
    }

    pub fn error(&self, err: &ConnectorError) {
        self.update(|s| {
            s.healthy = false;
            s.status = match err.kind {
                ErrorKind::AuthExpired => "reauthorize",
                ErrorKind::Permanent => "failed",
                ErrorKind::Transient => "retrying",
            };
            s.last_error = Some(err.message.clone());
            s.last_error_at = Some(Utc::now());
            s.error_kind = Some(err.kind);
        });
    }

    pub fn restarted(&self) {
        self.update(|s| s.restarts += 1);
    }

    pub fn stopped(&self) {
        self.update(|s| s.status = "stopped");
    }

    /// Another instance polls this channel (it holds the channel's lease); this one
    /// takes over when that one stops. Nothing is wrong.
    pub fn standby(&self) {
        self.update(|s| {
            s.healthy = true;
            s.status = "standby";
        });
    }

    /// This instance took the channel over and starts polling it.
    pub fn starting(&self) {
        self.update(|s| s.status = "starting");
    }

    pub fn snapshot(&self) -> HealthState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_decoded() {
        let q = parse_query("hub.mode=subscribe&hub.challenge=12%2034&x=a+b&bad=%zz&empty");
        assert_eq!(
            q,
            vec![
                ("hub.mode".into(), "subscribe".into()),
                ("hub.challenge".into(), "12 34".into()),
                ("x".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("empty".into(), "".into()),
            ]
        );
    }

    #[test]
    fn truncated_escape_is_kept_literally() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%"), "%");
    }
}
