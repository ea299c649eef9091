//! Open311 GeoReport v2 under `/open311/v2/`: the categories as services, filing a
//! request (through the web form's channel, with its validation and idempotency), and
//! the public list and lookup of requests. JSON, or XML when the path ends in `.xml`,
//! as the specification asks; errors in its format (`[{"code", "description"}]`).
//!
//! What is public here is what the public status page shows: status, title, category,
//! the work unit and the public answers. Reporters, bodies and locations are never
//! read back, and rahasia complaints are not listed.

use aduan_kit::Raw;
use aduan_webform::ReportFields;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::reports::{content_type, submit_at, urlencoded_is_utf8, Received, Submitted};
use super::{AppState, Problem};
use crate::store::{PublicListFilter, PublicListed};
use crate::tracking::TrackingId;

/// What the Open311 endpoints need beyond the shared state.
pub struct Settings {
    pub api_key: Option<SecretString>,
}

/// The specification's default and widest window for the list, and its page size.
const DEFAULT_WINDOW_DAYS: i64 = 90;
const MAX_RESULTS: i64 = 1000;
/// Open311 has no title; one is made from the description's first line.
const TITLE_CHARS: usize = 80;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Json,
    Xml,
}

/// `services.json` → (`services`, JSON). `None` for any other extension.
fn split_format(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".json") {
        Some((stem, Format::Json))
    } else {
        file.strip_suffix(".xml").map(|stem| (stem, Format::Xml))
    }
}

#[derive(Serialize)]
struct ErrorItem {
    code: u16,
    description: String,
}

#[derive(Serialize)]
struct Errors {
    error: Vec<ErrorItem>,
}

fn error(format: Format, status: StatusCode, description: impl Into<String>) -> Response {
    let item = ErrorItem {
        code: status.as_u16(),
        description: description.into(),
    };
    match format {
        Format::Json => (status, axum::Json(vec![item])).into_response(),
        Format::Xml => xml(status, "errors", &Errors { error: vec![item] }),
    }
}

