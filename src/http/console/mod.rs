//! The admin console under `/admin`: server-rendered pages (askama) for the people who
//! work the queue, in Indonesian by default with an English switch.
//!
//! Security, in one place:
//! * the session is the API's (`aduan_session`, HttpOnly, SameSite=Strict, Secure
//!   behind https); every state-changing request is a POST form carrying the session's
//!   CSRF token in a hidden `csrf` field, checked here before the form is read
//!   ([`Posted`]); the login form itself carries a double-submit token;
//! * every page has a Content-Security-Policy without inline script (`script-src
//!   'self'`, one small script served from the binary) and is never cached;
//! * askama escapes every value; complaint text is never marked safe;
//! * permissions come from the queue service (`plan`, `can_see`) and the same role
//!   checks as the JSON API; templates only hide what the server would refuse anyway.

mod dashboard;
mod detail;
mod health;
mod i18n;
mod login;
mod manage;
mod queue;
mod svg;

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use crate::queue::{Actor, QueueError, Refusal, Role};
use crate::store::StoreError;
pub use i18n::{Lang, Texts};

/// Where the console lives.
pub const BASE: &str = "/admin";
const LANG_COOKIE: &str = "aduan_lang";
const FLASH_COOKIE: &str = "aduan_flash";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/antrean") }))
        .route("/admin/", get(|| async { Redirect::to("/admin/antrean") }))
        .route("/admin/masuk", get(login::page).post(login::submit))
        .route("/admin/keluar", post(login::logout))
        .route("/admin/bahasa/{lang}", get(switch_language))
        .route("/admin/static/console.css", get(stylesheet))
        .route("/admin/static/console.js", get(script))
        .route("/admin/antrean", get(queue::page))
        .route("/admin/antrean/berikutnya", post(queue::next))
        .route("/admin/laporan/{tracking_id}", get(detail::page))
        .route("/admin/laporan/{tracking_id}/ambil", post(detail::claim))
        .route("/admin/laporan/{tracking_id}/lepas", post(detail::release))
        .route(
            "/admin/laporan/{tracking_id}/aksi/{action}",
            post(detail::act),
        )
        .route(
            "/admin/laporan/{tracking_id}/pratinjau",
            post(detail::preview),
        )
        .route(
            "/admin/laporan/{tracking_id}/lampiran/{index}",
            get(detail::attachment),
        )
        .route("/admin/laporan/{tracking_id}/asli", get(detail::raw))
        .route("/admin/unit", get(manage::units).post(manage::create_unit))
        .route(
            "/admin/pengguna",
            get(manage::users).post(manage::create_user),
        )
        .route(
            "/admin/pengguna/{username}/nonaktifkan",
            post(manage::disable_user),
        )
        .route(
            "/admin/libur",
            get(manage::holidays).post(manage::put_holiday),
        )
        .route("/admin/libur/{day}/hapus", post(manage::delete_holiday))
        .route(
            "/admin/kategori",
            get(manage::categories).post(manage::put_category),
        )
        .route(
            "/admin/kategori/{code}/hapus",
            post(manage::delete_category),
        )
        .route("/admin/kanal", get(health::page))
        .route("/admin/penerusan/{id}/ulang", post(health::retry_forward))
        .route("/admin/karantina", get(health::quarantine))
        .route("/admin/dasbor", get(dashboard::page))
        .route("/admin/{*rest}", get(not_found))
        .layer(axum::middleware::from_fn(clear_shown_flash))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// The value of cookie `name`, if sent.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::parse(cookie(headers, LANG_COOKIE).as_deref().unwrap_or("id"))
}

/// A message shown once on the next page (after a redirect).
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

fn take_flash(headers: &HeaderMap) -> Option<Flash> {
    let raw = cookie(headers, FLASH_COOKIE)?;
    let text = percent_decode(&raw);
    let (kind, text) = text.split_once(':')?;
    Some(Flash {
        ok: kind == "ok",
        text: text.to_owned(),
    })
}

fn percent_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Redirects (303, so the browser GETs) with a message for the next page.
pub fn redirect_with(to: &str, ok: bool, text: &str) -> Response {
    let value =
        serde_urlencoded::to_string([("v", format!("{}:{text}", if ok { "ok" } else { "err" }))])
            .unwrap_or_default();
    let value = value.strip_prefix("v=").unwrap_or_default();
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={value}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age=60"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// A flash message is shown by the first page that is not itself a redirect; that page
/// also removes it.
async fn clear_shown_flash(req: Request, next: axum::middleware::Next) -> Response {
    let had = cookie(req.headers(), FLASH_COOKIE).is_some();
    let mut res = next.run(req).await;
    if had && !res.status().is_redirection() {
        res.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "aduan_flash=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0",
            ),
        );
    }
    res
}

/// Who is signed in, as the page chrome shows them.
pub struct UserView {
    pub username: String,
    pub role: &'static str,
    pub unit: Option<String>,
    pub operator: bool,
    pub central: bool,
}

