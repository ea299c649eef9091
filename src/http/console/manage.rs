//! The operators' tables: units and their members, users, the holiday calendar and the
//! categories. Reading units is open to every role (as in the API); every change, and
//! the users page, is for operators only.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{error_page, redirect_with, refuse_unless_operator, render, Chrome, Posted, Staff};
use crate::http::AppState;
use crate::queue::people::{Category, NewUser, Unit, User};
use crate::queue::Role;
use crate::store::StoreError;

fn store_failed(staff: &Staff, e: StoreError) -> Response {
    tracing::error!(error = %e, "console table read failed");
    error_page(staff, StatusCode::SERVICE_UNAVAILABLE, staff.t().try_again)
}

fn saved_or(back: &str, t: &super::Texts, r: Result<(), StoreError>) -> Response {
    match r {
        Ok(()) => redirect_with(back, true, t.done),
        Err(StoreError::Invalid(why)) => {
            redirect_with(back, false, &format!("{} ({why})", t.invalid))
        }
        Err(e) => {
            tracing::error!(error = %e, "console table change failed");
            redirect_with(back, false, t.try_again)
        }
    }
}

pub struct UnitView {
    pub unit: Unit,
    pub members: Vec<UserRow>,
}

/// A user with their role in words.
pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role_label: &'static str,
    pub unit: Option<String>,
    pub active: bool,
}

fn user_row(t: &super::Texts, u: &User) -> UserRow {
    UserRow {
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        role_label: Role::parse(&u.role).map(|r| t.role(r)).unwrap_or("—"),
        unit: u.unit.clone(),
        active: u.active,
    }
}

#[derive(Template)]
#[template(path = "console/units.html")]
struct UnitsPage {
    c: Chrome,
    units: Vec<UnitView>,
    operator: bool,
}

pub async fn units(State(st): State<AppState>, staff: Staff) -> Response {
    let store = st.queue.store();
    let units = match store.units().await {
        Ok(u) => u,
        Err(e) => return store_failed(&staff, e),
    };
    // Members are people's names and addresses: operators see them, others their own
    // unit's.
    let users = match store.users().await {
        Ok(u) => u,
        Err(e) => return store_failed(&staff, e),
    };
    let operator = staff.actor.role == Role::Operator;
    let units = units
        .into_iter()
        .map(|unit| UnitView {
            members: users
                .iter()
                .filter(|u| u.unit.as_deref() == Some(unit.code.as_str()))
                .filter(|_| operator || staff.actor.unit.as_deref() == Some(unit.code.as_str()))
                .map(|u| user_row(staff.t(), u))
                .collect(),
            unit,
        })
        .collect();
    render(
        StatusCode::OK,
        &UnitsPage {
            c: staff.chrome("units"),
            units,
            operator,
        },
    )
}

#[derive(Deserialize)]
pub struct UnitForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
}

pub async fn create_unit(State(st): State<AppState>, p: Posted<UnitForm>) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let r = st
        .queue
        .store()
        .create_unit(p.form.code.trim(), p.form.name.trim())
        .await
        .map(|_| ());
    saved_or("/admin/unit", p.staff.t(), r)
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserRow>,
    units: Vec<Unit>,
    roles: Vec<(&'static str, &'static str)>,
    token: Option<(String, String)>,
}

async fn users_page(st: &AppState, staff: &Staff, token: Option<(String, String)>) -> Response {
    if let Some(r) = refuse_unless_operator(staff) {
        return r;
    }
    let store = st.queue.store();
    let (users, units) = match (store.users().await, store.units().await) {
        (Ok(u), Ok(n)) => (u, n),
        (Err(e), _) | (_, Err(e)) => return store_failed(staff, e),
    };
    let t = staff.t();
    render(
        if token.is_some() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &UsersPage {
            c: staff.chrome("users"),
            users: users.iter().map(|u| user_row(t, u)).collect(),
            units,
            roles: Role::ALL.iter().map(|r| (r.as_str(), t.role(*r))).collect(),
            token,
        },
    )
}

pub async fn users(State(st): State<AppState>, staff: Staff) -> Response {
    users_page(&st, &staff, None).await
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    password: String,
}

