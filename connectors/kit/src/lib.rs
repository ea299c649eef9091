//! The contract every aduan channel connector implements.
//!
//! A channel is built from its typed configuration by a [`ChannelFactory`] and may have
//! any of three capabilities, each optional and independent:
//!
//! * **pull** ([`PullSource`]): a long-running task that polls or IDLEs, keeps a
//!   [`Cursor`] per stream and hands batches to the [`Sink`];
//! * **push** ([`PushHandler`]): verifies and parses webhook requests (raw bytes) that the
//!   daemon routes to `/webhooks/{channel-name}`;
//! * **outbound** ([`OutboundSender`]): sends replies queued in the daemon's outbox.
//!
//! The rule every connector keeps: acknowledge to the source (webhook 2xx, IMAP `\Seen`,
//! cursor advance) only after the sink returned a [`Delivery`] that says so.

mod channel;
mod error;
#[cfg(feature = "http")]
pub mod fetch;
mod inbound;
mod kind;
mod names;
mod outbound;
pub mod signature;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracking;

pub use channel::{
    BuildContext, Channel, ChannelFactory, HealthCheck, HealthHandle, HealthState, OutboundSender,
    PullContext, PullSource, PushHandler, PushReply, WebhookRequest,
};
pub use error::{ConfigError, ConnectorError, ErrorKind, PushError, SinkError};
pub use inbound::{
    Acknowledgement, AttachmentData, Batch, ComplaintDraft, Cursor, CursorUpdate, Delivery,
    Inbound, InboundKind, Location, Outcome, PublicStatus, Raw, Reporter, SenderThread, Threading,
};
pub use kind::{AnswerPreview, KindInfo, Words};
pub use names::{ChannelName, InvalidName};
pub use outbound::{OutboundKind, OutboundMessage, Recipient, SendReceipt};
pub use tracking::{InvalidTrackingId, TrackingId};

/// The store as a connector sees it: commit batches, read cursors.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// Commits every item and the cursor update in one transaction and returns one
    /// [`Delivery`] per item, in order. The cursor is advanced only when every item was
    /// committed; otherwise the caller must offer the same items again.
    async fn commit(&self, batch: Batch) -> Result<Vec<Delivery>, SinkError>;

    /// The last committed cursor of one stream of one channel.
    async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, SinkError>;

    /// What the public status page shows of a complaint, for a chat channel that answers
    /// a citizen's status question (Telegram's `/status NOMOR`) itself: `None` when no
    /// complaint has this number.
    async fn public_status(
        &self,
        tracking_id: &TrackingId,
    ) -> Result<Option<PublicStatus>, SinkError>;
}
