//! The admin API under `/api/v1/`: the queue, its workflow actions, and the operator's
//! tables (units, users, holidays). Every call carries `Authorization: Bearer TOKEN`;
//! errors are `application/problem+json` (RFC 9457). The OpenAPI document is generated
//! from these handlers at `/api/v1/openapi.json`.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use super::{AppState, Problem};
use crate::queue::people::{Category, NewUser, Unit, User};
use crate::queue::{
    ActionKind, ActionRequest, Actor, ListQuery, Page, QueueError, QueueItem, Refusal, Role,
};
use crate::store::StoreError;

/// The authenticated caller.
pub struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let Some(token) = token {
            return match st.queue.actor_for_token(token).await {
                Ok(Some(actor)) => Ok(Admin(actor)),
                Ok(None) => Err(unauthorized(
                    "the token is unknown, revoked, or its user disabled",
                )),
                Err(e) => Err(unavailable(e)),
            };
        }
        // The console: a session cookie, and for anything that changes state the
        // session's CSRF token in X-CSRF-Token (a cross-site form cannot set a header).
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(unauthorized("send Authorization: Bearer TOKEN, or log in"));
        };
        match st.queue.store().actor_for_session(&cookie).await {
            Ok(Some((actor, csrf))) => {
                if !parts.method.is_safe() {
                    let sent = parts
                        .headers
                        .get("x-csrf-token")
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    if !bool::from(subtle::ConstantTimeEq::ct_eq(sent, csrf.as_bytes())) {
                        return Err(Problem::new(
                            StatusCode::FORBIDDEN,
                            "csrf",
                            "send the session's CSRF token in X-CSRF-Token",
                        )
                        .into_response());
                    }
                }
                Ok(Admin(actor))
            }
            Ok(None) => Err(unauthorized("the session has ended; log in again")),
            Err(e) => Err(unavailable(e)),
        }
    }
}

pub const SESSION_COOKIE: &str = "aduan_session";

fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "credential lookup failed");
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again").into_response()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub username: String,
    pub role: &'static str,
    pub unit: Option<String>,
    /// Echo in `X-CSRF-Token` on every POST, PUT and DELETE made with the cookie.
    pub csrf_token: String,
}

/// Logs in with a password (argon2) and sets the session cookie (HttpOnly,
/// SameSite=Strict, Secure behind https), valid for 8 hours. Attempts per username are
/// throttled (429 with Retry-After), shared with the console's login form.
#[utoipa::path(post, path = "/api/v1/session", request_body = LoginBody,
    responses((status = 200, body = SessionInfo), (status = 401), (status = 429)))]
pub async fn login(
    State(st): State<AppState>,
    crate::http::client_addr::ClientAddr(client): crate::http::client_addr::ClientAddr,
    Json(b): Json<LoginBody>,
) -> Response {
    const TTL: i64 = 8 * 3600;
    if let Err(spent) = st.login_throttle.attempt(client, &b.username) {
        let mut r = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many login attempts; try again later",
        )
        .into_response();
        if let Ok(v) = header::HeaderValue::from_str(&spent.wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    match st
        .queue
        .store()
        .open_session(&b.username, &b.password, TTL)
        .await
    {
        Ok(Some(s)) => {
            let secure = if st.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={TTL}{secure}",
                s.cookie
            );
            let mut r = Json(SessionInfo {
                username: s.actor.username,
                role: s.actor.role.as_str(),
                unit: s.actor.unit,
                csrf_token: s.csrf_token,
            })
            .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Ok(None) => unauthorized("wrong username or password"),
        Err(e) => unavailable(e),
    }
}

/// Ends the session.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204)))]
pub async fn logout(
    State(st): State<AppState>,
    Admin(_): Admin,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(c) = session_cookie(&headers) {
        if let Err(e) = st.queue.store().close_session(&c).await {
            return unavailable(e);
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "aduan_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

fn unauthorized(detail: &str) -> Response {
    let mut r = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"aduan\""),
    );
    r
}

fn forbidden(what: &str) -> Response {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("only an operator may {what}"),
    )
    .into_response()
}

impl IntoResponse for QueueError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            QueueError::Refused(Refusal::NotVisible) => (StatusCode::NOT_FOUND, "not-found"),
            QueueError::Refused(Refusal::Forbidden { .. }) => (StatusCode::FORBIDDEN, "forbidden"),
            QueueError::Refused(Refusal::Conflict { .. }) => {
                (StatusCode::CONFLICT, "invalid-transition")
            }
            QueueError::Refused(Refusal::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            QueueError::ClaimedByOther(_) => (StatusCode::CONFLICT, "claimed"),
            QueueError::Store(StoreError::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            QueueError::Store(e) => {
                tracing::error!(error = %e, "queue operation failed");
                return Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the operation failed; try again",
                )
                .into_response();
            }
        };
        Problem::new(status, code, self.to_string()).into_response()
    }
}

