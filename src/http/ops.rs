use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{AppState, Problem};

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and every migration is applied.
pub async fn readyz(State(st): State<AppState>) -> Response {
    match st.store.ready().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": e.to_string()})),
        )
            .into_response(),
    }
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
