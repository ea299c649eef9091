//! Configuration: the embedded default, then a TOML file (`--config` / `ADUAN_CONFIG`),
//! then environment variables `ADUAN_SECTION__KEY`. Secrets are `SecretString` (never
//! printed) and may be given as `${VAR}` or through a `KEY_file` holding the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aduan_webform::FormRules;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::http::client_addr::TrustedProxies;
use crate::http::rate_limit::RateLimitConfig;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The shortest grace period the attachment collector may be given.
pub const MIN_GC_GRACE_SECS: u64 = 600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    /// The address citizens use to reach this daemon; status links are built on it.
    pub public_url: String,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub form: FormRules,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub supervisor: SupervisorConfig,
    #[serde(default)]
    pub instance: InstanceConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub attachments: AttachmentsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub open311: Open311Config,
    #[serde(default)]
    pub channels: Vec<toml::Table>,
    /// `[[forwarders]]`, read by [`Config::forwarders`].
    #[serde(default)]
    pub forwarders: Vec<toml::Table>,
}

/// The Open311 GeoReport v2 endpoints under `/open311/v2/`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Open311Config {
    /// Off by default: the public list makes every non-rahasia complaint's title and
    /// status readable by anyone, not only by who holds its tracking number.
    pub enabled: bool,
    /// When set, `POST requests` needs it as `api_key` (reads never do).
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (default 25 MiB).
    pub max_request_bytes: usize,
    /// Seconds a request may take before 408.
    pub request_timeout_secs: u64,
    /// Seconds given to in-flight requests and writes after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a request's headers, from when its connection opens
    /// or the previous answer on it was sent (so also the keep-alive idle limit).
    pub header_read_timeout_secs: u64,
    /// Most connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Serve `/metrics` on this address instead of `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Per-client-address limits on the public doors.
    pub rate_limit: RateLimitConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_request_bytes: 25 * 1024 * 1024,
            request_timeout_secs: 60,
            shutdown_grace_secs: 20,
            header_read_timeout_secs: 10,
            max_connections: 512,
            trusted_proxies: TrustedProxies::default(),
            metrics_listen: None,
            rate_limit: RateLimitConfig::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://...`; empty for SQLite under the data directory.
    /// May hold a password, so it is a secret.
    pub url: SecretString,
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    /// Most items committed in one transaction by an ingest writer.
    pub max_batch: usize,
    /// Ingest writer tasks; 0 picks 1 for SQLite (one writer at a time anyway) and 2 for
    /// PostgreSQL (overlapping round trips).
    pub writers: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from(""),
            url_file: None,
            max_connections: 16,
            max_batch: 256,
            writers: 0,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each attempt, with jitter, up to `max_backoff_secs`.
    pub base_backoff_ms: u64,
    pub max_backoff_secs: u64,
    pub poll_interval_ms: u64,
    /// How long a dispatcher owns a message it is sending before another may take it.
    pub lease_secs: u64,
}

impl OutboxConfig {
    /// How often an idle dispatcher looks again.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// Until when a delivery claimed now is leased.
    pub fn lease_until(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::Duration::seconds(i64::try_from(self.lease_secs).unwrap_or(120))
    }

    /// How long one send may take: half the lease, so that it is over before another
    /// dispatcher may take the delivery.
    pub fn send_limit(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(2) / 2)
    }

    /// When to try again after the failed attempt number `attempts` (the provider's
    /// `retry_after`, else exponential backoff), or `None` to give up: a permanent
    /// error, or the last attempt.
    pub fn next_attempt(
        &self,
        kind: aduan_kit::ErrorKind,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        if kind == aduan_kit::ErrorKind::Permanent || attempts >= self.max_attempts {
            return None;
        }
        let min = Duration::from_millis(self.base_backoff_ms);
        let max = Duration::from_secs(self.max_backoff_secs);
        let wait = retry_after
            .unwrap_or_else(|| crate::supervisor::backoff(attempts.saturating_sub(1), min, max));
        Some(
            chrono::Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1)),
        )
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff_ms: 5_000,
            max_backoff_secs: 3_600,
            poll_interval_ms: 1_000,
            lease_secs: 120,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisorConfig {
    pub min_backoff_ms: u64,
    pub max_backoff_secs: u64,
}

/// The admin queue.
#[derive(Debug, Deserialize, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// How long a claim lasts unless renewed.
    pub claim_lease_secs: i64,
    /// When the deadline job runs (cron with seconds, UTC): due dates, overdue flags,
    /// automatic close.
    pub sla_schedule: String,
    /// The e-mail channel that carries answers to reporters whose own channel cannot
    /// (the web form) but who gave an address; default: the first e-mail channel with
    /// SMTP.
    pub answer_email_channel: Option<String>,
    /// When the escalation digest goes out (cron with seconds, UTC; default 08:00 WIB
    /// on weekdays; holidays are skipped). Sent through `answer_email_channel`.
    pub digest_schedule: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            claim_lease_secs: 15 * 60,
            sla_schedule: "0 * * * * *".into(),
            answer_email_channel: None,
            digest_schedule: "0 0 1 * * Mon-Fri".into(),
        }
    }
}