fn xml<T: Serialize>(status: StatusCode, root: &str, value: &T) -> Response {
    match quick_xml::se::to_string_with_root(root, value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{body}"),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Open311 XML not written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A list in either format: a JSON array, or `<root><item>…</item>…</root>`.
fn list<T: Serialize>(format: Format, root: &'static str, items: Vec<T>) -> Response {
    #[derive(Serialize)]
    struct Wrapped<T> {
        #[serde(rename = "$value")]
        items: Vec<Item<T>>,
    }
    #[derive(Serialize)]
    enum Item<T> {
        #[serde(rename = "service")]
        Service(T),
        #[serde(rename = "request")]
        Request(T),
    }
    match format {
        Format::Json => axum::Json(items).into_response(),
        Format::Xml => {
            let items = items
                .into_iter()
                .map(|i| {
                    if root == "services" {
                        Item::Service(i)
                    } else {
                        Item::Request(i)
                    }
                })
                .collect();
            xml(StatusCode::OK, root, &Wrapped { items })
        }
    }
}

#[derive(Serialize)]
struct Service {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    keywords: String,
    group: String,
}

#[derive(Serialize)]
struct ServiceRequest {
    service_request_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_code: Option<String>,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    agency_responsible: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_datetime: Option<String>,
}

#[derive(Serialize)]
struct Filed {
    service_request_id: String,
    service_notice: String,
    account_id: Option<String>,
}

fn w3c(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn request_view(st: &AppState, c: PublicListed) -> ServiceRequest {
    let closed = crate::store::CLOSED_STATUSES.contains(&c.status.as_str());
    let service_name = c.category.as_deref().and_then(|code| {
        st.form
            .categories
            .iter()
            .find(|k| k.slug == code)
            .map(|k| k.label.clone())
    });
    ServiceRequest {
        status_notes: c
            .latest_answer
            .or_else(|| Some(crate::store::status_label(&c.status).to_owned())),
        service_request_id: c.tracking_id,
        status: if closed { "closed" } else { "open" },
        service_name,
        service_code: c.category,
        description: c.title,
        agency_responsible: c.unit_name,
        requested_datetime: w3c(c.received_at),
        updated_datetime: w3c(c.updated_at),
        expected_datetime: c.due_at.map(w3c),
    }
}

/// `GET /open311/v2/{services|requests}.{json|xml}`.
pub async fn get_root(
    State(st): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<ListParams>,
) -> Response {
    match split_format(&file) {
        Some(("services", f)) => services(&st, f),
        Some(("requests", f)) => requests(&st, f, q).await,
        Some((_, f)) => error(f, StatusCode::NOT_FOUND, "no such resource"),
        None => error(Format::Json, StatusCode::NOT_FOUND, "no such resource"),
    }
}

fn services(st: &AppState, format: Format) -> Response {
    let items = st
        .form
        .categories
        .iter()
        .map(|c| Service {
            service_code: c.slug.clone(),
            service_name: c.label.clone(),
            description: c.label.clone(),
            metadata: false,
            kind: "realtime",
            keywords: String::new(),
            group: String::new(),
        })
        .collect();
    list(format, "services", items)
}

/// The list's filters, as the specification names them.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    service_request_id: Option<String>,
    service_code: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
}

/// A W3C date-time, or a date (its start, UTC).
fn parse_when(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

async fn requests(st: &AppState, format: Format, q: ListParams) -> Response {
    let bad = |what: &str| error(format, StatusCode::BAD_REQUEST, what.to_owned());
    let when = |v: &Option<String>, name: &str| match v {
        None => Ok(None),
        Some(s) => parse_when(s).map(Some).ok_or_else(|| {
            format!("{name} is not a W3C date-time such as 2026-12-01T00:00:00+07:00")
        }),
    };
    let (start, end) = match (
        when(&q.start_date, "start_date"),
        when(&q.end_date, "end_date"),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad(&m),
    };
    let window = TimeDelta::days(DEFAULT_WINDOW_DAYS);
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + window),
        (None, Some(e)) => (e - window, e),
        (None, None) => {
            let now = Utc::now() + TimeDelta::seconds(1);
            (now - window, now)
        }
    };
    if end < start {
        return bad("end_date is before start_date");
    }
    let closed = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("open") => Some(false),
        Some("closed") => Some(true),
        Some(_) => return bad("status is open or closed"),
    };
    let tracking_ids: Vec<String> = q
        .service_request_id
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter_map(|s| TrackingId::parse(s.trim()).ok())
        .map(|t| t.as_str().to_owned())
        .take(MAX_RESULTS as usize)
        .collect();
    if q.service_request_id
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
        && tracking_ids.is_empty()
    {
        return list::<ServiceRequest>(format, "service_requests", Vec::new());
    }
    // A single request asked for by id is found whatever its date.
    let (start, end) = if tracking_ids.is_empty() {
        (start, end)
    } else {
        (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
    };
    let filter = PublicListFilter {
        start,
        end,
        closed,
        category: q.service_code.filter(|s| !s.trim().is_empty()),
        tracking_ids,
        limit: MAX_RESULTS,
    };
    match read_requests(st, format, &filter).await {
        Ok(found) => list(format, "service_requests", found),
        Err(res) => res,
    }
}

/// The requests `filter` selects, as the public sees them; an error response when the
/// store cannot be read.
async fn read_requests(
    st: &AppState,
    format: Format,
    filter: &PublicListFilter,
) -> Result<Vec<ServiceRequest>, Response> {
    match st.store.public_list(filter).await {
        Ok(rows) => Ok(rows.into_iter().map(|c| request_view(st, c)).collect()),
        Err(e) => {
            tracing::error!(error = %e, "Open311 read failed");
            Err(error(
                format,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the requests could not be read; try again",
            ))
        }
    }
}

/// `GET /open311/v2/requests/{id}.{json|xml}`: the one request, in a list as the
/// specification has it; `services/{code}.json` says there are no service definitions.
pub async fn get_one(
    State(st): State<AppState>,
    Path((collection, file)): Path<(String, String)>,
) -> Response {
    let Some((id, format)) = split_format(&file) else {
        return error(Format::Json, StatusCode::NOT_FOUND, "no such resource");
    };
    match collection.as_str() {
        "requests" => {}
        "services" => {
            return error(
                format,
                StatusCode::NOT_FOUND,
                "no service has a definition: every service's metadata is false",
            )
        }
        _ => return error(format, StatusCode::NOT_FOUND, "no such resource"),
    }
    let not_found = || error(format, StatusCode::NOT_FOUND, "no request with this id");
    let Ok(tid) = TrackingId::parse(id) else {
        return not_found();
    };
    let filter = PublicListFilter {
        start: DateTime::<Utc>::MIN_UTC,
        end: DateTime::<Utc>::MAX_UTC,
        closed: None,
        category: None,
        tracking_ids: vec![tid.as_str().to_owned()],
        limit: 1,
    };
    match read_requests(&st, format, &filter).await {
        Ok(found) if found.is_empty() => not_found(),
        Ok(found) => list(format, "service_requests", found),
        Err(res) => res,
    }
}

/// The fields of `POST requests`, as the specification names them; others (`attribute[…]`,
/// `device_id`, `jurisdiction_id`) are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
struct NewRequest {
    api_key: Option<String>,
    service_code: Option<String>,
    description: Option<String>,
    lat: Option<String>,
    long: Option<String>,
    address_string: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    media_url: Option<String>,
}

/// A title from the description: its first line, cut at a word within `TITLE_CHARS`.
fn title_of(description: &str) -> String {
    let line = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= TITLE_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(TITLE_CHARS - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > TITLE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

fn coordinate(v: &Option<String>, name: &str, limit: f64) -> Result<Option<f64>, String> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() <= limit)
            .map(Some)
            .ok_or_else(|| format!("{name} is not a number between -{limit} and {limit}")),
    }
}

