//! Downloading what a provider's payload links to (photos, attachments), with a size
//! cap that holds whether or not the server announces a length.

use bytes::Bytes;

/// `GET url` with `client`: the content type and the bytes, or why not (`what` names
/// the thing in the message). More than `max_bytes` is refused, by `Content-Length`
/// up front and while reading. Messages never carry the query string, where CDNs put
/// their signatures.
pub async fn download_capped(
    client: &reqwest::Client,
    what: &str,
    url: &str,
    max_bytes: usize,
) -> Result<(String, Bytes), String> {
    let shown = url.split('?').next().unwrap_or(url);
    let failed = |e: reqwest::Error| format!("{what} {shown}: {}", e.without_url());
    let too_big = || format!("{what} {shown}: larger than {max_bytes} bytes");
    let mut res = client.get(url).send().await.map_err(failed)?;
    if !res.status().is_success() {
        return Err(format!("{what} {shown}: {}", res.status()));
    }
    if res.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(too_big());
    }
    let ctype = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut buf = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(failed)? {
        if buf.len() + chunk.len() > max_bytes {
            return Err(too_big());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((ctype, Bytes::from(buf)))
}
