//! Files staff download (attachments, raw originals), for the console and the admin API
//! alike: whatever a citizen sent is served so that it can never run as a page of this
//! site.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// `bytes` as a download named `filename` (or shown inline, for a raster image the
/// caller has checked), sandboxed and never cached by a shared cache.
pub fn download(bytes: Vec<u8>, content_type: &str, filename: &str, inline: bool) -> Response {
    // RFC 6266: an ASCII fallback and the UTF-8 name, percent-encoded.
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = serde_urlencoded::to_string([("n", filename)])
        .unwrap_or_default()
        .trim_start_matches("n=")
        .replace('+', "%20");
    let disposition = format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    );
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // Whatever the file holds, it never runs as a page of this site.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}
