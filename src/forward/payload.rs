//! The JSON a webhook forwarder sends (documented in docs/forwarding.md).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::ForwarderConfig;
use crate::store::{status_label, ComplaintRecord, ForwardKind, ForwardRow};

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The event `row` as the forwarder `cfg` sends it: the event, the complaint as it is
/// now, and what changed. Who filed the complaint only when the forwarder asks for it
/// and the reporter did not file anonymously.
pub fn event_payload(
    cfg: &ForwarderConfig,
    public_url: &str,
    row: &ForwardRow,
    c: &ComplaintRecord,
    answer: Option<&(String, DateTime<Utc>)>,
) -> Value {
    let reporter = match (&c.reporter, cfg.include_reporter && !c.anonymous) {
        (Some(r), true) => json!({
            "name": r.name, "handle": r.handle, "email": r.email, "phone": r.phone,
        }),
        _ => Value::Null,
    };
    let mut complaint = json!({
        "tracking_id": c.tracking_id,
        "status": c.status,
        "status_label": status_label(&c.status),
        "title": c.title,
        "body": c.body,
        "category": c.category,
        "unit": c.unit,
        "channel": c.channel,
        "received_at": time(c.received_at),
        "occurred_on": c.occurred_on.map(|d| d.to_string()),
        "location": c.location.as_ref().map(|l| json!({"text": l.text, "lat": l.lat, "lon": l.lon})),
        "anonymous": c.anonymous,
        "confidential": c.confidential,
        "reporter": reporter,
    });
    if !c.confidential {
        // A rahasia complaint has no public page to link to.
        complaint["status_url"] = json!(format!("{public_url}/laporan/{}", c.tracking_id));
    }
    let mut out = json!({
        "id": row.event_id,
        "type": row.event.as_str(),
        "occurred_at": time(row.occurred_at),
        "forwarder": row.forwarder,
        "complaint": complaint,
    });
    if row.event != ForwardKind::Filed {
        out["change"] = json!({"from": row.status_from, "to": row.status_to});
    }
    if row.event == ForwardKind::AnswerApproved {
        out["answer"] = match answer {
            Some((body, at)) => json!({"body": body, "approved_at": time(*at)}),
            None => Value::Null,
        };
    }
    out
}