/// The form body without `api_key`: it is stored as the complaint's original, and a key
/// must not end up where staff read originals.
fn without_api_key(body: &[u8]) -> Bytes {
    let is_key = |pair: &&[u8]| {
        let name = pair.split(|b| *b == b'=').next().unwrap_or_default();
        let name: Vec<u8> = name
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&name).collect::<Vec<u8>>() == b"api_key"
    };
    let kept: Vec<&[u8]> = body.split(|b| *b == b'&').filter(|p| !is_key(p)).collect();
    Bytes::from(kept.join(&b'&'))
}

/// `POST /open311/v2/requests.{json|xml}` (form-encoded).
pub async fn post_requests(
    State(st): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let format = match split_format(&file) {
        Some(("requests", f)) => f,
        Some((_, f)) => return error(f, StatusCode::NOT_FOUND, "no such resource"),
        None => return error(Format::Json, StatusCode::NOT_FOUND, "no such resource"),
    };
    let bad = |what: String| error(format, StatusCode::BAD_REQUEST, what);
    if content_type(&headers) != "application/x-www-form-urlencoded" {
        return bad("send the request as application/x-www-form-urlencoded".into());
    }
    if !urlencoded_is_utf8(&body) {
        return bad("the form data is not valid UTF-8".into());
    }
    let r: NewRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("invalid form data: {e}")),
    };
    if let Some(expected) = st.open311.as_ref().and_then(|s| s.api_key.as_ref()) {
        let sent = r.api_key.as_deref().unwrap_or("");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            expected.expose_secret().as_bytes(),
        )) {
            return error(
                format,
                StatusCode::FORBIDDEN,
                "api_key is missing or not valid",
            );
        }
    }
    let Some(code) = r
        .service_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return bad("service_code is required".into());
    };
    if !st.form.categories.iter().any(|c| c.slug == code) {
        return error(
            format,
            StatusCode::NOT_FOUND,
            format!("no service with service_code {code:?}"),
        );
    }
    let description = r.description.as_deref().map(str::trim).unwrap_or("");
    if description.is_empty() {
        return bad("description is required".into());
    }
    let (lat, lon) = match (
        coordinate(&r.lat, "lat", 90.0),
        coordinate(&r.long, "long", 180.0),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(m), _) | (_, Err(m)) => return bad(m),
    };
    let point = match (lat, lon) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => return bad("lat and long go together".into()),
    };
    let address = r
        .address_string
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if point.is_none() && address.is_none() {
        return bad("a location is required: lat and long, or address_string".into());
    }
    let mut body_text = description.to_owned();
    if let Some(url) = r
        .media_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        // Kept as a link for staff, never fetched: fetching a caller's URL would let
        // anyone make the server reach any address.
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                body_text.push_str(&format!("\n\nMedia: {u}"));
            }
            _ => return bad("media_url is not an http(s) URL".into()),
        }
    }
    let name = [r.first_name.as_deref(), r.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let location = address
        .map(str::to_owned)
        .or_else(|| point.map(|(a, b)| format!("{a}, {b}")));
    let fields = ReportFields {
        title: Some(title_of(description)),
        body: Some(body_text),
        category: Some(code.to_owned()),
        location,
        name: Some(name).filter(|n| !n.is_empty()),
        email: r.email.filter(|s| !s.trim().is_empty()),
        phone: r.phone.filter(|s| !s.trim().is_empty()),
        submission_id: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ..ReportFields::default()
    };
    let received = Received {
        fields,
        files: Vec::new(),
        raw: Raw {
            content_type: "application/x-www-form-urlencoded".into(),
            bytes: without_api_key(&body),
        },
    };
    match submit_at(&st, received, point).await {
        Ok(Submitted::Filed { tracking_id, .. }) => {
            let notice = format!(
                "Laporan diterima dengan nomor {tracking_id}. Pantau statusnya di {}",
                st.status_url(&tracking_id)
            );
            list(
                format,
                "service_requests",
                vec![Filed {
                    service_request_id: tracking_id,
                    service_notice: notice,
                    account_id: None,
                }],
            )
        }
        Ok(Submitted::Invalid(errors, _)) => bad(errors
            .iter()
            .map(|e| format!("{}: {}", open311_field(&e.field), e.message))
            .collect::<Vec<_>>()
            .join("; ")),
        Err(p) => problem(format, p),
    }
}

