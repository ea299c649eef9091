//! The Graph API over reqwest.
//!
//! * The Page token travels in the `Authorization` header, never in a URL (reqwest's
//!   errors name the URL); every call carries `appsecret_proof`.
//! * `X-App-Usage` and `X-Business-Use-Case-Usage` are read from every answer: above
//!   [`SLOW_PERCENT`] calls are spaced out, above [`PAUSE_PERCENT`] they stop until Meta
//!   says access is back.
//! * Error codes 4, 17, 32, 613 and 80001–80099 are throttling: transient, retried
//!   after the back-off. Code 190 means the token expired or was revoked: the channel is
//!   marked for re-authorization. 10 and 200–299 are missing permissions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aduan_kit::meta::appsecret_proof;
use aduan_kit::{ChannelName, ConnectorError};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

use crate::config::FacebookConfig;
use serde_json::Value;

/// Above this share of a usage limit (percent), calls are spaced out.
pub const SLOW_PERCENT: u64 = 75;
/// Above this share, no call is made until access is back.
pub const PAUSE_PERCENT: u64 = 95;

pub struct GraphApi {
    pub name: ChannelName,
    http: reqwest::Client,
    /// `{api_base}/{version}`.
    root: String,
    token: SecretString,
    proof: String,
    throttle_backoff: Duration,
    /// Attachments: only from the configured hosts, never with our token.
    media: aduan_kit::fetch::Fetcher,
    /// No call before this instant (usage above the limit, or a throttling error).
    paused_until: Mutex<Option<Instant>>,
    /// The gap between calls while usage is high.
    spacing: Mutex<Duration>,
}

/// The highest usage percentage in `X-App-Usage` / `X-Business-Use-Case-Usage`, and
/// the wait Meta estimates (`estimated_time_to_regain_access`, minutes).
pub fn usage(headers: &reqwest::header::HeaderMap) -> (u64, Option<Duration>) {
    let mut top = 0u64;
    let mut regain = None;
    let pct = |v: &Value| {
        ["call_count", "total_cputime", "total_time"]
            .iter()
            .filter_map(|k| v[*k].as_f64())
            .fold(0f64, f64::max) as u64
    };
    let parse = |h: &str| -> Option<Value> {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str(v).ok())
    };
    if let Some(v) = parse("x-app-usage") {
        top = top.max(pct(&v));
    }
    if let Some(Value::Object(m)) = parse("x-business-use-case-usage") {
        for entries in m.values() {
            for e in entries.as_array().into_iter().flatten() {
                top = top.max(pct(e));
                if let Some(mins) = e["estimated_time_to_regain_access"].as_u64() {
                    if mins > 0 {
                        regain = Some(Duration::from_secs(mins * 60));
                    }
                }
            }
        }
    }
    (top, regain)
}

/// The Graph error in a body: `(code, subcode, message)`.
pub fn graph_error(body: &[u8]) -> Option<(i64, Option<i64>, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = &v["error"];
    Some((
        e["code"].as_i64()?,
        e["error_subcode"].as_i64(),
        e["message"].as_str().unwrap_or("").to_owned(),
    ))
}

pub fn is_throttling(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613) || (80000..=80099).contains(&code)
}

