//! The Cloud API (Graph) over reqwest.
//!
//! * The access token travels in the `Authorization` header, never in a URL (reqwest's
//!   errors name the URL); every call carries `appsecret_proof`.
//! * Error codes 4, 80007 and 130429 are throttling of the number or the app: no call
//!   is made until the back-off passed. 131056 is too many messages to one person: that
//!   message is retried after the back-off, the others go on. 190 means the token
//!   expired or was revoked: the channel is marked for re-authorization. 131047 is an
//!   answer outside the 24-hour window.
//! * Media: `GET /{media-id}` gives a short-lived link; the file is downloaded from it
//!   with the token in the header, from the listed media hosts only, size-capped.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aduan_kit::fetch::{FetchPolicy, Fetcher};
use aduan_kit::meta::appsecret_proof;
use aduan_kit::{ChannelName, ConnectorError};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::WhatsAppConfig;

pub struct CloudApi {
    pub name: ChannelName,
    http: reqwest::Client,
    /// `{api_base}/{version}`.
    root: String,
    token: SecretString,
    proof: String,
    throttle_backoff: Duration,
    media: Fetcher,
    max_media_bytes: usize,
    /// No call before this instant (a throttling error).
    paused_until: Mutex<Option<Instant>>,
}

/// The Graph error in a body: `(code, message, details)`.
pub fn graph_error(body: &[u8]) -> Option<(i64, String, Option<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = &v["error"];
    Some((
        e["code"].as_i64()?,
        e["message"].as_str().unwrap_or("").to_owned(),
        e["error_data"]["details"].as_str().map(str::to_owned),
    ))
}

/// Throttling of the app or the number: every call waits.
pub fn is_throttling(code: i64) -> bool {
    matches!(code, 4 | 80007 | 130429)
}

/// Too many messages to one person: only that message waits.
pub const PAIR_RATE_LIMIT: i64 = 131056;

/// Outside the 24-hour customer service window.
pub const OUTSIDE_WINDOW: i64 = 131047;

/// What the media endpoint says of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

impl CloudApi {
    pub fn new(name: ChannelName, cfg: &WhatsAppConfig) -> Result<Self, String> {
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        if cfg.insecure_local_media_for_tests {
            tracing::warn!(channel = %name, "insecure_local_media_for_tests is on: media may come over plain http from loopback");
        }
        let media = Fetcher::new(
            FetchPolicy::new(&cfg.media_hosts)
                .allow_loopback_http(cfg.insecure_local_media_for_tests),
            timeout,
            cfg.max_media_bytes,
        )?;
        let token = cfg.access_token.clone();
        let proof = appsecret_proof(
            cfg.app_secret.expose_secret().as_bytes(),
            token.expose_secret().as_bytes(),
        );
        Ok(Self {
            name,
            http,
            root: format!(
                "{}/{}",
                cfg.api_base.trim_end_matches('/'),
                cfg.graph_version.trim_matches('/')
            ),
            token,
            proof,
            throttle_backoff: Duration::from_secs(cfg.throttle_backoff_secs.max(1)),
            media,
            max_media_bytes: cfg.max_media_bytes,
            paused_until: Mutex::new(None),
        })
    }

