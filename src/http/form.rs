//! The citizen pages: the report form (`GET /`, `POST /`), the success page, the status
//! lookup and the status page. Server-rendered, no JavaScript; every value escaped by
//! the templates.

use aduan_webform::fields::Category;
use aduan_webform::{FieldError, FormRules, ReportFields};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::reports::{self, receive, Submitted};
use super::AppState;
use crate::store::{status_label, PublicReport};
use crate::tracking::TrackingId;

#[derive(Default)]
struct FieldView {
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage<'a> {
    submission_id: String,
    categories: &'a [Category],
    max_title: usize,
    max_files: usize,
    max_file_mb: usize,
    errors: Vec<FieldError>,
    title: FieldView,
    body: FieldView,
    category: FieldView,
    location: FieldView,
    occurred_on: FieldView,
    name: FieldView,
    email: FieldView,
    phone: FieldView,
    attachments_error: Option<String>,
    anonymous: bool,
    confidential: bool,
}

impl<'a> FormPage<'a> {
    fn new(rules: &'a FormRules, values: ReportFields, errors: Vec<FieldError>) -> Self {
        let view = |field: &str, v: &Option<String>| FieldView {
            value: v.clone().unwrap_or_default(),
            error: errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone()),
        };
        let attachments_error = {
            let msgs: Vec<_> = errors
                .iter()
                .filter(|e| e.field == "attachments")
                .map(|e| e.message.as_str())
                .collect();
            (!msgs.is_empty()).then(|| msgs.join(" "))
        };
        Self {
            submission_id: values
                .submission_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            categories: &rules.categories,
            max_title: rules.max_title_chars,
            max_files: rules.max_files,
            max_file_mb: rules.max_file_bytes / (1024 * 1024),
            title: view("title", &values.title),
            body: view("body", &values.body),
            category: view("category", &values.category),
            location: view("location", &values.location),
            occurred_on: view("occurred_on", &values.occurred_on),
            name: view("name", &values.name),
            email: view("email", &values.email),
            phone: view("phone", &values.phone),
            attachments_error,
            anonymous: values.anonymous,
            confidential: values.confidential,
            errors,
        }
    }
}

#[derive(Template)]
#[template(path = "submitted.html")]
struct SubmittedPage {
    tracking_id: String,
    status_label: &'static str,
    status_path: String,
    status_url: String,
}

struct UpdateView {
    at: String,
    label: Option<&'static str>,
    text: Option<String>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    report: PublicReport,
    received: String,
    updates: Vec<UpdateView>,
}

#[derive(Template)]
#[template(path = "lookup.html")]
struct LookupPage {
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    message: String,
}

fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Terjadi kesalahan.").into_response()
        }
    }
}

/// Jakarta time for people (WIB, UTC+7, no daylight saving).
fn wib(t: chrono::DateTime<chrono::Utc>) -> String {
    match chrono::FixedOffset::east_opt(7 * 3600) {
        Some(offset) => t
            .with_timezone(&offset)
            .format("%d-%m-%Y %H:%M WIB")
            .to_string(),
        None => t.to_rfc3339(),
    }
}

pub fn not_found_page() -> Response {
    render(
        StatusCode::NOT_FOUND,
        &NotFoundPage {
            message: "Alamat yang Anda buka tidak ada.".into(),
        },
    )
}

/// A page with one message for the citizen (a refusal, a limit).
pub fn message_page(status: StatusCode, message: String) -> Response {
    render(status, &NotFoundPage { message })
}

pub async fn show(State(st): State<AppState>) -> Response {
    if st.channels.public_form.is_none() {
        return not_found_page();
    }
    render(
        StatusCode::OK,
        &FormPage::new(&st.form, ReportFields::default(), Vec::new()),
    )
}

pub async fn submit_form(st: &AppState, req: Request) -> Response {
    let received = match receive(st, req).await {
        Ok(r) => r,
        Err(p) => {
            let msg = match p.status {
                413 => format!(
                    "Ukuran kiriman terlalu besar. {}",
                    p.detail.unwrap_or_default()
                ),
                _ => "Kiriman tidak dapat dibaca. Silakan coba lagi.".into(),
            };
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            return render(status, &NotFoundPage { message: msg });
        }
    };
    match reports::submit(st, received).await {
        Ok(Submitted::Filed {
            tracking_id,
            status,
        }) => render(
            StatusCode::OK,
            &SubmittedPage {
                status_label: status_label(&status),
                status_path: format!("/laporan/{tracking_id}"),
                status_url: st.status_url(&tracking_id),
                tracking_id,
            },
        ),
        Ok(Submitted::Invalid(errors, values)) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage::new(&st.form, values, errors),
        ),
        Err(p) if p.status == 422 => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NotFoundPage {
                message: "Formulir ini sudah terkirim dengan isi yang lain. Buka formulir baru \
                          untuk mengirim laporan lain."
                    .into(),
            },
        ),
        Err(p) => render(
            StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &NotFoundPage {
                message: "Laporan belum tersimpan karena gangguan sistem. Silakan kirim ulang."
                    .into(),
            },
        ),
    }
}

pub async fn submit(State(st): State<AppState>, req: Request) -> Response {
    submit_form(&st, req).await
}

#[derive(Deserialize)]
pub struct LookupQuery {
    nomor: Option<String>,
}

pub async fn lookup(Query(q): Query<LookupQuery>) -> Response {
    match q.nomor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => render(
            StatusCode::OK,
            &LookupPage {
                value: String::new(),
                error: None,
            },
        ),
        Some(n) => match TrackingId::parse(n) {
            Ok(t) => Redirect::to(&format!("/laporan/{t}")).into_response(),
            Err(_) => render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &LookupPage {
                    value: n.to_owned(),
                    error: Some("Nomor laporan tidak valid. Periksa kembali 8 karakternya.".into()),
                },
            ),
        },
    }
}

pub async fn status_page(State(st): State<AppState>, Path(tracking_id): Path<String>) -> Response {
    let missing = || {
        render(
            StatusCode::NOT_FOUND,
            &NotFoundPage {
                message: "Laporan dengan nomor ini tidak ditemukan.".into(),
            },
        )
    };
    let Ok(tid) = TrackingId::parse(&tracking_id) else {
        return missing();
    };
    if tid.as_str() != tracking_id {
        return Redirect::permanent(&format!("/laporan/{tid}")).into_response();
    }
    match st.store.public_report(tid.as_str()).await {
        Ok(Some(report)) => {
            let updates = report
                .updates
                .iter()
                .map(|u| UpdateView {
                    at: wib(u.at),
                    label: u.status_label,
                    text: u.text.clone(),
                })
                .collect();
            render(
                StatusCode::OK,
                &StatusPage {
                    received: wib(report.received_at),
                    updates,
                    report,
                },
            )
        }
        Ok(None) => missing(),
        Err(e) => {
            tracing::error!(error = %e, "status page failed");
            render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &NotFoundPage {
                    message: "Gangguan sistem. Coba lagi nanti.".into(),
                },
            )
        }
    }
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/aduan.css"),
    )
        .into_response()
}