impl GraphApi {
    /// A client for the Page in `cfg`.
    pub fn new(name: ChannelName, cfg: &FacebookConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        if cfg.insecure_local_media_for_tests {
            tracing::warn!(channel = %name, "insecure_local_media_for_tests is on: attachments may come over plain http from loopback");
        }
        let media = aduan_kit::fetch::Fetcher::new(
            aduan_kit::fetch::FetchPolicy::new(&cfg.media_hosts)
                .allow_loopback_http(cfg.insecure_local_media_for_tests),
            Duration::from_secs(cfg.timeout_secs.max(1)),
            cfg.max_attachment_bytes,
        )?;
        let token = cfg.page_access_token.clone();
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
            paused_until: Mutex::new(None),
            spacing: Mutex::new(Duration::ZERO),
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The `appsecret_proof` every call carries (HMAC-SHA256 of the token).
    pub fn proof(&self) -> &str {
        &self.proof
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

    /// The gap currently kept between calls because usage is high.
    pub fn spacing(&self) -> Duration {
        *self.spacing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note_usage(&self, headers: &reqwest::header::HeaderMap) {
        let (pct, regain) = usage(headers);
        // Above the pause threshold the pause covers it; the answer after it sets the
        // spacing again.
        let spacing = if (SLOW_PERCENT..PAUSE_PERCENT).contains(&pct) {
            // 2 s at 75 %, growing to 40 s just below the pause.
            Duration::from_secs((pct.saturating_sub(SLOW_PERCENT) + 1) * 2)
        } else {
            Duration::ZERO
        };
        *self.spacing.lock().unwrap_or_else(|p| p.into_inner()) = spacing;
        if pct >= PAUSE_PERCENT {
            self.pause(regain.unwrap_or(self.throttle_backoff));
            tracing::warn!(channel = %self.name, usage = pct, "Graph API usage near its limit: pausing");
        } else if pct >= SLOW_PERCENT {
            tracing::info!(channel = %self.name, usage = pct, "Graph API usage high: slowing down");
        }
    }

    fn classify(&self, what: &str, status: reqwest::StatusCode, body: &[u8]) -> ConnectorError {
        let Some((code, sub, message)) = graph_error(body) else {
            return if status.is_server_error() {
                ConnectorError::transient(&self.name, format!("{what}: Graph answered {status}"))
            } else {
                ConnectorError::permanent(&self.name, format!("{what}: Graph answered {status}"))
            };
        };
        let detail = format!("{what}: (#{code}) {message}");
        match code {
            190 | 102 | 463 | 467 => ConnectorError::auth_expired(
                &self.name,
                format!("token expired or revoked, re-authorize the Page: {detail}"),
            ),
            c if is_throttling(c) => {
                self.pause(self.throttle_backoff);
                ConnectorError::transient(&self.name, format!("throttled by Meta: {detail}"))
                    .retry_after(self.throttle_backoff)
            }
            10 if sub == Some(2_018_278) => ConnectorError::permanent(
                &self.name,
                format!("cannot be sent on Messenger: outside the 24-hour window: {detail}"),
            ),
            10 | 200..=299 => ConnectorError::auth_expired(
                &self.name,
                format!("a permission is missing, re-authorize the Page with it: {detail}"),
            ),
            1 | 2 => ConnectorError::transient(&self.name, detail),
            _ if status.is_server_error() => ConnectorError::transient(&self.name, detail),
            _ => ConnectorError::permanent(&self.name, detail),
        }
    }

    /// Sends `req` unless calls are paused, keeps the spacing, records usage, and
    /// returns the body on 2xx.
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
                    "{what}: Graph calls paused for {}s (usage limit)",
                    paused.as_secs()
                ),
            )
            .retry_after(paused));
        }
        let gap = self.spacing();
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let res = req
            .bearer_auth(self.token.expose_secret())
            .query(&[("appsecret_proof", self.proof.as_str())])
            .send()
            .await
            // reqwest's error text carries the URL, which never holds the token.
            .map_err(|e| ConnectorError::transient(&self.name, format!("{what}: {e}")))?;
        let status = res.status();
        self.note_usage(res.headers());
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
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, ConnectorError> {
        let path = path.trim_start_matches('/');
        let req = self.http.get(format!("{}/{path}", self.root)).query(query);
        self.call(&format!("GET /{path}"), req).await
    }

    /// Follows a `paging.next` link. Only links under the configured base are followed,
    /// and any `access_token` in them is dropped (the header carries it).
    pub async fn get_next(&self, next: &str) -> Result<Bytes, ConnectorError> {
        let mut url = reqwest::Url::parse(next).map_err(|e| {
            ConnectorError::permanent(&self.name, format!("paging.next is not a URL: {e}"))
        })?;
        let same_host = reqwest::Url::parse(&self.root)
            .ok()
            .is_some_and(|r| r.origin() == url.origin());
        if !same_host {
            return Err(ConnectorError::permanent(
                &self.name,
                format!(
                    "paging.next leaves the Graph API base: {}",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        let what = format!("GET {}", url.path());
        let req = self.http.get(url).query(&kept);
        self.call(&what, req).await
    }

    /// `POST {root}/{path}` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Bytes, ConnectorError> {
        let path = path.trim_start_matches('/');
        let req = self.http.post(format!("{}/{path}", self.root)).json(body);
        self.call(&format!("POST /{path}"), req).await
    }

    /// Downloads an attachment from its (CDN) link on an allowed host, without our
    /// token, refusing more than the configured size.
    pub async fn download(&self, url: &str) -> Result<(String, Bytes), String> {
        self.media.download("attachment", url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn usage_headers_give_the_highest_share_and_the_wait() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":12,"total_cputime":3,"total_time":80}"#),
        );
        assert_eq!(usage(&h), (80, None));
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"104500000000001":[{"type":"pages","call_count":97,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":7}]}"#,
            ),
        );
        assert_eq!(usage(&h), (97, Some(Duration::from_secs(420))));
        assert_eq!(usage(&HeaderMap::new()), (0, None));
    }

    #[test]
    fn graph_errors_are_read_and_throttling_codes_known() {
        let body = br#"{"error":{"message":"(#32) Page request limit reached","type":"OAuthException","code":32}}"#;
        assert_eq!(
            graph_error(body),
            Some((32, None, "(#32) Page request limit reached".into()))
        );
        for c in [4, 17, 32, 613, 80001] {
            assert!(is_throttling(c), "{c}");
        }
        assert!(!is_throttling(190));
        assert!(graph_error(b"<html>").is_none());
    }
}