/// Where attachment content is kept, and the collection of content nothing references.
#[derive(Debug, Deserialize, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentsConfig {
    /// `filesystem` (under `data_dir`) or `database` (shared by every instance on it).
    pub store: crate::store::BlobBackend,
    /// When unreferenced content is collected (cron with seconds, UTC).
    pub gc_schedule: String,
    /// Content stored or reused within this many seconds is never collected: a
    /// transaction in flight may be about to reference it.
    pub gc_grace_secs: u64,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            store: crate::store::BlobBackend::default(),
            gc_schedule: "0 17 * * * *".into(),
            gc_grace_secs: 6 * 3600,
        }
    }
}

impl AttachmentsConfig {
    pub fn gc_grace(&self) -> Duration {
        Duration::from_secs(self.gc_grace_secs)
    }
}

/// This process among the instances that share one database.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// This process's name in the channel leases; empty: the host name and a random
    /// suffix, so that no two processes share one.
    pub id: String,
    /// Not a setting (the take-over time the operations guide promises rests on it);
    /// tests shorten it.
    #[serde(skip)]
    pub lease: LeaseTimings,
}

impl InstanceConfig {
    /// The configured id, or a new one: call once per process.
    pub fn resolve_id(&self) -> String {
        let id = self.id.trim();
        if !id.is_empty() {
            return id.to_owned();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "aduan".into());
        format!("{host}-{:06x}", rand::random::<u32>() & 0xff_ffff)
    }
}

/// How a pull channel's lease is kept: it lasts `ttl` unless renewed, is renewed every
/// `renew_every`, and an instance without it tries to take it every `retry_every`. So
/// a peer takes a channel over at most `ttl + retry_every` after its holder died.
#[derive(Debug, Clone)]
pub struct LeaseTimings {
    pub ttl: Duration,
    pub renew_every: Duration,
    pub retry_every: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(3),
            retry_every: Duration::from_secs(2),
        }
    }
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            min_backoff_ms: 1_000,
            max_backoff_secs: 300,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter (`info`, `aduan=debug,sqlx=warn`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// A configuration problem, naming where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Figment(Box<figment::Error>),
    #[error("{file}: key `{key}`: {expected}")]
    Key {
        file: String,
        key: String,
        expected: String,
    },
}

