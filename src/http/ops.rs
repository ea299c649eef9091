use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;

use super::{AppState, Problem};
use crate::store::StoreError;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// How long readiness waits for the database: a probe (a load balancer's, an
/// orchestrator's) gives up after a few seconds and must hear "not ready" before then.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Ready when the database answers within [`READY_WITHIN`] and every migration is
/// applied. The reason given is a fixed word; the error itself goes to the log, since
/// this answer is public.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let reason = match tokio::time::timeout(READY_WITHIN, st.store.ready()).await {
        Ok(Ok(())) => return Json(json!({"status": "ready"})).into_response(),
        Ok(Err(StoreError::Invalid(e))) => {
            tracing::warn!(error = %e, "not ready");
            "migrations_pending"
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database refused");
            "database_unavailable"
        }
        Err(_) => {
            tracing::warn!(within = ?READY_WITHIN, "not ready: the database did not answer");
            "database_timeout"
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not_ready", "reason": reason})),
    )
        .into_response()
}

pub async fn metrics(State(st): State<AppState>) -> Response {
    for (name, kind, h) in st.health.iter() {
        let s = h.snapshot();
        metrics::gauge!("aduan_channel_healthy", "channel" => name.to_string(), "kind" => kind)
            .set(if s.healthy { 1.0 } else { 0.0 });
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path().starts_with("/webhooks/") {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "no such resource").into_response()
    } else {
        super::form::not_found_page()
    }
}
