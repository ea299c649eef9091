//! Signed JSON webhooks.
//!
//! `Aduan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`,
//! with `Aduan-Event-Id` and `Aduan-Event-Type` beside it. The timestamp is signed with
//! the body, so a receiver that refuses old timestamps and event ids it has seen refuses
//! a replay; each attempt is signed anew at the time it is sent.

use aduan_kit::signature::{sign_parts_hex, verify_parts_hex};
use secrecy::ExposeSecret;

use super::{describe, Forwarder, SendError};
use crate::store::ForwardRow;

/// The `Aduan-Signature` value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let v1 = sign_parts_hex(secret, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={v1}")
}

/// Whether `header` signs `body` with `secret` at a time within `tolerance_secs` of
/// `now` (what a receiver checks; the comparison takes the same time however much of
/// the signature matches).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let t = t.to_string();
    sigs.iter()
        .any(|sig| verify_parts_hex(secret, &[t.as_bytes(), b".", body], sig))
}

/// POSTs the event; a 2xx is success.
pub(super) async fn post(
    f: &Forwarder,
    row: &ForwardRow,
    body: &serde_json::Value,
) -> Result<(), SendError> {
    let url = f.url("")?;
    let raw = serde_json::to_vec(body).map_err(|e| SendError::permanent(e.to_string()))?;
    let secret = f
        .cfg
        .secret
        .as_ref()
        .ok_or_else(|| SendError::permanent("no signing secret configured"))?;
    let now = chrono::Utc::now().timestamp();
    let res = f
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Aduan-Event-Id", &row.event_id)
        .header("Aduan-Event-Type", row.event.as_str())
        .header(
            "Aduan-Signature",
            sign(secret.expose_secret().as_bytes(), now, &raw),
        )
        .body(raw)
        .send()
        .await
        .map_err(|e| SendError::transient(describe(e)))?;
    if res.status().is_success() {
        return Ok(());
    }
    let err = SendError::from_status(&res, "");
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_nothing_else_does() {
        let body = br#"{"id":"evt_1","type":"complaint.filed"}"#;
        let header = sign(b"rahasia-bersama-16", 1_765_000_000, body);
        assert!(header.starts_with("t=1765000000,v1="));
        assert!(verify(
            b"rahasia-bersama-16",
            &header,
            body,
            1_765_000_100,
            300
        ));
        // Another secret, another body, an old timestamp, a forged time: refused.
        assert!(!verify(
            b"rahasia-lain-xxxxx",
            &header,
            body,
            1_765_000_100,
            300
        ));
        assert!(!verify(
            b"rahasia-bersama-16",
            &header,
            b"{}",
            1_765_000_100,
            300
        ));
        assert!(!verify(
            b"rahasia-bersama-16",
            &header,
            body,
            1_765_001_000,
            300
        ));
        let moved = header.replace("t=1765000000", "t=1765000900");
        assert!(!verify(
            b"rahasia-bersama-16",
            &moved,
            body,
            1_765_001_000,
            300
        ));
        assert!(!verify(
            b"rahasia-bersama-16",
            "v1=00",
            body,
            1_765_000_000,
            300
        ));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer, computed independently:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac 'kunci-rahasia-uji'
        let header = sign(b"kunci-rahasia-uji", 1_700_000_000, b"{}");
        assert_eq!(header, format!("t=1700000000,v1={}", KNOWN));
    }

    const KNOWN: &str = "21f1a9fb168188f4f31c4a76178ee3debf64a2f59fbcdf2462e5338ea5013279";
}