/// What every console page carries: texts, the user, the CSRF token, a flash message.
pub struct Chrome {
    pub t: &'static Texts,
    pub lang: Lang,
    pub user: Option<UserView>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The active menu entry.
    pub nav: &'static str,
    /// This page's path and query, for the language switch to come back to.
    pub here: String,
}

/// A signed-in staff member, from the session cookie. Pages without a session send the
/// browser to the login page and back.
pub struct Staff {
    pub actor: Actor,
    pub csrf: String,
    pub lang: Lang,
    pub flash: Option<Flash>,
    pub here: String,
}

impl Staff {
    pub fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    pub fn chrome(&self, nav: &'static str) -> Chrome {
        let a = &self.actor;
        Chrome {
            t: self.t(),
            lang: self.lang,
            user: Some(UserView {
                username: a.username.clone(),
                role: self.t().role(a.role),
                unit: a.unit.clone(),
                operator: a.role == Role::Operator,
                central: a.role.is_central(),
            }),
            csrf: self.csrf.clone(),
            flash: self.flash.as_ref().map(|f| Flash {
                ok: f.ok,
                text: f.text.clone(),
            }),
            nav,
            here: self.here.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let here = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| BASE.into())
        } else {
            page_of(parts.uri.path())
        };
        let lang = lang_of(&parts.headers);
        let to_login = || {
            let q = serde_urlencoded::to_string([("ke", &here)]).unwrap_or_default();
            Redirect::to(&format!("/admin/masuk?{q}")).into_response()
        };
        let Some(c) = cookie(&parts.headers, super::admin::SESSION_COOKIE) else {
            return Err(to_login());
        };
        match st.queue.store().actor_for_session(&c).await {
            Ok(Some((actor, csrf))) => Ok(Staff {
                actor,
                csrf,
                lang,
                flash: take_flash(&parts.headers),
                here,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(unavailable(lang, e)),
        }
    }
}

/// A POST form from a signed-in staff member whose `csrf` field matched the session's
/// token; `form` is the rest of the fields.
pub struct Posted<T> {
    pub staff: Staff,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let staff = Staff::from_request_parts(&mut parts, st).await?;
        let bytes = axum::body::to_bytes(body, st.max_request_bytes)
            .await
            .map_err(|_| error_page(&staff, StatusCode::PAYLOAD_TOO_LARGE, staff.t().too_large))?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(sent, staff.csrf.as_bytes())) {
            return Err(error_page(
                &staff,
                StatusCode::FORBIDDEN,
                staff.t().csrf_failed,
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            error_page(&staff, StatusCode::UNPROCESSABLE_ENTITY, staff.t().bad_form)
        })?;
        Ok(Posted { staff, form })
    }
}

pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Terjadi kesalahan / Something went wrong.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    c: Chrome,
    heading: &'static str,
    message: String,
}

pub fn error_page(staff: &Staff, status: StatusCode, message: &str) -> Response {
    let t = staff.t();
    let heading = match status {
        StatusCode::NOT_FOUND => t.not_found,
        StatusCode::FORBIDDEN => t.forbidden,
        _ => t.error,
    };
    render(
        status,
        &ErrorPage {
            c: staff.chrome(""),
            heading,
            message: message.to_owned(),
        },
    )
}

/// A refused or failed queue operation, as a page.
pub fn queue_error(staff: &Staff, e: QueueError) -> Response {
    let t = staff.t();
    match e {
        QueueError::Refused(Refusal::NotVisible) => {
            error_page(staff, StatusCode::NOT_FOUND, t.no_such_complaint)
        }
        QueueError::Refused(Refusal::Forbidden { .. }) => {
            error_page(staff, StatusCode::FORBIDDEN, t.not_allowed)
        }
        other => error_page(staff, StatusCode::CONFLICT, &queue_error_text(t, &other)),
    }
}

/// The reason an action did not happen, for a flash message.
pub fn queue_error_text(t: &Texts, e: &QueueError) -> String {
    match e {
        QueueError::Refused(Refusal::NotVisible) => t.no_such_complaint.into(),
        QueueError::Refused(Refusal::Forbidden { .. }) => t.not_allowed.into(),
        QueueError::Refused(Refusal::Conflict { .. }) => t.conflict.into(),
        QueueError::Refused(Refusal::Invalid(why))
        | QueueError::Store(StoreError::Invalid(why)) => {
            format!("{} ({why})", t.invalid)
        }
        QueueError::ClaimedByOther(who) => format!("{} {who}", t.claimed_by_other),
        QueueError::Store(e) => {
            tracing::error!(error = %e, "console queue operation failed");
            t.try_again.into()
        }
    }
}

fn unavailable(lang: Lang, e: StoreError) -> Response {
    tracing::error!(error = %e, "console session lookup failed");
    (StatusCode::SERVICE_UNAVAILABLE, lang.texts().try_again).into_response()
}