    fn pause(&self, for_: Duration) {
        *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + for_);
    }

    /// How long until calls may resume (zero when free to go).
    pub fn paused_for(&self) -> Duration {
        match *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(t) => t.saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// The error for a refused call: what it was, Meta's code and words, never the
    /// token.
    pub fn classify(&self, what: &str, status: reqwest::StatusCode, body: &[u8]) -> ConnectorError {
        let Some((code, message, details)) = graph_error(body) else {
            return if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                ConnectorError::transient(&self.name, format!("{what}: Graph answered {status}"))
                    .retry_after(self.throttle_backoff)
            } else {
                ConnectorError::permanent(&self.name, format!("{what}: Graph answered {status}"))
            };
        };
        let mut detail = format!("{what}: (#{code}) {message}");
        if let Some(d) = details {
            detail.push_str(&format!(" ({d})"));
        }
        match code {
            190 | 102 | 463 | 467 => ConnectorError::auth_expired(
                &self.name,
                format!("access token expired or revoked, re-authorize the number: {detail}"),
            ),
            c if is_throttling(c) => {
                self.pause(self.throttle_backoff);
                ConnectorError::transient(&self.name, format!("throttled by Meta: {detail}"))
                    .retry_after(self.throttle_backoff)
            }
            PAIR_RATE_LIMIT => ConnectorError::transient(
                &self.name,
                format!("too many messages to this person for now: {detail}"),
            )
            .retry_after(self.throttle_backoff),
            OUTSIDE_WINDOW => ConnectorError::permanent(
                &self.name,
                format!("cannot be sent on WhatsApp: outside the 24-hour window: {detail}"),
            ),
            10 | 200..=299 => ConnectorError::auth_expired(
                &self.name,
                format!("a permission is missing, re-authorize the number with it: {detail}"),
            ),
            1 | 2 | 131000 | 131016 | 133004 => ConnectorError::transient(&self.name, detail),
            _ if status.is_server_error() => ConnectorError::transient(&self.name, detail),
            _ => ConnectorError::permanent(&self.name, detail),
        }
    }

    async fn call(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Bytes, ConnectorError> {
        let paused = self.paused_for();
        if !paused.is_zero() {
            return Err(ConnectorError::transient(
                &self.name,
                format!(
                    "{what}: Graph calls paused for {}s (throttled)",
                    paused.as_secs()
                ),
            )
            .retry_after(paused));
        }
        let res = req
            .bearer_auth(self.token.expose_secret())
            .query(&[("appsecret_proof", self.proof.as_str())])
            .send()
            .await
            // reqwest's error text carries the URL, which never holds the token.
            .map_err(|e| ConnectorError::transient(&self.name, format!("{what}: {e}")))?;
        let status = res.status();
        let body = res
            .bytes()
            .await
            .map_err(|e| ConnectorError::transient(&self.name, format!("{what}: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(self.classify(what, status, &body))
        }
    }

    /// `GET {root}/{path}?query`.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Bytes, ConnectorError> {
        let path = path.trim_start_matches('/');
        let req = self.http.get(format!("{}/{path}", self.root)).query(query);
        self.call(&format!("GET /{path}"), req).await
    }

    /// `POST {root}/{path}` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Bytes, ConnectorError> {
        let path = path.trim_start_matches('/');
        let req = self.http.post(format!("{}/{path}", self.root)).json(body);
        self.call(&format!("POST /{path}"), req).await
    }

    /// Where a media file is (`GET /{media-id}`).
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, String> {
        if media_id.is_empty() || !media_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("media id {media_id:?} is not an id"));
        }
        let body = self.get(media_id, &[]).await.map_err(|e| e.message)?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("media {media_id}: the answer is not JSON: {e}"))?;
        Ok(MediaInfo {
            url: v["url"]
                .as_str()
                .ok_or_else(|| format!("media {media_id}: no url in the answer"))?
                .to_owned(),
            mime_type: v["mime_type"].as_str().map(str::to_owned),
            sha256: v["sha256"].as_str().map(str::to_owned),
            file_size: v["file_size"]
                .as_u64()
                .or_else(|| v["file_size"].as_str().and_then(|s| s.parse().ok())),
        })
    }

    /// Downloads one media file: its link from the media endpoint, then the file with
    /// the token in the header, from a listed host, refusing more than the cap and a
    /// file whose SHA-256 is not the one announced.
    pub async fn download_media(&self, media_id: &str) -> Result<(String, Bytes), String> {
        let info = self.media_info(media_id).await?;
        if info
            .file_size
            .is_some_and(|n| n > self.max_media_bytes as u64)
        {
            return Err(format!(
                "media {media_id}: larger than {} bytes",
                self.max_media_bytes
            ));
        }
        let (content_type, bytes) = self
            .media
            .download_with_token("media", &info.url, self.token.expose_secret())
            .await?;
        if let Some(expected) = &info.sha256 {
            if !sha256_matches(expected, &bytes) {
                return Err(format!(
                    "media {media_id}: the file is not the one announced (SHA-256)"
                ));
            }
        }
        Ok((info.mime_type.unwrap_or(content_type), bytes))
    }
}

