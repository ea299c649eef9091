//! X API v2 over reqwest: app-only bearer reads, OAuth 1.0a user-context writes (signed
//! by `oauth1-request`), rate limits read from every answer and honoured.
//!
//! When `x-rate-limit-remaining` reaches 0, or on a 429, no request to that endpoint is
//! made before `x-rate-limit-reset`; 5xx and timeouts are transient (the supervisor
//! backs off with jitter); 401/403 mean the credentials need attention.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aduan_kit::{ChannelName, ConnectorError};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

pub struct OAuthCredentials {
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
    pub access_token: SecretString,
    pub access_token_secret: SecretString,
}

pub struct XApi {
    pub name: ChannelName,
    http: reqwest::Client,
    base: String,
    bearer: SecretString,
    oauth: Option<OAuthCredentials>,
    /// Per endpoint: no request before this Unix time (seconds).
    not_before: Mutex<HashMap<String, u64>>,
    media: aduan_kit::fetch::Fetcher,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The endpoint a path belongs to for rate limiting (ids replaced by `:id`).
fn endpoint(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.len() > 3 && s.bytes().all(|b| b.is_ascii_digit()) {
                ":id"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl XApi {
    pub fn new(
        name: ChannelName,
        base: &str,
        bearer: SecretString,
        oauth: Option<OAuthCredentials>,
        timeout: Duration,
        media: aduan_kit::fetch::Fetcher,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            name,
            http,
            base: base.trim_end_matches('/').to_owned(),
            bearer,
            oauth,
            not_before: Mutex::new(HashMap::new()),
            media,
        })
    }

    pub fn can_write(&self) -> bool {
        self.oauth.is_some()
    }

    /// How long to wait before calling `path` again (0 when free to go).
    pub fn wait_for(&self, path: &str) -> Duration {
        let now = now_secs();
        let map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&endpoint(path)) {
            Some(&t) if t > now => Duration::from_secs(t - now),
            _ => Duration::ZERO,
        }
    }

    fn note_limits(&self, path: &str, headers: &reqwest::header::HeaderMap, limited: bool) -> u64 {
        let get = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let remaining = get("x-rate-limit-remaining");
        let reset = get("x-rate-limit-reset");
        let now = now_secs();
        let until = match (limited, remaining, reset) {
            (true, _, Some(r)) => r.max(now + 1),
            (true, _, None) => now + 60,
            (false, Some(0), Some(r)) => r,
            _ => return 0,
        };
        self.not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(endpoint(path), until);
        until
    }

    fn classify(
        &self,
        what: &str,
        status: reqwest::StatusCode,
        body: &[u8],
        until: u64,
    ) -> ConnectorError {
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        match status.as_u16() {
            401 | 403 => ConnectorError::auth_expired(
                &self.name,
                format!("{what}: X refused the credentials ({status}): {detail}"),
            ),
            429 => {
                ConnectorError::transient(&self.name, format!("{what}: rate limited until {until}"))
                    .retry_after(Duration::from_secs(until.saturating_sub(now_secs()).max(1)))
            }
            s if s >= 500 => {
                ConnectorError::transient(&self.name, format!("{what}: X answered {status}"))
            }
            _ => ConnectorError::permanent(
                &self.name,
                format!("{what}: X answered {status}: {detail}"),
            ),
        }
    }

    fn transport(&self, what: &str, e: reqwest::Error) -> ConnectorError {
        // reqwest's error text carries the URL, never a credential.
        ConnectorError::transient(&self.name, format!("{what}: {e}"))
    }

    /// Sends `req` (`method path`) unless that endpoint's rate limit has not reset yet,
    /// records the limits X reports, and returns the body on 2xx.
    async fn call(
        &self,
        method: &str,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Bytes, ConnectorError> {
        let what = format!("{method} {path}");
        let wait = self.wait_for(path);
        if !wait.is_zero() {
            return Err(ConnectorError::transient(
                &self.name,
                format!("{what}: rate limit resets in {}s", wait.as_secs()),
            )
            .retry_after(wait));
        }
        let res = req.send().await.map_err(|e| self.transport(&what, e))?;
        let status = res.status();
        let until = self.note_limits(path, res.headers(), status.as_u16() == 429);
        let body = res.bytes().await.map_err(|e| self.transport(&what, e))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(self.classify(&what, status, &body, until))
        }
    }

    /// `GET {base}{path}?query` with the bearer token; the body on 2xx.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, ConnectorError> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(self.bearer.expose_secret());
        self.call("GET", path, req).await
    }

    /// Downloads a media file from an allowed host, refusing more than the configured
    /// size.
    pub async fn media(&self, url: &str) -> Result<(String, Bytes), String> {
        self.media.download("media", url).await
    }

    /// The OAuth 1.0a `Authorization` header for `method url` (no form parameters: X
    /// v2 bodies are JSON, which the signature does not cover).
    pub fn oauth_header(&self, method: &str, url: &str) -> Option<String> {
        let o = self.oauth.as_ref()?;
        let token = oauth::Token::from_parts(
            o.consumer_key.expose_secret(),
            o.consumer_secret.expose_secret(),
            o.access_token.expose_secret(),
            o.access_token_secret.expose_secret(),
        );
        Some(match method {
            "GET" => oauth::get(url, &(), &token, oauth::HMAC_SHA1),
            _ => oauth::post(url, &(), &token, oauth::HMAC_SHA1),
        })
    }

    /// `POST {base}{path}` with a JSON body, signed with OAuth 1.0a.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Bytes, ConnectorError> {
        let url = format!("{}{path}", self.base);
        let auth = self.oauth_header("POST", &url).ok_or_else(|| {
            ConnectorError::permanent(
                &self.name,
                "replies need consumer_key, consumer_secret, access_token and access_token_secret",
            )
        })?;
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .json(body);
        self.call("POST", path, req).await
    }

    /// `GET {base}{path}` signed with OAuth 1.0a (credential checks).
    pub async fn get_user_context(&self, path: &str) -> Result<Bytes, ConnectorError> {
        let url = format!("{}{path}", self.base);
        let Some(auth) = self.oauth_header("GET", &url) else {
            return Err(ConnectorError::permanent(
                &self.name,
                "no OAuth 1.0a credentials",
            ));
        };
        let req = self
            .http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, auth);
        self.call("GET", path, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_group_ids() {
        assert_eq!(
            endpoint("/2/users/1500000000000000000/mentions"),
            "/2/users/:id/mentions"
        );
        assert_eq!(
            endpoint("/2/tweets/search/recent"),
            "/2/tweets/search/recent"
        );
    }
}
