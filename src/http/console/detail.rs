//! One complaint: its thread across channels, attachments, the raw original (operators),
//! the actions the caller's role may take now (decided by the workflow's `plan`), the
//! answer composer with the channel's limit and a preview of what the citizen receives,
//! and the audit trail.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::queue::{sla_of, Sla};
use super::{queue_error, queue_error_text, redirect_with, render, wib, Chrome, Posted, Staff};
use crate::http::download::download;
use crate::http::AppState;
use crate::queue::people::{Category, Unit};
use crate::queue::workflow::plan;
use crate::queue::{answer_message_body, ActionKind, ActionRequest, QueueItem, Role, Status};

/// Raw originals longer than this are cut on the page (the download has all of it).
const RAW_SHOWN: usize = 64 * 1024;

pub struct MessageView {
    pub inbound: bool,
    pub channel_label: &'static str,
    pub icon: &'static str,
    pub at: String,
    pub body: String,
}

pub struct AttachmentView {
    pub index: usize,
    pub filename: String,
    pub content_type: String,
    pub size: String,
    pub image: bool,
}

pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub change: String,
    pub reason: String,
}

/// An action form on the page.
pub struct ActionView {
    pub key: &'static str,
    pub label: &'static str,
    /// Which fields the form shows.
    pub fields: &'static str,
    /// Styling: `primary`, `danger` or plain.
    pub tone: &'static str,
}

/// The answer as the citizen will get it.
pub struct DeliveryView {
    pub channel: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub failed: bool,
    pub attempts: u32,
    pub error: String,
}

pub struct PreviewView {
    pub route: String,
    pub text: String,
    pub length: usize,
    pub over: bool,
}

#[derive(Template)]
#[template(path = "console/detail.html")]
struct DetailPage {
    c: Chrome,
    item: QueueItem,
    status_label: &'static str,
    channel_label: &'static str,
    icon: &'static str,
    received: String,
    due: String,
    sla: Sla,
    classification: &'static str,
    held_by_other: Option<String>,
    held_by_me: Option<String>,
    can_claim: bool,
    messages: Vec<MessageView>,
    attachments: Vec<AttachmentView>,
    raw: Option<(String, bool)>,
    /// The raw original is offered only as an audited download.
    raw_reveal: bool,
    can_reveal: bool,
    actions: Vec<ActionView>,
    units: Vec<Unit>,
    categories: Vec<Category>,
    audit: Vec<AuditView>,
    deliveries: Vec<DeliveryView>,
    limit: Option<usize>,
    draft: String,
    preview: Option<PreviewView>,
    route_note: String,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    reveal: Option<String>,
}

fn action_view(t: &super::Texts, a: ActionKind) -> ActionView {
    let (fields, tone) = match a {
        ActionKind::Verify => ("verify", "primary"),
        ActionKind::Forward => ("forward", "primary"),
        ActionKind::ApproveAnswer => ("none", "primary"),
        ActionKind::DraftAnswer => ("answer", "primary"),
        ActionKind::Merge => ("merge", ""),
        ActionKind::Reject => ("reason", "danger"),
        a if a.needs_reason() => ("reason", ""),
        _ => ("none", ""),
    };
    ActionView {
        key: a.as_str(),
        label: t.action(a),
        fields,
        tone,
    }
}

/// The channel's limit on an answer's length, as the channel counts it (its kind's
/// factory says).
pub fn channel_limit(kind: &str) -> Option<usize> {
    crate::registry::kind_info(kind).and_then(|info| info.answer_limit)
}

/// The text a reporter receives for `draft` on a channel of `kind` (exactly what the
/// outbox sends: the footer with the status link, then the channel's own shortening, as
/// its kind's factory previews it), its length as the channel counts it, and whether the
/// draft itself had to be cut.
pub fn as_received(
    kind: &str,
    channel: &aduan_kit::ChannelName,
    draft: &str,
    tracking_id: &str,
    status_url: &str,
) -> (String, usize, bool) {
    let draft = draft.trim();
    let msg = aduan_kit::OutboundMessage {
        idempotency_key: String::new(),
        channel_name: channel.clone(),
        kind: aduan_kit::OutboundKind::Answer,
        tracking_id: tracking_id.to_owned(),
        recipient: aduan_kit::Recipient::default(),
        subject: None,
        body: answer_message_body(draft, tracking_id, kind).replace("{status_url}", status_url),
        in_reply_to: None,
        references: Vec::new(),
        attempt: 0,
        last_inbound_at: None,
    };
    let p = match crate::registry::factory_of(kind) {
        Some(factory) => factory.preview_answer(&msg, draft),
        None => aduan_kit::AnswerPreview::unchanged(&msg, draft, None),
    };
    (p.text, p.length, p.cut)
}

