//! `GET|POST /webhooks/{channel}`: routes the raw request to the channel's push handler
//! and answers 2xx only after what it carried is committed.

use aduan_kit::{Batch, Delivery, PushError, PushReply, WebhookRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{AppState, Problem};

pub async fn handle(
    State(st): State<AppState>,
    Path(channel): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(push) = st.channels.get(&channel).and_then(|c| c.push.clone()) else {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no webhook channel with this name",
        )
        .into_response();
    };
    let req = WebhookRequest {
        method,
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    let items = match push.handle(&req) {
        Ok(PushReply::Respond {
            status,
            content_type,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        Ok(PushReply::Ingest(items)) => items,
        Err(PushError::Unauthorized(reason)) => {
            tracing::warn!(channel = %channel, %reason, "webhook refused");
            metrics::counter!("aduan_webhook_refused_total", "channel" => channel).increment(1);
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "signature",
                "signature missing or invalid",
            )
            .into_response();
        }
        Err(PushError::BadRequest(reason)) => {
            return Problem::new(StatusCode::BAD_REQUEST, "webhook", reason).into_response()
        }
        Err(PushError::MethodNotAllowed) => {
            return Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                "method not allowed",
            )
            .into_response()
        }
    };
    // Attachments the payload only links to are fetched before anything is committed.
    let items = push.complete(items).await;
    let committed = st
        .sink
        .ingest(Batch {
            items: items.clone(),
            cursor: None,
        })
        .await;
    match committed {
        Ok(ds) if ds.iter().all(Delivery::is_committed) => {
            push.after_commit(&items, &ds, &st.sink).await;
            let results: Vec<_> = ds
                .iter()
                .map(|d| match d {
                    Delivery::Committed {
                        outcome,
                        tracking_id,
                    } => json!({"outcome": outcome, "tracking_id": tracking_id}),
                    Delivery::Retry { .. } => json!({"outcome": "retry"}),
                })
                .collect();
            Json(json!({"results": results})).into_response()
        }
        Ok(_) | Err(_) => {
            // Not committed: a non-2xx makes the provider deliver it again.
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "not stored; deliver again later",
            )
            .into_response()
        }
    }
}