fn store_error(e: StoreError) -> Response {
    QueueError::Store(e).into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ShowQuery {
    /// `identity`: show who filed an anonymous complaint (operators and coordinators;
    /// the view is audited).
    pub reveal: Option<String>,
}

/// The queue in the caller's scope, oldest first.
#[utoipa::path(get, path = "/api/v1/complaints", params(ListQuery),
    responses((status = 200, body = Page), (status = 401), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Admin(a): Admin,
    Query(q): Query<ListQuery>,
) -> Response {
    match st.queue.list(&a, &q).await {
        // About 650 bytes of JSON per complaint without its thread.
        Ok(p) => json_sized(&p, 512 + p.items.len() * 1024),
        Err(e) => e.into_response(),
    }
}

/// `value` as a JSON response, written into a buffer of `capacity` bytes to begin with.
/// axum's `Json` starts from 128 bytes and doubles: for a page of 50 complaints (about
/// 32 KB) that is nine reallocations, each copying what was written so far.
fn json_sized(value: &impl Serialize, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a response could not be written as JSON");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the response could not be written",
            )
            .into_response()
        }
    }
}

/// One complaint with its whole thread in time order.
#[utoipa::path(get, path = "/api/v1/complaints/{tracking_id}", params(("tracking_id" = String, Path), ShowQuery),
    responses((status = 200, body = QueueItem), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path(t): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let reveal = q.reveal.as_deref() == Some("identity");
    match st.queue.show(&a, &t, reveal).await {
        Ok(i) => Json(i).into_response(),
        Err(e) => e.into_response(),
    }
}

/// One attachment of a complaint, by the SHA-256 of its content (as `show` lists it),
/// with the same role and unit scoping as the complaint. Always a download, sandboxed.
#[utoipa::path(get, path = "/api/v1/complaints/{tracking_id}/attachments/{sha256}",
    params(("tracking_id" = String, Path), ("sha256" = String, Path, description = "lowercase hex SHA-256 of the content")),
    responses((status = 200, description = "the file, as application/octet-stream with Content-Disposition: attachment", content_type = "application/octet-stream", body = Vec<u8>), (status = 404)),
    security(("bearer" = [])))]
pub async fn attachment(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path((t, sha256)): Path<(String, String)>,
) -> Response {
    match st.queue.attachment_by_digest(&a, &t, &sha256).await {
        Ok((meta, bytes)) => crate::http::download::download(
            bytes,
            "application/octet-stream",
            &meta.filename,
            false,
        ),
        Err(e) => e.into_response(),
    }
}

/// Claims the complaint (or renews the caller's claim) for the lease period.
#[utoipa::path(post, path = "/api/v1/complaints/{tracking_id}/claim", params(("tracking_id" = String, Path)),
    responses((status = 200, body = QueueItem), (status = 409)), security(("bearer" = [])))]
pub async fn claim(State(st): State<AppState>, Admin(a): Admin, Path(t): Path<String>) -> Response {
    match st.queue.claim(&a, &t).await {
        Ok(i) => Json(i).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Releases the caller's claim.
#[utoipa::path(delete, path = "/api/v1/complaints/{tracking_id}/claim", params(("tracking_id" = String, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn release(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path(t): Path<String>,
) -> Response {
    match st.queue.release(&a, &t).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Claims the oldest unclaimed complaint waiting for the caller; 204 when none is.
#[utoipa::path(post, path = "/api/v1/complaints/next",
    responses((status = 200, body = QueueItem), (status = 204)), security(("bearer" = [])))]
