use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ChannelName;

/// One message from a channel, normalized, with its raw original.
///
/// `(channel_name, external_id)` is the idempotency key: the store keeps one record per
/// key however often the same message is offered (polling and webhook, a retried
/// webhook, a mailbox fetched twice).
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The channel kind (`"webform"`, `"email"`, `"x"`, `"facebook"`).
    pub channel: &'static str,
    pub channel_name: ChannelName,
    /// The provider's id of this message (tweet id, comment id, Message-ID, submission id).
    pub external_id: String,
    pub received_at: DateTime<Utc>,
    pub kind: InboundKind,
    pub thread: Threading,
    /// The bytes exactly as the provider sent them.
    pub raw: Raw,
    /// The receipt to send back on the same channel if this files a new complaint. It is
    /// queued in the outbox in the same transaction as the complaint.
    pub acknowledge: Option<Acknowledgement>,
}

/// A receipt queued with a new complaint. `{tracking_id}`, `{status_url}` and `{title}`
/// in `subject` and `body` are filled in by the store once the number is known.
#[derive(Debug, Clone)]
pub struct Acknowledgement {
    pub recipient: crate::Recipient,
    pub subject: Option<String>,
    pub body: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// No receipt when one went to the same recipient on this channel within this window.
    pub once_per: std::time::Duration,
    /// No receipt when this many were queued on this channel in the last hour, whoever
    /// they went to (a flood of messages must not turn the channel into a mail relay).
    pub per_hour: Option<u32>,
}

impl Acknowledgement {
    /// How old a message may be and still get a receipt in public, by default. What a
    /// first start or a catch-up finds from days ago is filed without a reply: answering
    /// a week of old posts at once would look like spam from the official account.
    pub const DEFAULT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    /// Whether a message written at `at` is recent enough for a receipt. A message
    /// without a time is taken as written now.
    pub fn fresh_enough(
        at: Option<chrono::DateTime<chrono::Utc>>,
        max_age: std::time::Duration,
    ) -> bool {
        let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        at.is_none_or(|t| chrono::Utc::now() - t <= max_age)
    }
}

#[derive(Debug, Clone)]
pub enum InboundKind {
    /// A complaint, or a follow-up when [`Threading`] names an existing complaint.
    Complaint(Box<ComplaintDraft>),
    /// Could not be understood; kept raw with the reason and shown to admins.
    Quarantine { reason: String },
    /// Understood and deliberately not a complaint (auto-reply, our own echo, a bounce),
    /// recorded with the reason so admins can see why; never answered.
    Ignored { reason: String },
    /// The author changed a message already filed (`of`: that message's external id):
    /// its text is replaced and the earlier text kept in its history. When `of` was
    /// never filed (its delivery was missed), `draft` is filed as a complaint instead.
    Edited {
        of: String,
        draft: Box<ComplaintDraft>,
    },
    /// The author removed a message already filed: it is marked removed, never deleted.
    Removed { of: String },
}

#[derive(Debug, Clone, Default)]
pub struct ComplaintDraft {
    pub title: String,
    pub body: String,
    pub category: Option<String>,
    pub reporter: Reporter,
    pub anonymous: bool,
    pub confidential: bool,
    pub occurred_on: Option<NaiveDate>,
    pub location: Option<Location>,
    pub attachments: Vec<AttachmentData>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reporter {
    pub name: Option<String>,
    pub handle: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The provider's id of the sender (X user id, Facebook PSID). Personal data.
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub text: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct AttachmentData {
    pub filename: String,
    pub content_type: String,
    pub bytes: Bytes,
}

/// How a message relates to others of the same channel.
#[derive(Debug, Clone, Default)]
pub struct Threading {
    /// Keys this message makes known (its Message-ID, tweet id, comment id, thread id):
    /// later messages that name one of them join the same complaint.
    pub keys: Vec<String>,
    /// Keys this message names (In-Reply-To / References, conversation id, parent
    /// comment): when one belongs to an existing complaint, this is a follow-up.
    pub refs: Vec<String>,
    /// A tracking number the citizen quoted (e-mail subject); a follow-up when valid.
    pub tracking_hint: Option<String>,
    /// A conversation with one person (a Messenger sender): the message joins that
    /// person's complaint while it is open and their previous message is at most
    /// `window` older; otherwise it starts a new complaint, which the key then names.
    pub sender: Option<SenderThread>,
}

#[derive(Debug, Clone)]
pub struct SenderThread {
    pub key: String,
    pub window: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Raw {
    pub content_type: String,
    pub bytes: Bytes,
}

/// What anyone with a tracking number may know of a complaint: the same as the public
/// status page, never the text of a confidential one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicStatus {
    pub tracking_id: String,
    /// The status as the status page words it, in Indonesian ("Ditindaklanjuti").
    pub status_label: String,
    pub received_at: DateTime<Utc>,
    /// When the status last changed or an answer was published.
    pub updated_at: DateTime<Utc>,
}

/// A persisted position in one stream of one channel (UIDVALIDITY:UID, since_id, a
/// paging cursor). Opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

#[derive(Debug, Clone)]
pub struct CursorUpdate {
    pub channel_name: ChannelName,
    pub stream: String,
    pub cursor: Cursor,
}

/// What a connector hands to the sink: items and, optionally, the cursor position that
/// covers them. Both commit together or not at all.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub items: Vec<Inbound>,
    pub cursor: Option<CursorUpdate>,
}

/// What happened to one item, returned to the source so it acknowledges correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Committed: the source may acknowledge (2xx, `\Seen`, cursor advance).
    Committed {
        outcome: Outcome,
        tracking_id: Option<String>,
    },
    /// Not committed, worth offering again: do not acknowledge.
    Retry { reason: String },
}

impl Inbound {
    /// An item whose raw original is a provider's JSON exactly as received, written at
    /// `at` (now when the provider gave no time), with no receipt yet.
    pub fn from_json(
        channel: &'static str,
        channel_name: ChannelName,
        external_id: String,
        at: Option<DateTime<Utc>>,
        kind: InboundKind,
        thread: Threading,
        raw: Bytes,
    ) -> Self {
        Self {
            channel,
            channel_name,
            external_id,
            received_at: at.unwrap_or_else(Utc::now),
            kind,
            thread,
            raw: Raw {
                content_type: "application/json".into(),
                bytes: raw,
            },
            acknowledge: None,
        }
    }

    /// A JSON body that could not be understood, kept whole for the admins and keyed
    /// by `{prefix}:{sha256 of the body}`, so the same bad body offered again is one
    /// record.
    pub fn quarantined_json(
        channel: &'static str,
        channel_name: ChannelName,
        prefix: &str,
        body: Bytes,
        reason: String,
    ) -> Self {
        use sha2::Digest;
        Self {
            channel,
            channel_name,
            external_id: format!("{prefix}:{}", hex::encode(sha2::Sha256::digest(&body))),
            received_at: Utc::now(),
            kind: InboundKind::Quarantine { reason },
            thread: Threading::default(),
            raw: Raw {
                content_type: "application/json".into(),
                bytes: body,
            },
            acknowledge: None,
        }
    }
}

impl Delivery {
    pub fn is_committed(&self) -> bool {
        matches!(self, Delivery::Committed { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new complaint was filed.
    Created,
    /// Appended to an existing complaint.
    FollowUp,
    /// Already stored earlier: nothing changed.
    Duplicate,
    Quarantined,
    Ignored,
    /// An edit or removal recorded on the message it concerns.
    Revised,
}
