//! Webhook signature checks shared by channels: HMAC-SHA256 over the raw body, compared
//! in constant time (`hmac`'s `verify_slice`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    m.update(body);
    m
}

/// `sha256=` + lowercase hex HMAC (Facebook `X-Hub-Signature-256`, our form webhooks).
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// `sha256=` + base64 HMAC (X webhooks and CRC responses).
pub fn sign_base64(secret: &[u8], body: &[u8]) -> String {
    let digest = mac(secret, body).finalize().into_bytes();
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Checks a `sha256=<hex>` header value in constant time. Upper-case hex is accepted.
pub fn verify_hex(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    mac(secret, body).verify_slice(&sig).is_ok()
}

/// Checks a `sha256=<base64>` header value in constant time.
pub fn verify_base64(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig) else {
        return false;
    };
    mac(secret, body).verify_slice(&sig).is_ok()
}

/// The header Meta signs webhook deliveries with (Facebook Pages, WhatsApp).
pub const HUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether a presented secret (a verify token) is the expected one, in constant time:
/// the digests compared have the same length whatever was presented.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    mac(b"aduan-same-secret", presented)
        .verify_slice(&mac(b"aduan-same-secret", expected).finalize().into_bytes())
        .is_ok()
}

/// Meta's webhook subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=…
/// &hub.challenge=…`): the challenge echoed when the verify token is the configured one.
pub fn hub_handshake(
    req: &crate::WebhookRequest,
    verify_token: &str,
) -> Result<crate::PushReply, crate::PushError> {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("hub.mode") != Some("subscribe") {
        return Err(crate::PushError::BadRequest(
            "hub.mode must be subscribe".into(),
        ));
    }
    let token = get("hub.verify_token").unwrap_or("");
    if !same_secret(token.as_bytes(), verify_token.as_bytes()) {
        return Err(crate::PushError::Unauthorized(
            "wrong hub.verify_token".into(),
        ));
    }
    Ok(crate::PushReply::Respond {
        status: 200,
        content_type: "text/plain",
        body: bytes::Bytes::from(get("hub.challenge").unwrap_or("").to_owned()),
    })
}

/// A Meta webhook delivery (`POST`) is authentic: [`HUB_SIGNATURE_HEADER`] holds the
/// app secret's HMAC of the exact bytes received (Meta escapes non-ASCII as `\uXXXX`;
/// nothing is re-encoded here).
pub fn check_hub_signature(
    req: &crate::WebhookRequest,
    app_secret: &[u8],
) -> Result<(), crate::PushError> {
    let sig = req
        .header(HUB_SIGNATURE_HEADER)
        .ok_or_else(|| crate::PushError::Unauthorized(format!("no {HUB_SIGNATURE_HEADER}")))?;
    if verify_hex(app_secret, &req.body, sig) {
        Ok(())
    } else {
        Err(crate::PushError::Unauthorized(
            "the signature does not match".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"token-verifikasi", b"token-verifikasi"));
        assert!(!same_secret(b"token-verifikasi", b"token-verifikasI"));
        assert!(!same_secret(b"token", b"token-verifikasi"));
        assert!(!same_secret(b"", b"token"));
    }

    // RFC 4231 test case 2.
    #[test]
    fn rfc4231_vector() {
        let sig = sign_hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hex(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(verify_hex(
            b"Jefe",
            b"what do ya want for nothing?",
            &sig.to_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify_hex(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify_hex(b"jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify_hex(b"Jefe", b"x", "sha256=zz"));
        assert!(!verify_hex(b"Jefe", b"x", ""));
    }

    #[test]
    fn base64_roundtrip() {
        let sig = sign_base64(b"secret", b"body");
        assert!(verify_base64(b"secret", b"body", &sig));
        assert!(!verify_base64(b"secret", b"bodY", &sig));
        assert!(!verify_base64(b"secret", b"body", "sha256=!!"));
    }
}
