//! `POST /api/v1/reports` (JSON, multipart/form-data or urlencoded) and the public
//! status lookup `GET /api/v1/reports/{tracking_id}`.

use aduan_kit::{Batch, Delivery, Outcome, Raw};
use aduan_webform::{FieldError, FileUpload, ReportFields};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{AppState, Problem};
use crate::tracking::TrackingId;

/// A report as received, before validation.
pub(super) struct Received {
    pub fields: ReportFields,
    pub files: Vec<FileUpload>,
    pub raw: Raw,
}

pub(super) enum Submitted {
    Filed { tracking_id: String, status: String },
    Invalid(Vec<FieldError>, ReportFields),
}

pub(super) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether every name and value of a urlencoded body decodes to UTF-8. serde_urlencoded
/// decodes lossily, turning bytes that are not UTF-8 into U+FFFD: the citizen's text
/// would be filed altered, where the JSON path refuses it.
pub(super) fn urlencoded_is_utf8(body: &[u8]) -> bool {
    body.split(|b| *b == b'&')
        .all(|pair| percent_encoding::percent_decode(pair).decode_utf8().is_ok())
}

/// Reads a report in any of the accepted encodings, enforcing the body and file limits.
pub(super) async fn receive(st: &AppState, req: Request) -> Result<Received, Problem> {
    let headers = req.headers().clone();
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut received = match content_type(&headers).as_str() {
        "application/json" => {
            let body = Bytes::from_request(req, st).await.map_err(|e| Problem::new(e.status(), "body", e.body_text()))?;
            let text = std::str::from_utf8(&body)
                .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "encoding", "the body is not valid UTF-8"))?;
            let fields: ReportFields = serde_json::from_str(text)
                .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "json", format!("invalid JSON: {e}")))?;
            Received { fields, files: Vec::new(), raw: Raw { content_type: "application/json".into(), bytes: body } }
        }
        "multipart/form-data" => {
            let mp = Multipart::from_request(req, st).await.map_err(|e| Problem::new(e.status(), "multipart", e.body_text()))?;
            read_multipart(mp, st.form.max_file_bytes).await?
        }
        "application/x-www-form-urlencoded" => {
            let body = Bytes::from_request(req, st).await.map_err(|e| Problem::new(e.status(), "body", e.body_text()))?;
            if !urlencoded_is_utf8(&body) {
                return Err(Problem::new(StatusCode::BAD_REQUEST, "encoding", "the form data is not valid UTF-8"));
            }
            let fields: ReportFields = serde_urlencoded::from_bytes(&body)
                .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "form", format!("invalid form data: {e}")))?;
            Received { fields, files: Vec::new(), raw: Raw { content_type: "application/x-www-form-urlencoded".into(), bytes: body } }
        }
        other => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media-type",
                format!("content type {other:?} is not accepted; use application/json, multipart/form-data or application/x-www-form-urlencoded"),
            ))
        }
    };
    if received.fields.submission_id.is_none() {
        received.fields.submission_id = idempotency_key;
    }
    Ok(received)
}

async fn read_multipart(mut mp: Multipart, max_file_bytes: usize) -> Result<Received, Problem> {
    let mp_err = |e: axum::extract::multipart::MultipartError| {
        Problem::new(e.status(), "multipart", e.body_text())
    };
    let mut map = serde_json::Map::new();
    let mut files = Vec::new();
    let mut described = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(mp_err)? {
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(filename) = field.file_name().map(str::to_owned) {
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(mp_err)? {
                if buf.len() + chunk.len() > max_file_bytes {
                    return Err(Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "file-too-large",
                        format!("file {filename:?} is larger than {max_file_bytes} bytes"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            // A file input left empty arrives as a part with no name and no bytes.
            if filename.is_empty() && buf.is_empty() {
                continue;
            }
            described.push(json!({"field": name, "filename": filename, "size": buf.len()}));
            files.push(FileUpload {
                field: name,
                filename,
                bytes: buf.into(),
            });
        } else {
            let value = field.text().await.map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "encoding",
                    format!("field {name:?} is not valid UTF-8 text"),
                )
            })?;
            map.insert(name, Value::String(value));
        }
    }
    let raw = serde_json::to_vec(&json!({"fields": map, "files": described})).unwrap_or_default();
    let fields: ReportFields = serde_json::from_value(Value::Object(map)).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "form",
            format!("invalid form data: {e}"),
        )
    })?;
    Ok(Received {
        fields,
        files,
        raw: Raw {
            content_type: "application/vnd.aduan.form+json".into(),
            bytes: raw.into(),
        },
    })
}