/// The Open311 name of a form field, for error messages.
fn open311_field(field: &str) -> &str {
    match field {
        "title" | "body" => "description",
        "category" => "service_code",
        "location" => "address_string",
        "name" => "first_name/last_name",
        other => other,
    }
}

fn problem(format: Format, p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(format, status, p.detail.unwrap_or(p.title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            split_format("services.json"),
            Some(("services", Format::Json))
        );
        assert_eq!(
            split_format("requests.xml"),
            Some(("requests", Format::Xml))
        );
        assert_eq!(split_format("requests"), None);
        assert_eq!(split_format("requests.html"), None);
    }

    #[test]
    fn titles_are_the_first_line_cut_at_a_word() {
        assert_eq!(
            title_of("\n  Lampu jalan mati\nsudah seminggu"),
            "Lampu jalan mati"
        );
        let long = "Jalan rusak parah ".repeat(10);
        let t = title_of(&long);
        assert!(t.chars().count() <= TITLE_CHARS, "{t}");
        assert!(t.ends_with('…'));
        assert!(!t.contains("  "));
    }

    #[test]
    fn the_api_key_is_not_kept_in_the_original() {
        let kept =
            without_api_key(b"service_code=air&api_key=rahasia&description=x&api_key&api%5Fkey=k");
        assert_eq!(&kept[..], b"service_code=air&description=x");
    }

    #[test]
    fn coordinates_are_checked() {
        assert_eq!(
            coordinate(&Some("0.75".into()), "lat", 90.0),
            Ok(Some(0.75))
        );
        assert!(coordinate(&Some("91".into()), "lat", 90.0).is_err());
        assert!(coordinate(&Some("NaN".into()), "long", 180.0).is_err());
        assert_eq!(coordinate(&None, "lat", 90.0), Ok(None));
    }

    #[test]
    fn dates_are_w3c_or_plain_days() {
        assert!(parse_when("2026-12-01T00:00:00+07:00").is_some());
        assert!(parse_when("2026-12-01").is_some());
        assert!(parse_when("kemarin").is_none());
    }
}