/// Only operators: anyone else gets the refusal page, as the API refuses them.
pub fn refuse_unless_operator(staff: &Staff) -> Option<Response> {
    if staff.actor.role == Role::Operator {
        None
    } else {
        Some(error_page(
            staff,
            StatusCode::FORBIDDEN,
            staff.t().operators_only,
        ))
    }
}

async fn not_found(staff: Staff) -> Response {
    error_page(&staff, StatusCode::NOT_FOUND, staff.t().no_such_page)
}

#[derive(serde::Deserialize)]
struct Back {
    ke: Option<String>,
}

/// Sets the language cookie and goes back to the page it came from (within the console).
async fn switch_language(
    axum::extract::Path(lang): axum::extract::Path<String>,
    axum::extract::Query(b): axum::extract::Query<Back>,
) -> Response {
    let lang = Lang::parse(&lang);
    let to = safe_return(b.ke.as_deref());
    let mut r = Redirect::to(&to).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The page a form was posted from, for links on the page that answers it (a form's
/// own address has no GET): the complaint for its actions, else the section.
fn page_of(path: &str) -> String {
    let mut seg = path.trim_start_matches('/').split('/').skip(1);
    match (seg.next(), seg.next()) {
        (Some("laporan"), Some(t)) => format!("{BASE}/laporan/{t}"),
        (Some("keluar") | None, _) => format!("{BASE}/antrean"),
        (Some(section), _) => format!("{BASE}/{section}"),
    }
}

/// A path inside the console to go back to; anything else (another site, `//host`)
/// becomes the queue.
pub fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p)
            if (p == BASE || p.starts_with("/admin/") || p.starts_with("/admin?"))
                && !p.contains("//")
                && !p.contains('\\') =>
        {
            p.to_owned()
        }
        _ => "/admin/antrean".into(),
    }
}

/// The console's stylesheet, then each registered kind's colours under its `ch-<kind>`
/// class: its name and icon in text, its bars in charts. The kinds' factories give the
/// colours; their compliance check keeps them to `#rgb` and `#rrggbb`, and the kinds'
/// names to letters, digits, `-` and `_`.
static STYLESHEET: LazyLock<String> = LazyLock::new(|| {
    let mut css = include_str!("../../../static/console.css").to_owned();
    for f in crate::registry::kinds() {
        let (kind, info) = (f.kind(), f.kind_info());
        css.push_str(&format!(
            ".ch-{kind}{{color:{}}}rect.ch-{kind}{{fill:{}}}\n",
            info.colour, info.chart_colour
        ));
    }
    css
});

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET.as_str(),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/console.js"),
    )
        .into_response()
}

/// Jakarta time for people (WIB, UTC+7, no daylight saving).
pub fn wib(t: chrono::DateTime<chrono::Utc>) -> String {
    match chrono::FixedOffset::east_opt(7 * 3600) {
        Some(offset) => t
            .with_timezone(&offset)
            .format("%d-%m-%Y %H:%M")
            .to_string(),
        None => t.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_stay_inside_the_console() {
        assert_eq!(
            safe_return(Some("/admin/laporan/ABCD")),
            "/admin/laporan/ABCD"
        );
        assert_eq!(
            safe_return(Some("/admin/antrean?q=x")),
            "/admin/antrean?q=x"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example/admin/",
            "/admin/..//x",
            "/adminx",
            "/admin/\\evil",
        ] {
            assert_eq!(safe_return(Some(evil)), "/admin/antrean", "{evil}");
        }
    }

    #[test]
    fn a_posted_form_is_answered_as_part_of_its_page() {
        assert_eq!(
            page_of("/admin/laporan/ABCD-EFGH/pratinjau"),
            "/admin/laporan/ABCD-EFGH"
        );
        assert_eq!(
            page_of("/admin/laporan/ABCD-EFGH/aksi/verify"),
            "/admin/laporan/ABCD-EFGH"
        );
        assert_eq!(
            page_of("/admin/pengguna/budi/nonaktifkan"),
            "/admin/pengguna"
        );
        assert_eq!(page_of("/admin/antrean/berikutnya"), "/admin/antrean");
        assert_eq!(page_of("/admin/keluar"), "/admin/antrean");
    }

    #[test]
    fn flash_messages_round_trip_through_the_cookie() {
        let r = redirect_with("/admin/antrean", false, "Tidak bisa: <b>; ok=1");
        let set = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let value = set.split(';').next().unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        let f = take_flash(&h).expect("flash");
        assert!(!f.ok);
        assert_eq!(f.text, "Tidak bisa: <b>; ok=1");
    }

    #[test]
    fn the_stylesheet_colours_every_registered_kind() {
        for f in crate::registry::kinds() {
            let (kind, info) = (f.kind(), f.kind_info());
            for rule in [
                format!(".ch-{kind}{{color:{}}}", info.colour),
                format!("rect.ch-{kind}{{fill:{}}}", info.chart_colour),
            ] {
                assert!(STYLESHEET.contains(&rule), "{rule} missing");
            }
        }
        assert!(STYLESHEET.starts_with(include_str!("../../../static/console.css")));
    }
}
