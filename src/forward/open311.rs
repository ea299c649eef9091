//! The Open311 client forwarder: files a new complaint into another GeoReport v2
//! endpoint (`POST requests.json`) and keeps the `service_request_id` it answers (or
//! its `token`, for an endpoint that assigns ids later).

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{describe, Forwarder, SendError};
use crate::store::ComplaintRecord;

/// Largest answer read from the endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
struct Filed {
    service_request_id: Option<serde_json::Value>,
    token: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Open311Error {
    #[serde(default)]
    description: String,
}

fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The form fields a complaint is filed with.
fn fields(f: &Forwarder, c: &ComplaintRecord) -> Result<Vec<(&'static str, String)>, SendError> {
    let cfg = &f.cfg;
    let service_code = c
        .category
        .as_ref()
        .and_then(|cat| cfg.service_codes.get(cat).cloned())
        .or_else(|| cfg.default_service_code.clone())
        .or_else(|| c.category.clone())
        .ok_or_else(|| {
            SendError::permanent("the complaint has no category and no default_service_code is set")
        })?;
    let mut out = vec![
        ("service_code", service_code),
        ("description", format!("{}\n\n{}", c.title, c.body)),
    ];
    if let Some(key) = &cfg.api_key {
        out.push(("api_key", key.expose_secret().to_owned()));
    }
    if let Some(j) = &cfg.jurisdiction_id {
        out.push(("jurisdiction_id", j.clone()));
    }
    if let Some(loc) = &c.location {
        if let (Some(lat), Some(lon)) = (loc.lat, loc.lon) {
            out.push(("lat", lat.to_string()));
            out.push(("long", lon.to_string()));
        }
        if let Some(t) = &loc.text {
            out.push(("address_string", t.clone()));
        }
    }
    if !out
        .iter()
        .any(|(k, _)| *k == "lat" || *k == "address_string")
    {
        // The specification asks for a location; a complaint without one names its
        // district through its tracking number's page instead.
        out.push(("address_string", "(tidak disebutkan)".into()));
    }
    if cfg.include_reporter && !c.anonymous {
        if let Some(r) = &c.reporter {
            if let Some(e) = &r.email {
                out.push(("email", e.clone()));
            }
            if let Some(p) = &r.phone {
                out.push(("phone", p.clone()));
            }
            if let Some(n) = &r.name {
                let (first, last) = n.trim().split_once(' ').unwrap_or((n.trim(), ""));
                out.push(("first_name", first.to_owned()));
                if !last.is_empty() {
                    out.push(("last_name", last.trim().to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// Files `c`; returns the other system's id for it.
pub(super) async fn file(f: &Forwarder, c: &ComplaintRecord) -> Result<String, SendError> {
    let url = f.url("/requests.json")?;
    let form = fields(f, c)?;
    let mut res = f
        .client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| SendError::transient(describe(e)))?;
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| SendError::transient(describe(e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(SendError::permanent("the endpoint's answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    if !res.status().is_success() {
        let detail = serde_json::from_slice::<Vec<Open311Error>>(&body)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|e| e.description.chars().take(300).collect::<String>())
            .unwrap_or_default();
        return Err(SendError::from_status(&res, &detail));
    }
    let filed: Vec<Filed> = serde_json::from_slice(&body).map_err(|e| {
        SendError::permanent(format!("the endpoint's answer is not an Open311 list: {e}"))
    })?;
    let first = filed
        .into_iter()
        .next()
        .ok_or_else(|| SendError::permanent("the endpoint answered an empty list"))?;
    if let Some(id) = first.service_request_id.as_ref().and_then(text_of) {
        return Ok(id);
    }
    if let Some(token) = first.token.as_ref().and_then(text_of) {
        return Ok(format!("token:{token}"));
    }
    Err(SendError::permanent(
        "the endpoint answered neither a service_request_id nor a token",
    ))
}
