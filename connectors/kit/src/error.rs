use crate::ChannelName;

/// How a failure should be treated by whoever runs the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Worth retrying with backoff: timeouts, 5xx, throttling, a dropped connection.
    Transient,
    /// Retrying the same thing will not help: bad request, malformed configuration.
    Permanent,
    /// Credentials were refused or expired: an operator must re-authorize the channel.
    AuthExpired,
}

/// A connector failure with the context an operator needs to act on it.
#[derive(Debug, thiserror::Error)]
#[error("{channel}: {message}")]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub channel: ChannelName,
    pub message: String,
    /// When the provider said when to come back (HTTP 429 `x-rate-limit-reset`, `Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl ConnectorError {
    pub fn new(kind: ErrorKind, channel: &ChannelName, message: impl Into<String>) -> Self {
        Self {
            kind,
            channel: channel.clone(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn transient(channel: &ChannelName, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, channel, message)
    }
    pub fn permanent(channel: &ChannelName, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, channel, message)
    }
    pub fn auth_expired(channel: &ChannelName, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AuthExpired, channel, message)
    }
    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

/// Why a webhook request was refused before anything was stored.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Missing or wrong signature / verify token: HTTP 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The request cannot be a webhook call of this channel at all: HTTP 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// HTTP 405.
    #[error("method not allowed")]
    MethodNotAllowed,
}

/// The store could not commit; nothing of the batch was kept.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct SinkError(pub String);

/// A configuration error that names the key and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("channel {channel}: key `{key}`: {expected}")]
pub struct ConfigError {
    pub channel: String,
    pub key: String,
    pub expected: String,
}

impl ConfigError {
    pub fn new(
        channel: impl Into<String>,
        key: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            key: key.into(),
            expected: expected.into(),
        }
    }

    /// Turns a serde error from deserializing a channel's table into a `ConfigError`.
    pub fn from_toml(channel: &str, err: toml::de::Error) -> Self {
        let msg = err.message().to_owned();
        // toml reports unknown/missing fields as "unknown field `x`" / "missing field `x`".
        let key = msg
            .split('`')
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_else(|| "(table)".to_owned());
        Self::new(channel, key, msg)
    }
}