impl Config {
    /// Loads the default, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Key {
                    file: f.display().to_string(),
                    key: "(file)".into(),
                    expected: "an existing TOML file".into(),
                });
            }
            // `merge` replaces arrays: a file that lists channels (or categories) replaces
            // the default's list; a file without them keeps the default's.
            fig = fig.merge(Toml::file_exact(f));
        }
        fig = fig.merge(Env::prefixed("ADUAN_").filter(is_config_key).split("__"));
        let source = file
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "(built-in default)".into());
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        cfg.resolve_secrets(&source)?;
        cfg.validate(&source)?;
        Ok(cfg)
    }

    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        let fig = Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(s));
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        cfg.resolve_secrets("(string)")?;
        cfg.validate("(string)")?;
        Ok(cfg)
    }

    fn resolve_secrets(&mut self, source: &str) -> Result<(), ConfigError> {
        if let Some(path) = &self.database.url_file {
            self.database.url =
                SecretString::from(read_secret_file(source, "database.url_file", path)?);
        }
        let url = expand_env(source, "database.url", self.database.url.expose_secret())?;
        self.database.url = SecretString::from(url);
        for (i, table) in self.channels.iter_mut().enumerate() {
            let name = table
                .get("name")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("channels[{i}]"));
            resolve_table(source, &format!("channels.{name}"), table)?;
        }
        for (i, table) in self.forwarders.iter_mut().enumerate() {
            resolve_table(source, &format!("forwarders[{i}]"), table)?;
        }
        Ok(())
    }

    /// The forwarders, each checked (see [`crate::forward::ForwarderConfig`]).
    pub fn forwarders(&self) -> Result<Vec<crate::forward::ForwarderConfig>, ConfigError> {
        self.forwarders_from("(configuration)")
    }

    /// [`Config::forwarders`], errors naming `source`.
    fn forwarders_from(
        &self,
        source: &str,
    ) -> Result<Vec<crate::forward::ForwarderConfig>, ConfigError> {
        let mut out: Vec<crate::forward::ForwarderConfig> = Vec::new();
        for (i, table) in self.forwarders.iter().enumerate() {
            let bad = |key: &str, expected: String| ConfigError::Key {
                file: source.into(),
                key: format!("forwarders[{i}].{key}"),
                expected,
            };
            let f: crate::forward::ForwarderConfig =
                toml::Value::Table(table.clone())
                    .try_into()
                    .map_err(|e: toml::de::Error| bad("(table)", e.message().to_owned()))?;
            if let Some((key, expected)) = f.problem() {
                return Err(bad(key, expected));
            }
            if out.iter().any(|o| o.name == f.name) {
                return Err(bad(
                    "name",
                    format!("a name no other forwarder has ({})", f.name),
                ));
            }
            out.push(f);
        }
        Ok(out)
    }

    fn validate(&self, source: &str) -> Result<(), ConfigError> {
        let err = |key: &str, expected: &str| ConfigError::Key {
            file: source.into(),
            key: key.into(),
            expected: expected.into(),
        };
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(err("public_url", "an http:// or https:// URL"));
        }
        let url = self.database.url.expose_secret();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(err(
                "database.url",
                "empty (SQLite under data_dir), sqlite://FILE or postgres://...",
            ));
        }
        if self.http.header_read_timeout_secs == 0 {
            return Err(err("http.header_read_timeout_secs", "at least 1"));
        }
        if self.http.max_connections == 0 {
            return Err(err("http.max_connections", "at least 1"));
        }
        if self.http.metrics_listen == Some(self.http.listen) && self.http.listen.port() != 0 {
            return Err(err(
                "http.metrics_listen",
                "an address other than http.listen (leave it out to serve /metrics there)",
            ));
        }
        if self.instance.id.trim().chars().count() > 200 {
            return Err(err("instance.id", "at most 200 characters"));
        }
        if self.database.max_connections == 0 {
            return Err(err("database.max_connections", "at least 1"));
        }
        if self.attachments.gc_grace_secs < MIN_GC_GRACE_SECS {
            return Err(err(
                "attachments.gc_grace_secs",
                &format!("at least {MIN_GC_GRACE_SECS} (longer than any ingest transaction)"),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(err("log.format", "\"text\" or \"json\""));
        }
        self.forwarders_from(source)?;
        let mut names = std::collections::HashSet::new();
        for (i, ch) in self.channels.iter().enumerate() {
            let key = |k: &str| format!("channels[{i}].{k}");
            match ch.get("kind").and_then(|v| v.as_str()) {
                Some(_) => {}
                None => return Err(err(&key("kind"), "a channel kind, for example \"webform\"")),
            }
            let Some(name) = ch.get("name").and_then(|v| v.as_str()) else {
                return Err(err(&key("name"), "a channel name"));
            };
            if let Err(e) = aduan_kit::ChannelName::parse(name) {
                return Err(err(&key("name"), &e.to_string()));
            }
            if !names.insert(name.to_owned()) {
                return Err(err(
                    &key("name"),
                    &format!("a name not used by another channel ({name:?} is)"),
                ));
            }
        }
        Ok(())
    }

    /// The database URL to connect to.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose_secret();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("aduan.db").display()
            )
        } else {
            url.to_owned()
        }
    }

    pub fn ingest_writers(&self) -> usize {
        match self.database.writers {
            0 if self.database_url().starts_with("sqlite:") => 1,
            0 => 2,
            n => n,
        }
    }

    /// Whether citizens reach the daemon over https (then browsers are told to keep to it).
    pub fn public_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.http.shutdown_grace_secs)
    }

    /// Channels that are not switched off with `enabled = false`.
    pub fn enabled_channels(&self) -> impl Iterator<Item = &toml::Table> {
        self.channels
            .iter()
            .filter(|t| t.get("enabled").and_then(|v| v.as_bool()).unwrap_or(true))
    }
}

/// Only `ADUAN_<SECTION>__<KEY>` variables of known sections are configuration; others
/// (`ADUAN_CONFIG`, a test's `ADUAN_TEST_PG`, an `${ADUAN_FORM_SECRET}` referenced from
/// the file) are not.
fn is_config_key(key: &uncased::UncasedStr) -> bool {
    const SECTIONS: &[&str] = &[
        "data_dir",
        "public_url",
        "http",
        "database",
        "form",
        "outbox",
        "supervisor",
        "instance",
        "queue",
        "attachments",
        "open311",
        "log",
    ];
    let k = key.as_str().to_ascii_lowercase();
    SECTIONS
        .iter()
        .any(|s| k == *s || k.starts_with(&format!("{s}__")) || k.starts_with(&format!("{s}.")))
}

fn read_secret_file(source: &str, key: &str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|e| ConfigError::Key {
            file: source.into(),
            key: key.into(),
            expected: format!("a readable file ({}: {e})", path.display()),
        })
}

