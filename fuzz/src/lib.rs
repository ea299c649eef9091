//! What the webhook targets share: a request as the daemon hands it to a push handler,
//! and what a correctly signed delivery must get.

use aduan_kit::{Inbound, PushHandler, PushReply, WebhookRequest};
use bytes::Bytes;

/// A webhook request; `signature` is the header carrying it and its value.
pub fn request(
    method: http::Method,
    query: Option<String>,
    signature: Option<(&'static str, String)>,
    body: &[u8],
) -> WebhookRequest {
    let mut headers = http::HeaderMap::new();
    if let Some((name, value)) = signature {
        headers.insert(
            name,
            http::HeaderValue::from_str(&value).expect("a signature is a valid header value"),
        );
    }
    WebhookRequest {
        method,
        query,
        headers,
        body: Bytes::copy_from_slice(body),
    }
}

/// `body` posted with a correct signature: it must be taken in, never refused or
/// answered like a handshake, whatever its bytes.
pub fn signed_delivery<H: PushHandler + ?Sized>(
    hook: &H,
    header: &'static str,
    signature: String,
    body: &[u8],
) -> Vec<Inbound> {
    let req = request(http::Method::POST, None, Some((header, signature)), body);
    match hook.handle(&req) {
        Ok(PushReply::Ingest(items)) => items,
        Ok(PushReply::Respond { .. }) => panic!("a delivery answered like a handshake"),
        Err(e) => panic!("a correctly signed delivery was refused: {e}"),
    }
}
