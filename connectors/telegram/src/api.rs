//! The Bot API over reqwest.
//!
//! * The token is part of every URL (`{api_base}/bot{token}/{method}`, files at
//!   `{api_base}/file/bot{token}/{path}`): errors are built without the URL, and a
//!   Telegram description is shown with the token taken out, should one ever hold it.
//! * `ok: false` answers: 429 is throttling, retried after `parameters.retry_after`;
//!   401 means the token was refused (re-authorize); 403 means the person blocked the
//!   bot or left the chat; other 4xx are permanent, 5xx transient.
//! * Files come through `getFile` and then the kit's restricted fetch, from the API's
//!   own host only, size-capped before and while downloading.

use std::time::Duration;

use aduan_kit::fetch::{FetchPolicy, Fetcher};
use aduan_kit::{AttachmentData, ChannelName, ConnectorError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::normalize::MediaRef;

pub struct BotApi {
    pub name: ChannelName,
    http: reqwest::Client,
    base: String,
    token: SecretString,
    files: Fetcher,
    max_media_bytes: u64,
    timeout: Duration,
}

/// A Bot API error body: `(error_code, description, parameters.retry_after)`.
pub fn api_error(body: &[u8]) -> Option<(i64, String, Option<u64>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["ok"] != false {
        return None;
    }
    Some((
        v["error_code"].as_i64()?,
        v["description"].as_str().unwrap_or("").to_owned(),
        v["parameters"]["retry_after"].as_u64(),
    ))
}

impl BotApi {
    pub fn new(
        name: ChannelName,
        api_base: &str,
        token: SecretString,
        timeout: Duration,
        max_media_bytes: u64,
        loopback_for_tests: bool,
    ) -> Result<Self, String> {
        let base = api_base.trim_end_matches('/').to_owned();
        let host = reqwest::Url::parse(&base)
            .map_err(|e| format!("not a URL: {e}"))?
            .host_str()
            .ok_or("a URL without a host")?
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        if loopback_for_tests {
            tracing::warn!(channel = %name, "insecure_local_media_for_tests is on: files may come over plain http from loopback");
        }
        let files = Fetcher::new(
            FetchPolicy::new([host]).allow_loopback_http(loopback_for_tests),
            timeout,
            usize::try_from(max_media_bytes).unwrap_or(usize::MAX),
        )?;
        Ok(Self {
            name,
            http,
            base,
            token,
            files,
            max_media_bytes,
            timeout,
        })
    }

    /// `text` with the token taken out, should it appear.
    fn clean(&self, text: &str) -> String {
        let token = self.token.expose_secret();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "[token]")
        }
    }

    fn classify(&self, method: &str, status: reqwest::StatusCode, body: &[u8]) -> ConnectorError {
        let (code, description, retry_after) = api_error(body).unwrap_or((
            i64::from(status.as_u16()),
            status.canonical_reason().unwrap_or("").to_owned(),
            None,
        ));
        let detail = format!("{method}: {code} {}", self.clean(&description));
        match code {
            429 => {
                let wait = Duration::from_secs(retry_after.unwrap_or(5).max(1));
                ConnectorError::transient(&self.name, format!("throttled by Telegram: {detail}"))
                    .retry_after(wait)
            }
            // An unknown token's getMe is answered 404.
            401 | 404 if code == 401 || method == "getMe" => ConnectorError::auth_expired(
                &self.name,
                format!("the bot token was refused, re-authorize the bot: {detail}"),
            ),
            403 => ConnectorError::permanent(
                &self.name,
                format!("cannot be sent on Telegram: the person blocked the bot or left the chat: {detail}"),
            ),
            c if c >= 500 => ConnectorError::transient(&self.name, detail),
            _ => ConnectorError::permanent(&self.name, detail),
        }
    }

    /// Calls `method` with a JSON body: the whole answer of an `ok` call, as received.
    /// `wait` is added to the timeout (long polling holds the call open).
    pub async fn call_raw(
        &self,
        method: &str,
        body: &Value,
        wait: Duration,
    ) -> Result<bytes::Bytes, ConnectorError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let failed = |e: reqwest::Error| {
            ConnectorError::transient(&self.name, format!("{method}: {}", e.without_url()))
        };
        let res = self
            .http
            .post(url)
            .json(body)
            .timeout(self.timeout_with(wait))
            .send()
            .await
            .map_err(failed)?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(failed)?;
        let ok = serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v["ok"] == true);
        if !status.is_success() || !ok {
            return Err(self.classify(method, status, &bytes));
        }
        Ok(bytes)
    }

    /// [`BotApi::call_raw`], and the answer's `result`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ConnectorError> {
        let bytes = self.call_raw(method, body, Duration::ZERO).await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(v["result"].clone())
    }

    fn timeout_with(&self, wait: Duration) -> Duration {
        self.timeout + wait
    }

    /// `getMe`: the bot's id and username.
    pub async fn get_me(&self) -> Result<(i64, String), ConnectorError> {
        let me = self
            .call("getMe", &Value::Object(Default::default()))
            .await?;
        match (me["id"].as_i64(), me["username"].as_str()) {
            (Some(id), Some(u)) => Ok((id, u.to_owned())),
            _ => Err(ConnectorError::transient(
                &self.name,
                "getMe: an answer without id or username",
            )),
        }
    }

    /// Downloads one file of a message: `getFile`, then the file itself from the API's
    /// host, within the size cap. The error says what was not downloaded and why, never
    /// the link (it holds the token).
    pub async fn download(
        &self,
        id: &str,
        n: usize,
        media: &MediaRef,
    ) -> Result<AttachmentData, String> {
        let too_big = |size: u64| {
            format!(
                "{} {size} bytes, larger than {} bytes",
                media.what, self.max_media_bytes
            )
        };
        if let Some(size) = media.size.filter(|s| *s > self.max_media_bytes) {
            return Err(too_big(size));
        }
        let file = self
            .call("getFile", &serde_json::json!({ "file_id": media.file_id }))
            .await
            .map_err(|e| format!("{}: {}", media.what, e.message))?;
        if let Some(size) = file["file_size"]
            .as_u64()
            .filter(|s| *s > self.max_media_bytes)
        {
            return Err(too_big(size));
        }
        let path = file["file_path"]
            .as_str()
            .filter(|p| !p.contains("..") && !p.starts_with('/'))
            .ok_or_else(|| format!("{}: getFile gave no usable file_path", media.what))?;
        let url = format!(
            "{}/file/bot{}/{path}",
            self.base,
            self.token.expose_secret()
        );
        let (content_type, bytes) = self
            .files
            .download_shown(media.what, &url, &format!("file {path}"))
            .await
            .map_err(|e| self.clean(&e))?;
        let content_type = match (content_type.as_str(), &media.mime_type) {
            ("application/octet-stream", Some(m)) => m.clone(),
            _ => content_type,
        };
        let ext = path
            .rsplit('.')
            .next()
            .filter(|e| e.len() <= 4 && *e != path && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("bin");
        let filename = media
            .file_name
            .as_deref()
            .map(|f| f.replace(['/', '\\'], "_"))
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| format!("{}-{n}.{ext}", id.replace(':', "-")));
        Ok(AttachmentData {
            filename,
            content_type,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn api() -> BotApi {
        BotApi::new(
            ChannelName::parse("tg").expect("name"),
            "https://api.telegram.org",
            SecretString::from("7000000001:AAHrahasia".to_owned()),
            Duration::from_secs(5),
            1024,
            false,
        )
        .expect("api")
    }

    #[test]
    fn errors_are_read_and_classified() {
        let api = api();
        assert_eq!(
            api_error(&fixture("error_429.json")),
            Some((429, "Too Many Requests: retry after 3".into(), Some(3)))
        );
        let e = api.classify(
            "sendMessage",
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            &fixture("error_429.json"),
        );
        assert_eq!(e.kind, aduan_kit::ErrorKind::Transient);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = api.classify(
            "sendMessage",
            reqwest::StatusCode::FORBIDDEN,
            &fixture("error_403.json"),
        );
        assert_eq!(e.kind, aduan_kit::ErrorKind::Permanent);
        assert!(e.message.contains("blocked"), "{}", e.message);
        let e = api.classify(
            "getMe",
            reqwest::StatusCode::UNAUTHORIZED,
            &fixture("error_401.json"),
        );
        assert_eq!(e.kind, aduan_kit::ErrorKind::AuthExpired);
        let e = api.classify("getUpdates", reqwest::StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(e.kind, aduan_kit::ErrorKind::Transient);
        assert!(api_error(&fixture("get_me.json")).is_none());
    }

    #[tokio::test]
    async fn a_failed_call_or_download_does_not_name_the_token() {
        // Nothing listens on port 9 of loopback.
        let api = BotApi::new(
            ChannelName::parse("tg").expect("name"),
            "http://127.0.0.1:9",
            SecretString::from("7000000001:AAHrahasia".to_owned()),
            Duration::from_secs(2),
            1024,
            true,
        )
        .expect("api");
        let e = api.get_me().await.expect_err("no server");
        assert!(e.message.starts_with("getMe: "), "{}", e.message);
        assert!(!e.message.contains("AAHrahasia"), "{}", e.message);
        let media = MediaRef {
            file_id: "AgAC".into(),
            what: "foto",
            file_name: None,
            mime_type: None,
            size: None,
        };
        let why = api.download("1:2", 1, &media).await.expect_err("no server");
        assert!(!why.contains("AAHrahasia"), "{why}");
        let big = MediaRef {
            size: Some(2048),
            ..media
        };
        let why = api.download("1:2", 1, &big).await.expect_err("too big");
        assert_eq!(why, "foto 2048 bytes, larger than 1024 bytes");
    }

    #[test]
    fn the_token_never_shows_in_an_error() {
        let api = api();
        let body = br#"{"ok":false,"error_code":400,"description":"Bad Request: bot7000000001:AAHrahasia/x"}"#;
        let e = api.classify("sendMessage", reqwest::StatusCode::BAD_REQUEST, body);
        assert!(!e.message.contains("AAHrahasia"), "{}", e.message);
    }
}