/// Replaces `${VAR}` with the variable's value; an unset variable is an error.
fn expand_env(source: &str, key: &str, s: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        let val = std::env::var(var).map_err(|_| ConfigError::Key {
            file: source.into(),
            key: key.into(),
            expected: format!("environment variable {var} to be set"),
        })?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve_table(source: &str, prefix: &str, table: &mut toml::Table) -> Result<(), ConfigError> {
    let file_keys: Vec<String> = table
        .keys()
        .filter(|k| k.ends_with("_file"))
        .cloned()
        .collect();
    for fk in file_keys {
        if let Some(toml::Value::String(path)) = table.remove(&fk) {
            let key = fk.trim_end_matches("_file").to_owned();
            let value = read_secret_file(source, &format!("{prefix}.{fk}"), Path::new(&path))?;
            table.insert(key, toml::Value::String(value));
        }
    }
    for (k, v) in table.iter_mut() {
        let key = format!("{prefix}.{k}");
        match v {
            toml::Value::String(s) => *s = expand_env(source, &key, s)?,
            toml::Value::Table(t) => resolve_table(source, &key, t)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section the environment cannot reach would silently ignore its variables.
    #[test]
    fn every_section_of_the_example_is_reachable_from_the_environment() {
        let example = include_str!("../config/aduan.example.toml");
        let mut sections = 0;
        for line in example.lines() {
            let line = line.trim_start_matches(['#', ' ']);
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                if name.starts_with('[') {
                    continue; // [[channels]]: not set from the environment
                }
                let top = name.split('.').next().unwrap_or(name);
                if top == "channels" {
                    continue; // [channels.fields]: part of a [[channels]] entry
                }
                let var = format!("{}__x", top.to_ascii_uppercase());
                assert!(
                    is_config_key(uncased::UncasedStr::new(&var)),
                    "[{name}] is not in is_config_key's sections"
                );
                sections += 1;
            }
        }
        assert!(sections >= 5, "found only {sections} sections");
    }

    #[test]
    fn default_has_the_web_form_on_sqlite() {
        let cfg = Config::load(None).expect("default loads");
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:8080");
        assert!(cfg.database_url().starts_with("sqlite://"));
        assert_eq!(cfg.channels.len(), 1);
        assert!(!cfg.form.categories.is_empty());
    }

    #[test]
    fn secrets_come_from_env_and_files_and_never_print() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("secret");
        std::fs::write(&f, "dari-berkas-rahasia-panjang\n").expect("write");
        std::env::set_var("ADUAN_TEST_FORM_SECRET", "dari-env-rahasia-panjang");
        let cfg = Config::from_toml_str(&format!(
            r#"
            [[channels]]
            kind = "webform"
            name = "a"
            secret = "${{ADUAN_TEST_FORM_SECRET}}"
            [[channels]]
            kind = "webform"
            name = "b"
            secret_file = "{}"
            "#,
            f.display()
        ))
        .expect("loads");
        assert_eq!(
            cfg.channels[0]["secret"].as_str(),
            Some("dari-env-rahasia-panjang")
        );
        assert_eq!(
            cfg.channels[1]["secret"].as_str(),
            Some("dari-berkas-rahasia-panjang")
        );
        let printed = format!("{:?}", cfg.database);
        assert!(!printed.contains("postgres"), "{printed}");
    }

    #[test]
    fn the_commented_example_loads_and_builds() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/aduan.example.toml");
        let cfg = Config::load(Some(&path)).expect("config/aduan.example.toml loads");
        crate::registry::Channels::build(&cfg, &crate::registry::builtin_factories())
            .expect("its channels build");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let cfg = Config::from_toml_str("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]")
            .expect("loads");
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(cfg.http.trusted_proxies.contains(ip("10.9.8.7")));
        assert!(cfg.http.trusted_proxies.contains(ip("::1")));
        assert!(!cfg.http.trusted_proxies.contains(ip("127.0.0.1")));
        let e = Config::from_toml_str("[http]\ntrusted_proxies = [\"proxy.local\"]")
            .expect_err("refused");
        assert!(e.to_string().contains("trusted_proxies"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_toml_str("[database]\nurl = \"mysql://x\"").expect_err("refused");
        assert!(e.to_string().contains("database.url"), "{e}");
        let e = Config::from_toml_str("[http]\nlisten = \"nope\"").expect_err("refused");
        assert!(e.to_string().contains("listen"), "{e}");
        let e = Config::from_toml_str("[[channels]]\nkind = \"webform\"\nname = \"Bad Name\"")
            .expect_err("refused");
        assert!(e.to_string().contains("channels[0].name"), "{e}");
        let e = Config::from_toml_str(
            "[[channels]]\nkind = \"webform\"\nname = \"x\"\nsecret = \"${ADUAN_TEST_UNSET_VAR}\"",
        )
        .expect_err("refused");
        assert!(e.to_string().contains("ADUAN_TEST_UNSET_VAR"), "{e}");
    }
}