/// Creates a user; the page shows the new API token once (it is not stored readable).
pub async fn create_user(State(st): State<AppState>, p: Posted<UserForm>) -> Response {
    let staff = &p.staff;
    if let Some(r) = refuse_unless_operator(staff) {
        return r;
    }
    let t = staff.t();
    let f = &p.form;
    let Some(role) = Role::parse(&f.role) else {
        return redirect_with("/admin/pengguna", false, t.invalid);
    };
    fn opt(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    let store = st.queue.store();
    let created = store
        .create_user(&NewUser {
            username: f.username.trim(),
            display_name: f.display_name.trim(),
            email: opt(&f.email),
            role,
            unit: opt(&f.unit),
            password: opt(&f.password),
        })
        .await;
    let user = match created {
        Ok(u) => u,
        Err(e) => return saved_or("/admin/pengguna", t, Err(e)),
    };
    match store
        .issue_token(&user.username, "created in the console")
        .await
    {
        Ok(tok) => users_page(&st, staff, Some((user.username, tok.token))).await,
        Err(e) => saved_or("/admin/pengguna", t, Err(e)),
    }
}

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn disable_user(
    State(st): State<AppState>,
    Path(username): Path<String>,
    p: Posted<NoFields>,
) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let r = st
        .queue
        .store()
        .set_user_active(&username, false)
        .await
        .map(|_| ());
    saved_or("/admin/pengguna", p.staff.t(), r)
}

pub struct HolidayView {
    pub day: String,
    pub name: String,
    pub kind: &'static str,
}

#[derive(Template)]
#[template(path = "console/holidays.html")]
struct HolidaysPage {
    c: Chrome,
    holidays: Vec<HolidayView>,
    operator: bool,
}

pub async fn holidays(State(st): State<AppState>, staff: Staff) -> Response {
    let t = staff.t();
    let list = match st.queue.store().holidays().await {
        Ok(h) => h,
        Err(e) => return store_failed(&staff, e),
    };
    render(
        StatusCode::OK,
        &HolidaysPage {
            c: staff.chrome("holidays"),
            holidays: list
                .into_iter()
                .map(|h| HolidayView {
                    day: h.date.to_string(),
                    name: h.name,
                    kind: if h.kind.as_str() == "cuti_bersama" {
                        t.cuti_bersama
                    } else {
                        t.libur
                    },
                })
                .collect(),
            operator: staff.actor.role == Role::Operator,
        },
    )
}

#[derive(Deserialize)]
pub struct HolidayForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

pub async fn put_holiday(State(st): State<AppState>, p: Posted<HolidayForm>) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let f = &p.form;
    let r = st
        .queue
        .store()
        .put_holiday(f.day.trim(), &f.name, &f.kind)
        .await;
    saved_or("/admin/libur", p.staff.t(), r)
}

pub async fn delete_holiday(
    State(st): State<AppState>,
    Path(day): Path<String>,
    p: Posted<NoFields>,
) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let r = st.queue.store().delete_holiday(&day).await.map(|_| ());
    saved_or("/admin/libur", p.staff.t(), r)
}

#[derive(Template)]
#[template(path = "console/categories.html")]
struct CategoriesPage {
    c: Chrome,
    categories: Vec<Category>,
    operator: bool,
}

pub async fn categories(State(st): State<AppState>, staff: Staff) -> Response {
    let list = match st.queue.store().categories().await {
        Ok(c) => c,
        Err(e) => return store_failed(&staff, e),
    };
    render(
        StatusCode::OK,
        &CategoriesPage {
            c: staff.chrome("categories"),
            categories: list,
            operator: staff.actor.role == Role::Operator,
        },
    )
}

#[derive(Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent: String,
}

pub async fn put_category(State(st): State<AppState>, p: Posted<CategoryForm>) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let f = &p.form;
    let c = Category {
        code: f.code.trim().to_owned(),
        name: f.name.trim().to_owned(),
        parent: Some(f.parent.trim().to_owned()).filter(|p| !p.is_empty()),
    };
    let r = st.queue.store().put_category(&c).await;
    saved_or("/admin/kategori", p.staff.t(), r)
}

pub async fn delete_category(
    State(st): State<AppState>,
    Path(code): Path<String>,
    p: Posted<NoFields>,
) -> Response {
    if let Some(r) = refuse_unless_operator(&p.staff) {
        return r;
    }
    let r = st.queue.store().delete_category(&code).await.map(|_| ());
    saved_or("/admin/kategori", p.staff.t(), r)
}
