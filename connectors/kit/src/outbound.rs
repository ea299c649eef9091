use serde::{Deserialize, Serialize};

use crate::ChannelName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundKind {
    /// The receipt with the tracking number, sent on intake.
    Acknowledgement,
    /// An answer approved in the queue.
    Answer,
    /// A notice to staff (the escalation digest), not to a citizen.
    Notice,
}

impl OutboundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundKind::Acknowledgement => "acknowledgement",
            OutboundKind::Answer => "answer",
            OutboundKind::Notice => "notice",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    /// E-mail address, X user id, Facebook PSID or comment id: whatever the channel needs.
    pub address: String,
    pub name: Option<String>,
}

/// One message in the outbox, handed to a channel's [`crate::OutboundSender`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Stable for every attempt of this message: channels that can deduplicate on the
    /// provider's side (a fixed Message-ID, an idempotency header) use it so that a retry
    /// after a crash is not a second message.
    pub idempotency_key: String,
    pub channel_name: ChannelName,
    pub kind: OutboundKind,
    pub tracking_id: String,
    pub recipient: Recipient,
    pub subject: Option<String>,
    pub body: String,
    /// The provider's id of the message being answered (tweet, comment, Message-ID).
    pub in_reply_to: Option<String>,
    /// Further thread keys (e-mail References).
    pub references: Vec<String>,
    /// How many attempts were made before this one.
    pub attempt: u32,
    /// When the citizen last wrote on this channel about the complaint (Messenger only
    /// lets a Page answer freely within 24 hours of it).
    #[serde(default)]
    pub last_inbound_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl OutboundMessage {
    /// The text trimmed and, when longer than `max` characters, shortened with the
    /// tracking number kept at its end.
    pub fn fitted(&self, max: usize) -> String {
        let body = self.body.trim();
        if body.chars().count() <= max {
            return body.to_owned();
        }
        let tail = if self.tracking_id.is_empty() {
            String::new()
        } else {
            format!(" … [{}]", self.tracking_id)
        };
        let keep = max.saturating_sub(tail.chars().count());
        body.chars().take(keep).collect::<String>() + &tail
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The provider's id of what was sent (tweet id, Message-ID, message id): a thread
    /// key, so the citizen's reply to it joins the complaint.
    pub external_id: Option<String>,
}
