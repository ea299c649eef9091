//! Webhook signature checks shared by channels: HMAC-SHA256 over the raw body, compared
//! in constant time (`hmac`'s `verify_slice`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    mac_of_parts(secret, &[body])
}

/// The HMAC of `parts` taken in order as one message.
fn mac_of_parts(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    for p in parts {
        m.update(p);
    }
    m
}

/// Lowercase hex HMAC of `parts` taken in order as one message (a timestamp, a dot
/// and the body, for the signed webhooks the daemon sends).
pub fn sign_parts_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac_of_parts(secret, parts).finalize().into_bytes())
}

/// Whether `sig` (hex, either case) is the HMAC of `parts`, compared in constant time.
pub fn verify_parts_hex(secret: &[u8], parts: &[&[u8]], sig: &str) -> bool {
    let Ok(sig) = hex::decode(sig.trim()) else {
        return false;
    };
    mac_of_parts(secret, parts).verify_slice(&sig).is_ok()
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

/// Whether a shared secret (Telegram's `X-Telegram-Bot-Api-Secret-Token`, Meta's
/// `hub.verify_token`) is the configured one, in constant time: both are
/// put through the same HMAC, and the MACs compared with `verify_slice`, so neither the
/// length nor a common prefix shows in the time taken.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    const KEY: &[u8] = b"aduan shared-secret comparison";
    let want = mac(KEY, expected).finalize().into_bytes();
    mac(KEY, given).verify_slice(&want).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_secrets_match_only_whole() {
        assert!(same_secret(b"rahasia-bot", b"rahasia-bot"));
        assert!(!same_secret(b"rahasia-bo", b"rahasia-bot"));
        assert!(!same_secret(b"rahasia-bott", b"rahasia-bot"));
        assert!(!same_secret(b"", b"rahasia-bot"));
        assert!(!same_secret(b"token-verifikasi", b"token-verifikasI"));
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
