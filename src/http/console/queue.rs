//! The queue page: filters, search, SLA badges, channel icons, claim and take-next.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{queue_error, queue_error_text, redirect_with, render, wib, Chrome, Posted, Staff};
use crate::http::AppState;
use crate::queue::insight::wib_day;
use crate::queue::{ListQuery, QueueItem, Status};
use crate::store::micros;

/// The filters as the form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub overdue: String,
    #[serde(default)]
    pub mine: String,
    pub after: Option<String>,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The SLA state of an open complaint, as a badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sla {
    None,
    Overdue,
    DueToday,
}

pub fn sla_of(item: &QueueItem, now_micros: i64) -> Sla {
    let open = Status::parse(&item.record.status).is_some_and(Status::is_open);
    if !open {
        return Sla::None;
    }
    if item.overdue {
        return Sla::Overdue;
    }
    match item.due_at {
        Some(d) if wib_day(micros(d)) == wib_day(now_micros) => Sla::DueToday,
        _ => Sla::None,
    }
}

pub struct Row {
    pub tracking_id: String,
    pub title: String,
    pub channel: String,
    pub channel_label: &'static str,
    pub icon: &'static str,
    pub status: String,
    pub status_label: &'static str,
    pub unit: String,
    pub received: String,
    pub due: String,
    pub sla: Sla,
    pub claimed_by: Option<String>,
    pub claimable: bool,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    c: Chrome,
    f: Filters,
    rows: Vec<Row>,
    statuses: Vec<(&'static str, &'static str)>,
    channels: Vec<(&'static str, &'static str)>,
    units: Vec<crate::queue::people::Unit>,
    categories: Vec<crate::queue::people::Category>,
    next_link: Option<String>,
}

pub async fn page(State(st): State<AppState>, staff: Staff, Query(f): Query<Filters>) -> Response {
    let t = staff.t();
    let q = ListQuery {
        status: some(&f.status),
        channel: some(&f.channel),
        unit: some(&f.unit),
        category: some(&f.category),
        overdue: (f.overdue == "1").then_some(true),
        claimed_by: (f.mine == "1").then(|| staff.actor.username.clone()),
        q: some(&f.q),
        after: f.after.clone().filter(|a| !a.is_empty()),
        limit: Some(50),
    };
    let page = match st.queue.list(&staff.actor, &q).await {
        Ok(p) => p,
        Err(e) => return queue_error(&staff, e),
    };
    let now = crate::store::now_micros();
    let rows = page
        .items
        .iter()
        .map(|i| Row {
            tracking_id: i.record.tracking_id.clone(),
            title: i.record.title.clone(),
            channel: i.record.channel.clone(),
            channel_label: t.channel_kind(&i.record.channel),
            icon: super::svg::channel_icon(&i.record.channel),
            status: i.record.status.clone(),
            status_label: t.status(&i.record.status),
            unit: i.record.unit.clone().unwrap_or_default(),
            received: wib(i.record.received_at),
            due: i.due_at.map(wib).unwrap_or_default(),
            sla: sla_of(i, now),
            claimed_by: i.claimed_by.clone(),
            claimable: i.claimed_by.is_none()
                && Status::parse(&i.record.status).is_some_and(Status::is_open),
        })
        .collect();
    let next_link = page.next.map(|n| {
        let qs = serde_urlencoded::to_string([
            ("q", f.q.as_str()),
            ("status", f.status.as_str()),
            ("channel", f.channel.as_str()),
            ("unit", f.unit.as_str()),
            ("category", f.category.as_str()),
            ("overdue", f.overdue.as_str()),
            ("mine", f.mine.as_str()),
            ("after", n.as_str()),
        ])
        .unwrap_or_default();
        format!("/admin/antrean?{qs}")
    });
    let units = if staff.actor.role.is_central() {
        st.queue.store().units().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "units for the queue filter");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    // The filters' choices; without them the page still works (the filter is hidden).
    let categories = st.queue.store().categories().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "categories for the queue filter");
        Vec::new()
    });
    render(
        StatusCode::OK,
        &QueuePage {
            categories,
            c: staff.chrome("queue"),
            statuses: Status::ALL
                .iter()
                .map(|s| (s.as_str(), t.status(s.as_str())))
                .collect(),
            channels: crate::registry::kinds()
                .iter()
                .map(|f| (f.kind(), t.channel_kind(f.kind())))
                .collect(),
            units,
            f,
            rows,
            next_link,
        },
    )
}

#[derive(Deserialize)]
pub struct NoFields {}

/// Claims the oldest complaint waiting for the caller and opens it.
pub async fn next(State(st): State<AppState>, p: Posted<NoFields>) -> Response {
    let t = p.staff.t();
    match st.queue.next(&p.staff.actor).await {
        Ok(Some(item)) => redirect_with(
            &format!("/admin/laporan/{}", item.record.tracking_id),
            true,
            t.claimed_ok,
        ),
        Ok(None) => redirect_with("/admin/antrean", true, t.nothing_next),
        Err(e) => redirect_with("/admin/antrean", false, &queue_error_text(t, &e)),
    }
}
