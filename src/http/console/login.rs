//! Logging in and out. The login form has no session yet, so its CSRF token is a
//! double-submit one: a random value in a SameSite=Strict cookie and in the form, which a
//! cross-site page can neither read nor set.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use rand::RngCore;
use serde::Deserialize;

use super::{cookie, lang_of, redirect_with, render, safe_return, Chrome, Posted};
use crate::http::admin::SESSION_COOKIE;
use crate::http::AppState;

const LOGIN_COOKIE: &str = "aduan_login";
const SESSION_TTL: i64 = 8 * 3600;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    token: String,
    back: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    ke: Option<String>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn login_page(
    headers: &HeaderMap,
    status: StatusCode,
    back: String,
    username: String,
    error: Option<String>,
) -> Response {
    let lang = lang_of(headers);
    let token = random_token();
    let mut r = render(
        status,
        &LoginPage {
            c: Chrome {
                t: lang.texts(),
                lang,
                user: None,
                csrf: String::new(),
                flash: super::take_flash(headers),
                nav: "login",
                here: "/admin/masuk".into(),
            },
            token: token.clone(),
            back,
            username,
            error,
        },
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/admin/masuk; HttpOnly; SameSite=Strict; Max-Age=3600"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    login_page(
        &headers,
        StatusCode::OK,
        safe_return(q.ke.as_deref()),
        String::new(),
        None,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    ke: Option<String>,
}

pub async fn submit(
    State(st): State<AppState>,
    crate::http::client_addr::ClientAddr(client): crate::http::client_addr::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let t = lang_of(&headers).texts();
    let back = safe_return(f.ke.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            f.token.as_bytes(),
            expected.as_bytes(),
        ))
    {
        return login_page(
            &headers,
            StatusCode::FORBIDDEN,
            back,
            f.username,
            Some(t.login_expired.into()),
        );
    }
    if let Err(spent) = st.login_throttle.attempt(client, &f.username) {
        let wait = spent.wait;
        let mut r = login_page(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            back,
            f.username,
            Some(format!(
                "{} {} {}.",
                t.login_throttled,
                wait.as_secs().max(1),
                t.seconds
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    match st
        .queue
        .store()
        .open_session(f.username.trim(), &f.password, SESSION_TTL)
        .await
    {
        Ok(Some(s)) => {
            let secure = if st.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let mut r = Redirect::to(&back).into_response();
            for c in [
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL}{secure}",
                    s.cookie
                ),
                format!("{LOGIN_COOKIE}=; Path=/admin/masuk; HttpOnly; SameSite=Strict; Max-Age=0"),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Ok(None) => login_page(
            &headers,
            StatusCode::UNAUTHORIZED,
            back,
            f.username,
            Some(t.login_failed.into()),
        ),
        Err(e) => {
            tracing::error!(error = %e, "console login failed");
            login_page(
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                back,
                f.username,
                Some(t.try_again.into()),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    p: Posted<Nothing>,
) -> Response {
    if let Some(c) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = st.queue.store().close_session(&c).await {
            tracing::error!(error = %e, "console logout failed");
        }
    }
    let mut r = redirect_with("/admin/masuk", true, p.staff.t().logged_out);
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("aduan_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}