/// What the citizen receives for `draft`, on the channel the answer will take.
fn preview_of(st: &AppState, t: &super::Texts, item: &QueueItem, draft: &str) -> PreviewView {
    let has_email = item
        .record
        .reporter
        .as_ref()
        .is_some_and(|r| r.email.is_some());
    let tracking = &item.record.tracking_id;
    match st
        .queue
        .answer_channel(&item.record.channel_name, has_email)
    {
        Some((name, kind)) => {
            let (text, length, over) =
                as_received(&kind, &name, draft, tracking, &st.status_url(tracking));
            PreviewView {
                route: format!("{} {} ({name})", t.via, t.channel_kind(&kind)),
                text,
                length,
                over,
            }
        }
        None => PreviewView {
            route: t.status_page_only.into(),
            length: draft.trim().chars().count(),
            over: false,
            text: draft.trim().to_owned(),
        },
    }
}

fn human_size(n: i64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
        n if n >= 1024 => format!("{} KB", n / 1024),
        n => format!("{n} B"),
    }
}

/// Raster images a browser may show inline; anything else (SVG included, which can
/// carry script) is only downloaded.
fn previewable(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

async fn detail(
    st: &AppState,
    staff: &Staff,
    tracking_id: &str,
    reveal: bool,
    draft: String,
    with_preview: bool,
) -> Response {
    let t = staff.t();
    let a = &staff.actor;
    let item = match st.queue.show(a, tracking_id, reveal).await {
        Ok(i) => i,
        Err(e) => return queue_error(staff, e),
    };
    let audit = match st.queue.audit_trail(a, tracking_id).await {
        Ok(v) => v,
        Err(e) => return queue_error(staff, e),
    };
    // An anonymous complaint's raw original names its reporter: it is only downloaded,
    // each time as an audited reveal.
    let raw_reveal = a.role == Role::Operator && item.record.anonymous;
    let raw = if a.role == Role::Operator && !item.record.anonymous {
        match st.queue.raw_original(a, tracking_id, false).await {
            Ok((_, bytes)) => {
                let cut = bytes.len() > RAW_SHOWN;
                let shown = &bytes[..bytes.len().min(RAW_SHOWN)];
                Some((String::from_utf8_lossy(shown).into_owned(), cut))
            }
            Err(e) => return queue_error(staff, e),
        }
    } else {
        None
    };
    let status = Status::parse(&item.record.status);
    let now = crate::store::now_micros();
    let held_by_other = item.claimed_by.clone().filter(|who| who != &a.username);
    let held_by_me = (item.claimed_by.as_deref() == Some(a.username.as_str()))
        .then(|| item.claim_until.map(wib).unwrap_or_default());
    // The actions are exactly those the workflow would accept from this person now.
    let actions: Vec<ActionView> = match (status, &held_by_other) {
        (Some(s), None) => ActionKind::ADMIN
            .into_iter()
            .filter(|k| plan(a, *k, s, None, item.record.unit.as_deref()).is_ok())
            .filter(|k| {
                !matches!(k, ActionKind::ApproveAnswer | ActionKind::ReturnAnswer)
                    || item.pending_answer.is_some()
            })
            .map(|k| action_view(t, k))
            .collect(),
        _ => Vec::new(),
    };
    let needs = |f: &str| actions.iter().any(|x| x.fields == f);
    let units = if needs("forward") {
        st.queue.store().units().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let categories = if needs("verify") {
        st.queue.store().categories().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let limit = needs("answer")
        .then(|| {
            st.queue
                .answer_channel(
                    &item.record.channel_name,
                    item.record
                        .reporter
                        .as_ref()
                        .is_some_and(|r| r.email.is_some()),
                )
                .and_then(|(_, kind)| channel_limit(&kind))
        })
        .flatten();
    let preview = (with_preview && !draft.trim().is_empty())
        .then(|| preview_of(st, t, &item, &draft))
        .or_else(|| {
            item.pending_answer
                .as_deref()
                .map(|p| preview_of(st, t, &item, p))
        });
    let route_note = if item.record.confidential {
        t.confidential_note
    } else {
        t.status_page_too
    }
    .to_owned();
    let page = DetailPage {
        c: staff.chrome("queue"),
        status_label: t.status(&item.record.status),
        channel_label: t.channel_kind(&item.record.channel),
        icon: super::svg::channel_icon(&item.record.channel),
        received: wib(item.record.received_at),
        due: item.due_at.map(wib).unwrap_or_default(),
        sla: sla_of(&item, now),
        classification: item
            .classification
            .as_deref()
            .map(|c| t.classification(c))
            .unwrap_or("—"),
        can_claim: held_by_other.is_none()
            && held_by_me.is_none()
            && status.is_some_and(Status::is_open),
        held_by_other,
        held_by_me,
        messages: item
            .record
            .messages
            .iter()
            .map(|m| MessageView {
                inbound: m.direction == "in",
                channel_label: t.channel_kind(&m.channel),
                icon: super::svg::channel_icon(&m.channel),
                at: wib(m.at),
                body: m.body.clone(),
            })
            .collect(),
        attachments: item
            .record
            .attachments
            .iter()
            .enumerate()
            .map(|(index, at)| AttachmentView {
                index,
                filename: at.filename.clone(),
                content_type: at.content_type.clone(),
                size: human_size(at.size),
                image: previewable(&at.content_type),
            })
            .collect(),
        raw,
        raw_reveal,
        can_reveal: a.role.is_central() && item.record.anonymous && !reveal,
        actions,
        units,
        categories,
        deliveries: item
            .deliveries
            .iter()
            .map(|d| DeliveryView {
                channel: d.channel_name.clone(),
                kind: if d.kind == "answer" {
                    t.delivery_answer
                } else {
                    t.delivery_ack
                },
                status: match (d.status.as_str(), d.reported.as_deref()) {
                    ("sent", Some("read")) => t.delivery_read,
                    ("sent", Some("delivered")) => t.delivery_delivered,
                    ("sent", _) => t.delivery_sent,
                    ("failed", _) => t.delivery_failed,
                    _ => t.delivery_pending,
                },
                failed: d.status == "failed",
                attempts: d.attempts,
                error: d.last_error.clone().unwrap_or_default(),
            })
            .collect(),
        audit: audit
            .into_iter()
            .map(|e| AuditView {
                at: wib(e.at),
                actor: e.actor,
                action: t.audit_action(&e.action),
                change: match (e.before.as_deref(), e.after.as_deref()) {
                    (Some(b), Some(af)) if b != af => format!("{} → {}", t.status(b), t.status(af)),
                    _ => String::new(),
                },
                reason: e.reason.unwrap_or_default(),
            })
            .collect(),
        limit,
        draft,
        preview,
        route_note,
        item,
    };
    render(StatusCode::OK, &page)
}

pub async fn page(
    State(st): State<AppState>,
    staff: Staff,
    Path(tracking_id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let reveal = q.reveal.as_deref() == Some("identity");
    detail(&st, &staff, &tracking_id, reveal, String::new(), false).await
}

#[derive(Deserialize)]
pub struct DraftForm {
    #[serde(default)]
    body: String,
}

/// Shows the page again with the draft kept and what the citizen would receive.
pub async fn preview(
    State(st): State<AppState>,
    Path(tracking_id): Path<String>,
    p: Posted<DraftForm>,
) -> Response {
    detail(&st, &p.staff, &tracking_id, false, p.form.body, true).await
}

#[derive(Deserialize)]
pub struct NoFields {}

pub async fn claim(
    State(st): State<AppState>,
    Path(tracking_id): Path<String>,
    p: Posted<NoFields>,
) -> Response {
    let t = p.staff.t();
    let back = format!("/admin/laporan/{tracking_id}");
    match st.queue.claim(&p.staff.actor, &tracking_id).await {
        Ok(_) => redirect_with(&back, true, t.claimed_ok),
        Err(e @ crate::queue::QueueError::Refused(crate::queue::Refusal::NotVisible)) => {
            queue_error(&p.staff, e)
        }
        Err(e) => redirect_with(&back, false, &queue_error_text(t, &e)),
    }
}

pub async fn release(
    State(st): State<AppState>,
    Path(tracking_id): Path<String>,
    p: Posted<NoFields>,
) -> Response {
    let t = p.staff.t();
    match st.queue.release(&p.staff.actor, &tracking_id).await {
        Ok(()) => redirect_with(
            &format!("/admin/laporan/{tracking_id}"),
            true,
            t.released_ok,
        ),
        Err(e) => queue_error(&p.staff, e),
    }
}

/// An action form; unchecked checkboxes are absent, so `anonymous` and `confidential`
/// are read as "the verifier confirmed false" only when the verify form sent `flags`.
#[derive(Deserialize, Default)]
pub struct ActionForm {
    reason: Option<String>,
    classification: Option<String>,
    category: Option<String>,
    title: Option<String>,
    anonymous: Option<String>,
    confidential: Option<String>,
    flags: Option<String>,
    unit: Option<String>,
    into: Option<String>,
    body: Option<String>,
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub async fn act(
    State(st): State<AppState>,
    Path((tracking_id, action)): Path<(String, String)>,
    p: Posted<ActionForm>,
) -> Response {
    let t = p.staff.t();
    let Some(kind) = ActionKind::parse(&action).filter(|k| *k != ActionKind::Reopen) else {
        return super::error_page(&p.staff, StatusCode::NOT_FOUND, t.no_such_page);
    };
    let f = p.form;
    let flags = f.flags.is_some();
    let req = ActionRequest {
        reason: nonempty(f.reason),
        classification: nonempty(f.classification),
        category: nonempty(f.category),
        title: nonempty(f.title),
        anonymous: flags.then_some(f.anonymous.is_some()),
        confidential: flags.then_some(f.confidential.is_some()),
        unit: nonempty(f.unit),
        into: nonempty(f.into),
        body: nonempty(f.body),
    };
    let back = format!("/admin/laporan/{tracking_id}");
    match st.queue.act(&p.staff.actor, &tracking_id, kind, &req).await {
        // Out of the actor's scope now (a unit saying "not ours"): back to the queue.
        Ok(acted) if acted.item.is_none() => redirect_with("/admin/antrean", true, t.done),
        Ok(_) => redirect_with(&back, true, t.done),
        Err(e @ crate::queue::QueueError::Refused(crate::queue::Refusal::NotVisible)) => {
            queue_error(&p.staff, e)
        }
        Err(e) => redirect_with(&back, false, &queue_error_text(t, &e)),
    }
}

#[derive(Deserialize, Default)]
pub struct AttachmentQuery {
    tampil: Option<String>,
}

/// An attachment: downloaded, or shown inline when it is a raster image and asked for.
pub async fn attachment(
    State(st): State<AppState>,
    staff: Staff,
    Path((tracking_id, index)): Path<(String, usize)>,
    Query(q): Query<AttachmentQuery>,
) -> Response {
    let (meta, bytes) = match st.queue.attachment(&staff.actor, &tracking_id, index).await {
        Ok(v) => v,
        Err(e) => return queue_error(&staff, e),
    };
    let inline = q.tampil.is_some() && previewable(&meta.content_type);
    let content_type = if inline {
        meta.content_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    download(bytes, &content_type, &meta.filename, inline)
}

/// The raw original (operators only, as the queue decides; an anonymous complaint's with
/// `reveal=identity`, audited).
pub async fn raw(
    State(st): State<AppState>,
    staff: Staff,
    Path(tracking_id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let reveal = q.reveal.as_deref() == Some("identity");
    match st
        .queue
        .raw_original(&staff.actor, &tracking_id, reveal)
        .await
    {
        Ok((_, bytes)) => download(
            bytes,
            "application/octet-stream",
            &format!("{tracking_id}.raw"),
            false,
        ),
        Err(e) => queue_error(&staff, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> aduan_kit::ChannelName {
        aduan_kit::ChannelName::parse("x-siak").expect("name")
    }

    #[test]
    fn an_answer_on_x_is_shown_as_the_post_the_citizen_gets() {
        let url = "https://lapor.contoh.go.id/laporan/ABCD-EFGH";
        let short = "Sudah kami perbaiki. Terima kasih.";
        let (text, len, cut) = as_received(aduan_x::KIND, &x(), short, "ABCD-EFGH", url);
        assert!(
            text.starts_with(short) && text.contains("ABCD-EFGH"),
            "{text}"
        );
        assert!(len <= 280 && !cut, "{len}");

        let long = "Perbaikan jalan dijadwalkan minggu depan oleh UPT. ".repeat(8);
        let (text, len, cut) = as_received(aduan_x::KIND, &x(), &long, "ABCD-EFGH", url);
        assert!(len <= 280, "{len}: {text}");
        assert!(cut, "a draft longer than a post is flagged");
        assert!(text.starts_with("Perbaikan jalan"), "{text}");
        assert!(
            text.contains("ABCD-EFGH") && text.ends_with(url),
            "shortened, the number and the link stay whole: {text}"
        );
    }

    #[test]
    fn e_mail_answers_carry_the_footer_and_the_status_link() {
        let email = aduan_kit::ChannelName::parse("surel").expect("name");
        let url = "https://lapor.contoh.go.id/laporan/ABCD-EFGH";
        let (text, _, cut) = as_received(aduan_email::KIND, &email, " Jawaban. ", "ABCD-EFGH", url);
        assert!(
            text.starts_with("Jawaban.\n\n--\nLaporan ABCD-EFGH"),
            "{text}"
        );
        assert!(text.contains(url) && !cut);
        assert_eq!(channel_limit(aduan_x::KIND), Some(280));
        assert_eq!(channel_limit(aduan_email::KIND), None);
    }

    #[test]
    fn only_raster_images_are_shown_inline() {
        assert!(previewable("image/png") && previewable("image/jpeg"));
        assert!(!previewable("image/svg+xml") && !previewable("text/html"));
    }
}