/// Validates and commits a report through the public form channel.
pub(super) async fn submit(st: &AppState, r: Received) -> Result<Submitted, Problem> {
    submit_at(st, r, None).await
}

/// [`submit`], with the point (latitude, longitude) the report is about, when the
/// client gave one (Open311's `lat`/`long`).
pub(super) async fn submit_at(
    st: &AppState,
    r: Received,
    point: Option<(f64, f64)>,
) -> Result<Submitted, Problem> {
    let Some(channel) = st.channels.public_form.clone() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-form",
            "the web form is not enabled",
        ));
    };
    let mut report = match r.fields.validate(&st.form, r.files) {
        Ok(v) => v,
        Err(errors) => return Ok(Submitted::Invalid(errors, r.fields)),
    };
    if let Some((lat, lon)) = point {
        let location = report.draft.location.get_or_insert_with(Default::default);
        location.lat = Some(lat);
        location.lon = Some(lon);
    }
    let inbound = report.into_inbound(channel.clone(), r.raw);
    let (external_id, original) = (inbound.external_id.clone(), inbound.raw.bytes.clone());
    let deliveries = st
        .sink
        .ingest(Batch {
            items: vec![inbound],
            cursor: None,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "report not stored");
            Problem::internal()
        })?;
    match deliveries.into_iter().next() {
        Some(Delivery::Committed {
            tracking_id: Some(tracking_id),
            outcome,
        }) => {
            if outcome != Outcome::Created
                && !same_original(st, channel.as_str(), &external_id, &original).await?
            {
                // draft-ietf-httpapi-idempotency-key-header: a key reused with another
                // payload is refused, never answered with the first report's number.
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "this idempotency key was used for a different report",
                ));
            }
            let status = match outcome {
                Outcome::Created => "new".into(),
                // A retried submission: answer with where the complaint stands now.
                _ => match st.store.public_report(&tracking_id).await {
                    Ok(Some(r)) => r.status,
                    _ => "new".into(),
                },
            };
            Ok(Submitted::Filed {
                tracking_id,
                status,
            })
        }
        other => {
            tracing::error!(?other, "report not filed as a complaint");
            Err(Problem::internal())
        }
    }
}

async fn same_original(
    st: &AppState,
    channel_name: &str,
    external_id: &str,
    original: &[u8],
) -> Result<bool, Problem> {
    match st.store.complaint_original(channel_name, external_id).await {
        Ok(stored) => Ok(stored.as_deref() == Some(original)),
        Err(e) => {
            tracing::error!(error = %e, "idempotency check failed");
            Err(Problem::internal())
        }
    }
}

pub async fn create(State(st): State<AppState>, req: Request) -> Response {
    let received = match receive(&st, req).await {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    match submit(&st, received).await {
        Ok(Submitted::Filed {
            tracking_id,
            status,
        }) => {
            let status_url = st.status_url(&tracking_id);
            (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/api/v1/reports/{tracking_id}"))],
                Json(
                    json!({"tracking_id": tracking_id, "status": status, "status_url": status_url}),
                ),
            )
                .into_response()
        }
        Ok(Submitted::Invalid(errors, _)) => Problem::invalid(errors).into_response(),
        Err(p) => p.into_response(),
    }
}

pub async fn status(State(st): State<AppState>, Path(tracking_id): Path<String>) -> Response {
    let not_found = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no report with this tracking number",
        )
        .into_response()
    };
    let Ok(tid) = TrackingId::parse(&tracking_id) else {
        return not_found();
    };
    match st.store.public_report(tid.as_str()).await {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "status lookup failed");
            Problem::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::urlencoded_is_utf8;

    #[test]
    fn urlencoded_text_must_be_utf8() {
        assert!(urlencoded_is_utf8(
            b"title=Jalan+rusak&body=%E2%9C%93+di+Siak"
        ));
        assert!(urlencoded_is_utf8(b""));
        assert!(!urlencoded_is_utf8(b"title=%FF&body=ok"));
        assert!(!urlencoded_is_utf8(b"title=ok&body=%C3"));
        assert!(!urlencoded_is_utf8(b"ti%FEtle=ok"));
        assert!(!urlencoded_is_utf8(&[b't', b'=', 0xff]));
    }
}
