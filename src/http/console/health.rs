//! Channel health for operators and coordinators: what each channel last did, its last
//! error and why, how far behind it is, its counters, and what to do about it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{error_page, queue_error, render, wib, Chrome, Staff};
use crate::http::AppState;
use crate::queue::insight::ChannelCounters;

pub struct ChannelView {
    pub name: String,
    pub kind_label: &'static str,
    pub icon: &'static str,
    pub healthy: bool,
    pub status: String,
    pub status_label: &'static str,
    pub last_success: String,
    pub last_error: Option<String>,
    pub last_error_at: String,
    pub lag: String,
    pub restarts: u64,
    /// Which instance polls the channel (its lease), for a pull channel.
    pub lease: Option<String>,
    pub counters: ChannelCounters,
    pub todo: Vec<String>,
}

/// A delivery to another system that failed for good.
pub struct ForwardView {
    pub id: i64,
    pub forwarder: String,
    pub event: &'static str,
    pub tracking_id: String,
    pub attempts: u32,
    pub last_error: String,
    pub occurred_at: String,
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct HealthPage {
    c: Chrome,
    channels: Vec<ChannelView>,
    forwards: Vec<ForwardView>,
}

/// A duration for people: "3 mnt", "2 jam", "4 hari".
fn ago(t: &super::Texts, since: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let Some(since) = since else {
        return t.never.to_owned();
    };
    let secs = (chrono::Utc::now() - since).num_seconds().max(0);
    let en = t.is_en();
    match secs {
        s if s < 120 => format!("{s} {}", if en { "s" } else { "dtk" }),
        s if s < 7200 => format!("{} {}", s / 60, if en { "min" } else { "mnt" }),
        s if s < 172_800 => format!("{} {}", s / 3600, if en { "h" } else { "jam" }),
        s => format!("{} {}", s / 86_400, if en { "days" } else { "hari" }),
    }
}

pub async fn page(State(st): State<AppState>, staff: Staff) -> Response {
    let t = staff.t();
    if !staff.actor.role.is_central() {
        return error_page(&staff, StatusCode::FORBIDDEN, t.central_only);
    }
    let mut channels = Vec::new();
    let holders = st.store.lease_holders().await;
    for (name, kind, handle) in st.health.iter() {
        let s = handle.snapshot();
        let counters = match st.queue.channel_counters(&staff.actor, name.as_str()).await {
            Ok(c) => c,
            Err(e) => return queue_error(&staff, e),
        };
        let pulls = st
            .channels
            .get(name.as_str())
            .is_some_and(|c| c.pull.is_some());
        // A push channel (webhooks, the form) has no task that reports: it is ready
        // unless something said otherwise, and its last success is its last complaint.
        let (status, last_success) = if !pulls && s.status == "starting" {
            ("ready", counters.last_received)
        } else {
            (s.status, s.last_success)
        };
        let mut todo = match s.status {
            "reauthorize" => vec![t.todo_reauthorize(kind)],
            "failed" => vec![t.todo_failed.to_owned()],
            "retrying" => vec![t.todo_retrying.to_owned()],
            _ => Vec::new(),
        };
        if counters.outbox_failed > 0 {
            todo.push(t.todo_outbox_failed.to_owned());
        }
        if counters.quarantined > 0 {
            todo.push(t.todo_quarantine.to_owned());
        }
        if todo.is_empty() {
            todo.push(t.todo_ok.to_owned());
        }
        // How far behind: for a polling channel, since its last good poll; for any
        // channel, how long its oldest outgoing message has been waiting.
        let lag = match (pulls, counters.oldest_pending) {
            (_, Some(p)) => format!("{} ({})", ago(t, Some(p)), t.outbox),
            (true, None) => ago(t, last_success),
            (false, None) => t.push_only.to_owned(),
        };
        channels.push(ChannelView {
            name: name.to_string(),
            kind_label: t.channel_kind(kind),
            icon: super::svg::channel_icon(kind),
            healthy: s.healthy,
            status: status.to_owned(),
            status_label: if status == "ready" {
                t.st_ready
            } else {
                t.health_status(status)
            },
            last_success: last_success.map(wib).unwrap_or_else(|| t.never.into()),
            last_error: s.last_error,
            last_error_at: s.last_error_at.map(wib).unwrap_or_default(),
            lag,
            restarts: s.restarts,
            lease: pulls.then(|| match holders.get(name.as_str()) {
                Some(h) if h == st.health.instance() => format!("{h} ({})", t.this_instance),
                Some(h) => h.clone(),
                None => t.none.to_owned(),
            }),
            counters,
            todo,
        });
    }
    let failed = crate::store::ForwardFilter {
        status: Some(crate::store::ForwardStatus::Failed),
        limit: 50,
        ..Default::default()
    };
    let forwards = match st.store.forwards(&failed).await {
        Ok(rows) => rows
            .into_iter()
            .map(|r| ForwardView {
                id: r.id,
                forwarder: r.forwarder,
                event: r.event.as_str(),
                tracking_id: r.tracking_id,
                attempts: r.attempts,
                last_error: r.last_error.unwrap_or_default(),
                occurred_at: wib(r.occurred_at),
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "console: failed deliveries could not be read");
            return error_page(&staff, StatusCode::SERVICE_UNAVAILABLE, t.try_again);
        }
    };
    render(
        StatusCode::OK,
        &HealthPage {
            c: staff.chrome("health"),
            channels,
            forwards,
        },
    )
}

/// Puts a failed delivery to another system back in line (operators and coordinators).
pub async fn retry_forward(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    p: super::Posted<super::manage::NoFields>,
) -> Response {
    let t = p.staff.t();
    if !p.staff.actor.role.is_central() {
        return error_page(&p.staff, StatusCode::FORBIDDEN, t.central_only);
    }
    match st.store.retry_forward(id).await {
        Ok(true) => {
            tracing::info!(forward_id = id, actor = %p.staff.actor.username, "forwarding: failed delivery put back in line");
            super::redirect_with("/admin/kanal#forwards", true, t.done)
        }
        Ok(false) => super::redirect_with("/admin/kanal#forwards", false, t.invalid),
        Err(e) => {
            tracing::error!(error = %e, "console: retry of a delivery failed");
            super::redirect_with("/admin/kanal#forwards", false, t.try_again)
        }
    }
}

pub struct RejectView {
    pub channel_name: String,
    pub external_id: String,
    pub quarantined: bool,
    pub reason: String,
    pub at: String,
    pub content_type: String,
    pub raw: Option<String>,
}

#[derive(Template)]
#[template(path = "console/quarantine.html")]
struct QuarantinePage {
    c: Chrome,
    channel: String,
    rejects: Vec<RejectView>,
}

#[derive(Deserialize, Default)]
pub struct QuarantineQuery {
    #[serde(default)]
    kanal: String,
}

/// Raw originals longer than this are cut on the page.
const RAW_SHOWN: usize = 16 * 1024;

/// The latest messages that did not become complaints, with their reasons.
pub async fn quarantine(
    State(st): State<AppState>,
    staff: Staff,
    Query(q): Query<QuarantineQuery>,
) -> Response {
    let channel = q.kanal.trim().to_owned();
    let list = match st
        .queue
        .intake_rejects(
            &staff.actor,
            Some(channel.as_str()).filter(|c| !c.is_empty()),
            100,
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return queue_error(&staff, e),
    };
    render(
        StatusCode::OK,
        &QuarantinePage {
            c: staff.chrome("health"),
            channel,
            rejects: list
                .into_iter()
                .map(|r| RejectView {
                    quarantined: r.disposition == "quarantined",
                    channel_name: r.channel_name,
                    external_id: r.external_id,
                    reason: r.reason,
                    at: wib(r.received_at),
                    content_type: r.raw_content_type,
                    raw: r.raw.map(|b| {
                        String::from_utf8_lossy(&b[..b.len().min(RAW_SHOWN)]).into_owned()
                    }),
                })
                .collect(),
        },
    )
}