pub async fn next(State(st): State<AppState>, Admin(a): Admin) -> Response {
    match st.queue.next(&a).await {
        Ok(Some(i)) => Json(i).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A workflow action: `verify`, `forward`, `hold`, `resume`, `not_authority`, `archive`,
/// `reject`, `merge`, `answer`, `approve`, `return`, `close`.
#[utoipa::path(post, path = "/api/v1/complaints/{tracking_id}/{action}",
    params(("tracking_id" = String, Path), ("action" = String, Path)), request_body = ActionRequest,
    responses((status = 200, body = QueueItem), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn act(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path((t, action)): Path<(String, String)>,
    body: Option<Json<ActionRequest>>,
) -> Response {
    let Some(kind) = ActionKind::parse(&action).filter(|k| *k != ActionKind::Reopen) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no action {action:?}"),
        )
        .into_response();
    };
    let req = body.map(|Json(b)| b).unwrap_or_default();
    match st.queue.act(&a, &t, kind, &req).await {
        Ok(acted) => match acted.item {
            Some(i) => Json(i).into_response(),
            None => {
                Json(serde_json::json!({"tracking_id": acted.tracking_id, "status": acted.status}))
                    .into_response()
            }
        },
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/units", responses((status = 200, body = [Unit])), security(("bearer" = [])))]
pub async fn units(State(st): State<AppState>, Admin(_): Admin) -> Response {
    match st.queue.store().units().await {
        Ok(u) => Json(u).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUnitBody {
    pub code: String,
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/units", request_body = NewUnitBody,
    responses((status = 201, body = Unit), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_unit(
    State(st): State<AppState>,
    Admin(a): Admin,
    Json(b): Json<NewUnitBody>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("manage units");
    }
    match st.queue.store().create_unit(&b.code, &b.name).await {
        Ok(u) => (StatusCode::CREATED, Json(u)).into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [User]), (status = 403)), security(("bearer" = [])))]
pub async fn users(State(st): State<AppState>, Admin(a): Admin) -> Response {
    if a.role != Role::Operator {
        return forbidden("list users");
    }
    match st.queue.store().users().await {
        Ok(u) => Json(u).into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUserBody {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `operator`, `coordinator`, `unit_admin` or `liaison`.
    pub role: String,
    pub unit: Option<String>,
    /// At least 12 characters; omit for an API-only account.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewUserResponse {
    pub user: User,
    /// The API token, shown this once.
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/users", request_body = NewUserBody,
    responses((status = 201, body = NewUserResponse), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_user(
    State(st): State<AppState>,
    Admin(a): Admin,
    Json(b): Json<NewUserBody>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("manage users");
    }
    let Some(role) = Role::parse(&b.role) else {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "role: one of operator, coordinator, unit_admin, liaison",
        )
        .into_response();
    };
    let store = st.queue.store();
    let user = match store
        .create_user(&NewUser {
            username: &b.username,
            display_name: &b.display_name,
            email: b.email.as_deref(),
            role,
            unit: b.unit.as_deref(),
            password: b.password.as_deref(),
        })
        .await
    {
        Ok(u) => u,
        Err(e) => return store_error(e),
    };
    match store
        .issue_token(&user.username, "created with the user")
        .await
    {
        Ok(t) => (
            StatusCode::CREATED,
            Json(NewUserResponse {
                user,
                token: t.token,
            }),
        )
            .into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HolidayBody {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub name: String,
    /// `libur` or `cuti_bersama`.
    pub kind: String,
}

#[utoipa::path(get, path = "/api/v1/holidays", responses((status = 200, body = [HolidayBody])), security(("bearer" = [])))]
pub async fn holidays(State(st): State<AppState>, Admin(_): Admin) -> Response {
    match st.queue.store().holidays().await {
        Ok(h) => Json(
            h.into_iter()
                .map(|h| HolidayBody {
                    day: h.date.to_string(),
                    name: h.name,
                    kind: h.kind.as_str().into(),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(put, path = "/api/v1/holidays", request_body = HolidayBody,
    responses((status = 204), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn put_holiday(
    State(st): State<AppState>,
    Admin(a): Admin,
    Json(b): Json<HolidayBody>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("edit the holiday calendar");
    }
    match st.queue.store().put_holiday(&b.day, &b.name, &b.kind).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(delete, path = "/api/v1/holidays/{day}", params(("day" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete_holiday(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path(day): Path<String>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("edit the holiday calendar");
    }
    match st.queue.store().delete_holiday(&day).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no holiday on {day}"),
        )
        .into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(get, path = "/api/v1/categories", responses((status = 200, body = [Category])), security(("bearer" = [])))]
pub async fn categories(State(st): State<AppState>, Admin(_): Admin) -> Response {
    match st.queue.store().categories().await {
        Ok(c) => Json(c).into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(put, path = "/api/v1/categories", request_body = Category,
    responses((status = 204), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn put_category(
    State(st): State<AppState>,
    Admin(a): Admin,
    Json(c): Json<Category>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("edit categories");
    }
    match st.queue.store().put_category(&c).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(e),
    }
}

#[utoipa::path(delete, path = "/api/v1/categories/{code}", params(("code" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn delete_category(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path(code): Path<String>,
) -> Response {
    if a.role != Role::Operator {
        return forbidden("edit categories");
    }
    match st.queue.store().delete_category(&code).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no category {code:?}"),
        )
        .into_response(),
        Err(e) => store_error(e),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelStatus {
    pub name: String,
    pub kind: String,
    pub healthy: bool,
    pub status: String,
    pub last_error: Option<String>,
    pub restarts: u64,
    /// The instance (`[instance] id`) whose lease on this pull channel is live: the one
    /// polling it. `null` for a channel that does not poll, or while nobody holds it.
    pub lease_holder: Option<String>,
    /// Whether `lease_holder` is the instance that answered.
    pub leased_here: bool,
}

/// Each channel's health (operators and coordinators).
#[utoipa::path(get, path = "/api/v1/channels", responses((status = 200, body = [ChannelStatus])), security(("bearer" = [])))]
pub async fn channels(State(st): State<AppState>, Admin(a): Admin) -> Response {
    if !a.role.is_central() {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "operators and coordinators only",
        )
        .into_response();
    }
    let holders = st.store.lease_holders().await;
    Json(
        st.health
            .iter()
            .map(|(n, k, h)| {
                let s = h.snapshot();
                let lease_holder = holders.get(n.as_str()).cloned();
                ChannelStatus {
                    name: n.to_string(),
                    kind: k.into(),
                    healthy: s.healthy,
                    status: s.status.into(),
                    last_error: s.last_error,
                    restarts: s.restarts,
                    leased_here: lease_holder.as_deref() == Some(st.health.instance()),
                    lease_holder,
                }
            })
            .collect::<Vec<_>>(),
    )
    .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ForwardsQuery {
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: Option<String>,
    pub forwarder: Option<String>,
    pub tracking_id: Option<String>,
    /// At most 500; 100 by default.
    pub limit: Option<i64>,
}

/// Deliveries to other systems (`[[forwarders]]`), newest first (operators and
/// coordinators): what was sent, what is waiting, what failed and why.
#[utoipa::path(get, path = "/api/v1/forwards", params(ForwardsQuery),
    responses((status = 200, body = [crate::store::ForwardRow]), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn forwards(
    State(st): State<AppState>,
    Admin(a): Admin,
    Query(q): Query<ForwardsQuery>,
) -> Response {
    if !a.role.is_central() {
        return forbidden("see the forwarders' deliveries");
    }
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => match crate::store::ForwardStatus::parse(s) {
            Some(v) => Some(v),
            None => {
                return Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-filter",
                    "status is one of pending, sending, sent, failed",
                )
                .into_response()
            }
        },
    };
    let filter = crate::store::ForwardFilter {
        status,
        forwarder: q.forwarder.filter(|f| !f.is_empty()),
        tracking_id: q.tracking_id.filter(|t| !t.is_empty()),
        limit: q.limit.unwrap_or(100),
    };
    match st.store.forwards(&filter).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => store_error(e),
    }
}

/// Puts a failed delivery back in line, its attempts counted afresh (operators and
/// coordinators), once what made it fail is mended.
#[utoipa::path(post, path = "/api/v1/forwards/{id}/retry",
    responses((status = 202), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn retry_forward(
    State(st): State<AppState>,
    Admin(a): Admin,
    Path(id): Path<i64>,
) -> Response {
    if !a.role.is_central() {
        return forbidden("retry the forwarders' deliveries");
    }
    match st.store.retry_forward(id).await {
        Ok(true) => {
            tracing::info!(forward_id = id, actor = %a.username, "forwarding: failed delivery put back in line");
            StatusCode::ACCEPTED.into_response()
        }
        Ok(false) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no failed delivery {id}"),
        )
        .into_response(),
        Err(e) => store_error(e),
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "aduan admin API", description = "The complaint queue (SP4N-LAPOR! workflow). Errors are application/problem+json (RFC 9457)."),
    paths(login, logout, list, show, attachment, claim, release, next, act, units, create_unit, users, create_user, holidays, put_holiday, delete_holiday, categories, put_category, delete_category, channels, forwards, retry_forward),
    components(schemas(Category, LoginBody, SessionInfo, Page, QueueItem, crate::queue::DeliveryState, ActionRequest, Unit, User, NewUnitBody, NewUserBody, NewUserResponse, HolidayBody, ChannelStatus, crate::store::ForwardRow, crate::store::ForwardKind, crate::store::ForwardStatus)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
