//! The HTTP server: the citizen form and status pages, the reports API, webhooks, the
//! admin API and console, and the operational endpoints.

mod admin;
pub mod client_addr;
pub mod console;
pub mod download;
mod form;
mod measure;
mod open311;
mod ops;
mod problem;
pub mod rate_limit;
mod reports;
pub(crate) mod serde_time;
pub mod serve;
pub mod throttle;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use aduan_webform::FormRules;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::registry::Channels;
use crate::store::{Store, StoreSink};
use crate::supervisor::ChannelHealth;

pub use open311::Settings as Open311Settings;
pub use problem::Problem;

/// What every handler can reach. axum clones a handler's state for every request: one
/// reference count here, not one for each pool, cache and channel inside (about thirty,
/// each a cache line the two cores hand back and forth).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// The parts of [`AppState`].
pub struct AppParts {
    pub store: Store,
    pub sink: StoreSink,
    pub channels: Arc<Channels>,
    pub health: ChannelHealth,
    pub form: Arc<FormRules>,
    pub public_url: Arc<str>,
    pub max_request_bytes: usize,
    pub metrics: PrometheusHandle,
    pub queue: crate::queue::Queue,
    /// Password guesses per account, for the API's and the console's login alike.
    pub login_throttle: Arc<throttle::LoginThrottle>,
    /// The Open311 endpoints, when enabled.
    pub open311: Option<open311::Settings>,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl AppParts {
    pub fn status_url(&self, tracking_id: &str) -> String {
        format!(
            "{}/laporan/{tracking_id}",
            self.public_url.trim_end_matches('/')
        )
    }
}

/// How the router is built, beyond the state.
pub struct RouterOptions {
    /// A request taking longer is answered 408.
    pub request_timeout: Duration,
    /// `/metrics` is served on a listener of its own ([`metrics_router`]), not here.
    pub metrics_apart: bool,
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// Browsers are told to use https only (`public_url` is https).
    pub hsts: bool,
}

/// `Strict-Transport-Security`: a year, this host only (other hosts of the domain may
/// not all have https).
const HSTS: &str = "max-age=31536000";

pub fn router(state: AppState, opts: &RouterOptions) -> Router {
    let limit = state.max_request_bytes;
    // The public doors draw on per-address allowances (a route layer: other methods on
    // the same path, and unknown ones, are not counted).
    let door = |door| {
        axum::middleware::from_fn_with_state((opts.rate_limits.clone(), door), rate_limit::limit)
    };
    let (submit, lookup, session) = (
        rate_limit::Door::Submit,
        rate_limit::Door::Lookup,
        rate_limit::Door::Session,
    );
    let hsts = opts.hsts.then(|| HeaderValue::from_static(HSTS));
    let mut metrics = Router::new();
    if !opts.metrics_apart {
        metrics = metrics.route("/metrics", get(ops::metrics));
    }
    let mut open311 = Router::new();
    if state.open311.is_some() {
        open311 = open311
            .route(
                "/open311/v2/{file}",
                get(open311::get_root)
                    .route_layer(door(lookup))
                    .merge(post(open311::post_requests).route_layer(door(submit))),
            )
            .route(
                "/open311/v2/{collection}/{file}",
                get(open311::get_one).route_layer(door(lookup)),
            );
    }
    Router::new()
        .route("/", get(form::show).merge(post(form::submit).route_layer(door(submit))))
        .route("/laporan", get(form::lookup).route_layer(door(lookup)))
        .route("/laporan/{tracking_id}", get(form::status_page).route_layer(door(lookup)))
        .route("/static/aduan.css", get(form::stylesheet))
        .route("/api/v1/reports", post(reports::create).route_layer(door(submit)))
        .route("/api/v1/reports/{tracking_id}", get(reports::status).route_layer(door(lookup)))
        .route("/api/v1/openapi.json", get(admin::openapi))
        .route("/api/v1/session", post(admin::login).route_layer(door(session)).delete(admin::logout))
        .route("/api/v1/complaints", get(admin::list))
        .route("/api/v1/complaints/next", post(admin::next))
        .route("/api/v1/complaints/{tracking_id}", get(admin::show))
        .route("/api/v1/complaints/{tracking_id}/attachments/{sha256}", get(admin::attachment))
        .route("/api/v1/complaints/{tracking_id}/claim", post(admin::claim).delete(admin::release))
        .route("/api/v1/complaints/{tracking_id}/{action}", post(admin::act))
        .route("/api/v1/units", get(admin::units).post(admin::create_unit))
        .route("/api/v1/users", get(admin::users).post(admin::create_user))
        .route("/api/v1/holidays", get(admin::holidays).put(admin::put_holiday))
        .route("/api/v1/holidays/{day}", axum::routing::delete(admin::delete_holiday))
        .route("/api/v1/categories", get(admin::categories).put(admin::put_category))
        .route("/api/v1/categories/{code}", axum::routing::delete(admin::delete_category))
        .route("/api/v1/channels", get(admin::channels))
        .route("/api/v1/forwards", get(admin::forwards))
        .route("/api/v1/forwards/{id}/retry", post(admin::retry_forward))
        .route("/webhooks/{channel}", get(webhooks::handle).post(webhooks::handle))
        .merge(console::router())
        .merge(open311)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(metrics)
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(measure::RequestMetrics::default()),
            measure::record_request,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, opts.request_timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, move |_: &axum::response::Response| hsts.clone()))
        .with_state(state)
}

/// `/metrics` alone, for `http.metrics_listen`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .with_state(state)
}