/// Whether `bytes` hash to `expected`, which Meta writes in hex or in base64.
fn sha256_matches(expected: &str, bytes: &[u8]) -> bool {
    use base64::Engine as _;
    let digest = Sha256::digest(bytes);
    let expected = expected.trim();
    hex::decode(expected).is_ok_and(|d| d == digest.as_slice())
        || base64::engine::general_purpose::STANDARD
            .decode(expected)
            .is_ok_and(|d| d == digest.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_are_read_and_throttling_codes_known() {
        let body = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."}}}"#;
        assert_eq!(
            graph_error(body),
            Some((
                130429,
                "(#130429) Rate limit hit".into(),
                Some("Cloud API message throughput has been reached.".into())
            ))
        );
        for c in [4, 80007, 130429] {
            assert!(is_throttling(c), "{c}");
        }
        assert!(!is_throttling(190) && !is_throttling(PAIR_RATE_LIMIT));
        assert!(graph_error(b"<html>").is_none());
    }

    fn api() -> CloudApi {
        let cfg: WhatsAppConfig = toml_cfg();
        CloudApi::new(ChannelName::parse("wa").expect("name"), &cfg).expect("api")
    }

    fn toml_cfg() -> WhatsAppConfig {
        serde_json::from_value(serde_json::json!({
            "phone_number_id": "106540000000001",
            "access_token": "token-rahasia-xyz",
            "app_secret": "app-secret",
            "verify_token": "verify",
            "throttle_backoff_secs": 7,
        }))
        .expect("config")
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    #[test]
    fn refusals_are_classified_by_their_code_without_the_token() {
        use aduan_kit::ErrorKind;
        let a = api();
        let bad = reqwest::StatusCode::BAD_REQUEST;
        let e = a.classify(
            "POST /x",
            reqwest::StatusCode::UNAUTHORIZED,
            &fixture("error_190_expired_token.json"),
        );
        assert_eq!(e.kind, ErrorKind::AuthExpired);
        assert!(
            e.message.contains("re-authorize") && e.message.contains("#190"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("token-rahasia-xyz"));
        let e = a.classify(
            "POST /x",
            bad,
            &fixture("error_131056_pair_rate_limit.json"),
        );
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(
            a.paused_for().is_zero(),
            "one person's limit does not stop the others"
        );
        let e = a.classify(
            "POST /x",
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            &fixture("error_130429_rate_limit.json"),
        );
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(e.message.contains("throughput"), "{}", e.message);
        assert!(
            !a.paused_for().is_zero(),
            "the number's limit pauses every call"
        );
        for code in [4, 80007] {
            let body = format!(r#"{{"error":{{"message":"limit","code":{code}}}}}"#);
            assert_eq!(
                a.classify("GET /x", bad, body.as_bytes()).kind,
                ErrorKind::Transient
            );
        }
        let window = br#"{"error":{"message":"(#131047) Re-engagement message","code":131047}}"#;
        let e = a.classify("POST /x", bad, window);
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("cannot be sent on WhatsApp"));
        assert_eq!(
            a.classify("GET /x", reqwest::StatusCode::BAD_GATEWAY, b"<html>")
                .kind,
            ErrorKind::Transient
        );
    }

    #[test]
    fn media_hashes_match_in_hex_and_base64() {
        let hex_digest = hex::encode(Sha256::digest(b"foto"));
        assert!(sha256_matches(&hex_digest, b"foto"));
        // python3 -c 'import base64,hashlib;print(base64.b64encode(hashlib.sha256(b"foto").digest()).decode())'
        let b64 = "YYfriEoiQ9vtOmSNaeWhpTi+Aiq8fXLVlvwLECT6Pas=";
        assert!(sha256_matches(b64, b"foto"));
        assert!(!sha256_matches(b64, b"foto2"));
        assert!(!sha256_matches("not a hash", b"foto"));
    }
}
