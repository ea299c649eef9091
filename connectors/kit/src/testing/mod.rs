//! Helpers a connector's tests call to prove it keeps the contract (feature `testing`).
//!
//! * [`MemorySink`]: an in-memory [`Sink`] with the store's semantics (idempotent on
//!   `(channel, external id)`, cursor committed only with its batch) that can be told to
//!   fail commits, to prove a connector never acknowledges what was not committed.
//! * [`check_inbound`], [`check_push_verifies`], [`check_pull`]: the component spec
//!   (`docs/connector-spec.md`) as executable checks.
//! * [`compliance::check_factory`]: the factory and its [`crate::KindInfo`], which every
//!   connector crate runs in its own tests.

pub mod compliance;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{
    Batch, ChannelName, Cursor, Delivery, HealthHandle, Inbound, InboundKind, Outcome,
    PublicStatus, PullContext, PullSource, PushError, PushHandler, PushReply, Sink, SinkError,
    TrackingId, WebhookRequest,
};

#[derive(Default)]
struct State {
    keys: HashSet<(String, String)>,
    items: Vec<Inbound>,
    cursors: BTreeMap<(String, String), Cursor>,
    statuses: BTreeMap<String, PublicStatus>,
    commits: usize,
    duplicates: usize,
}

/// An in-memory sink with the store's semantics.
#[derive(Default, Clone)]
pub struct MemorySink {
    state: Arc<Mutex<State>>,
    fail_next: Arc<AtomicUsize>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` commits fail with a [`SinkError`], keeping nothing.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every distinct item committed, in commit order.
    pub fn items(&self) -> Vec<Inbound> {
        self.lock().items.clone()
    }

    /// How many items were offered again after they had been committed.
    pub fn duplicates(&self) -> usize {
        self.lock().duplicates
    }

    /// How many commits succeeded.
    pub fn commits(&self) -> usize {
        self.lock().commits
    }

    pub fn cursor_of(&self, channel: &ChannelName, stream: &str) -> Option<Cursor> {
        self.lock()
            .cursors
            .get(&(channel.to_string(), stream.to_owned()))
            .cloned()
    }

    /// Gives a complaint a public status, as if it had been filed and worked on.
    pub fn set_status(&self, status: PublicStatus) {
        self.lock()
            .statuses
            .insert(status.tracking_id.clone(), status);
    }

    /// Sets a cursor as if an earlier run had committed it.
    pub fn set_cursor(&self, channel: &ChannelName, stream: &str, cursor: Cursor) {
        self.lock()
            .cursors
            .insert((channel.to_string(), stream.to_owned()), cursor);
    }
}

#[async_trait::async_trait]
impl Sink for MemorySink {
    async fn commit(&self, batch: Batch) -> Result<Vec<Delivery>, SinkError> {
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SinkError("injected failure (MemorySink::fail_next)".into()));
        }
        let mut st = self.lock();
        let mut out = Vec::with_capacity(batch.items.len());
        for item in batch.items {
            let key = (item.channel_name.to_string(), item.external_id.clone());
            let outcome = if st.keys.contains(&key) {
                st.duplicates += 1;
                Outcome::Duplicate
            } else {
                st.keys.insert(key);
                let o = match &item.kind {
                    InboundKind::Complaint(_) => Outcome::Created,
                    InboundKind::Quarantine { .. } => Outcome::Quarantined,
                    InboundKind::Ignored { .. } => Outcome::Ignored,
                    InboundKind::Edited { .. } | InboundKind::Removed { .. } => Outcome::Revised,
                };
                st.items.push(item);
                o
            };
            out.push(Delivery::Committed {
                outcome,
                tracking_id: None,
            });
        }
        if let Some(c) = batch.cursor {
            st.cursors
                .insert((c.channel_name.to_string(), c.stream), c.cursor);
        }
        st.commits += 1;
        Ok(out)
    }

    async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, SinkError> {
        Ok(self.cursor_of(channel, stream))
    }

    async fn public_status(
        &self,
        tracking_id: &TrackingId,
    ) -> Result<Option<PublicStatus>, SinkError> {
        Ok(self.lock().statuses.get(tracking_id.as_str()).cloned())
    }
}

/// Every item a connector produces: the idempotency key and the raw original are
/// present, the channel is the one configured, a complaint has text.
pub fn check_inbound(item: &Inbound, channel: &ChannelName) {
    assert_eq!(
        &item.channel_name, channel,
        "item carries another channel's name"
    );
    assert!(
        !item.external_id.trim().is_empty(),
        "external_id is empty: idempotency needs it"
    );
    assert!(
        !item.raw.bytes.is_empty(),
        "raw original missing for {}",
        item.external_id
    );
    assert!(
        !item.raw.content_type.is_empty(),
        "raw content type missing"
    );
    match &item.kind {
        InboundKind::Complaint(d) => assert!(
            !(d.title.trim().is_empty() && d.body.trim().is_empty()),
            "complaint {} has neither title nor body",
            item.external_id
        ),
        InboundKind::Quarantine { reason } | InboundKind::Ignored { reason } => {
            assert!(
                !reason.trim().is_empty(),
                "quarantine/ignore without a reason"
            )
        }
        InboundKind::Edited { of, draft } => {
            assert!(!of.trim().is_empty(), "an edit names what it edits");
            assert!(
                !draft.body.trim().is_empty(),
                "an edit carries the new text"
            );
        }
        InboundKind::Removed { of } => {
            assert!(!of.trim().is_empty(), "a removal names what it removes")
        }
    }
}

/// A push handler accepts `signed` and refuses the same request with the body altered by
/// one byte or with `signature_headers` removed, before parsing anything.
pub fn check_push_verifies(
    handler: &dyn PushHandler,
    signed: &WebhookRequest,
    signature_headers: &[&str],
) {
    match handler.handle(signed) {
        Ok(PushReply::Ingest(items)) => {
            for i in &items {
                assert!(!i.external_id.is_empty());
            }
        }
        Ok(PushReply::Respond { .. }) => {}
        Err(e) => panic!("correctly signed request refused: {e}"),
    }

    let mut tampered = signed.clone();
    let mut body = tampered.body.to_vec();
    if let Some(b) = body.last_mut() {
        *b ^= 0x01;
    } else {
        body.push(b' ');
    }
    tampered.body = body.into();
    assert!(
        matches!(handler.handle(&tampered), Err(PushError::Unauthorized(_))),
        "a body altered after signing was not refused with Unauthorized"
    );

    let mut unsigned = signed.clone();
    for h in signature_headers {
        unsigned.headers.remove(*h);
    }
    assert!(
        matches!(handler.handle(&unsigned), Err(PushError::Unauthorized(_))),
        "a request without its signature was not refused with Unauthorized"
    );
}

/// Runs a pull source against `sink` whose first `failing_commits` commits fail, until
/// `expected` distinct items are committed, then cancels it. Checks that nothing is lost
/// across the failed commits, that the source stops within 5 s of shutdown, and returns
/// the committed items.
pub async fn check_pull(
    source: Arc<dyn PullSource>,
    sink: MemorySink,
    expected: usize,
    failing_commits: usize,
    within: Duration,
) -> Vec<Inbound> {
    sink.fail_next(failing_commits);
    let shutdown = CancellationToken::new();
    let ctx = PullContext {
        sink: Arc::new(sink.clone()),
        shutdown: shutdown.clone(),
        health: HealthHandle::default(),
    };
    let task = tokio::spawn(async move { source.run(ctx).await });

    let deadline = tokio::time::Instant::now() + within;
    while sink.items().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let res = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("pull source did not stop within 5 s of shutdown");
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("pull source returned an error on shutdown: {e}"),
        Err(e) => panic!("pull source panicked: {e}"),
    }
    let items = sink.items();
    assert_eq!(
        items.len(),
        expected,
        "expected {expected} committed items after {failing_commits} failed commits, got {}",
        items.len()
    );
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ComplaintDraft, ConnectorError, Raw, Threading};

    fn item(name: &ChannelName, n: usize) -> Inbound {
        Inbound {
            channel: "toy",
            channel_name: name.clone(),
            external_id: format!("m{n}"),
            received_at: chrono::Utc::now(),
            kind: InboundKind::Complaint(Box::new(ComplaintDraft {
                title: format!("laporan {n}"),
                body: "isi".into(),
                ..ComplaintDraft::default()
            })),
            thread: Threading::default(),
            raw: Raw {
                content_type: "text/plain".into(),
                bytes: format!("m{n}").into(),
            },
            acknowledge: None,
        }
    }

    /// A source over a fixed list that resumes from its cursor; `careless` advances its
    /// own position even when the commit failed, which loses messages.
    struct Toy {
        name: ChannelName,
        total: usize,
        careless: bool,
    }

    #[async_trait::async_trait]
    impl PullSource for Toy {
        async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
            let cursor = ctx
                .sink
                .cursor(&self.name, "s")
                .await
                .map_err(|e| ConnectorError::transient(&self.name, e.0))?;
            let mut next: usize = cursor.and_then(|c| c.0.parse().ok()).unwrap_or(0);
            while !ctx.shutdown.is_cancelled() {
                if next < self.total {
                    let end = (next + 2).min(self.total);
                    let batch = Batch {
                        items: (next..end).map(|n| item(&self.name, n)).collect(),
                        cursor: Some(crate::CursorUpdate {
                            channel_name: self.name.clone(),
                            stream: "s".into(),
                            cursor: Cursor(end.to_string()),
                        }),
                    };
                    match ctx.sink.commit(batch).await {
                        Ok(_) => next = end,
                        Err(_) if self.careless => next = end,
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        }
    }

    fn name() -> ChannelName {
        ChannelName::parse("toy").expect("name")
    }

    #[tokio::test]
    async fn a_source_that_retries_uncommitted_batches_passes() {
        let sink = MemorySink::new();
        let src = Arc::new(Toy {
            name: name(),
            total: 7,
            careless: false,
        });
        let items = check_pull(src, sink.clone(), 7, 2, Duration::from_secs(5)).await;
        assert_eq!(items.len(), 7);
        assert_eq!(sink.cursor_of(&name(), "s"), Some(Cursor("7".into())));
    }

    #[tokio::test]
    #[should_panic(expected = "expected 7 committed items")]
    async fn a_source_that_skips_failed_batches_is_caught() {
        let src = Arc::new(Toy {
            name: name(),
            total: 7,
            careless: true,
        });
        check_pull(src, MemorySink::new(), 7, 2, Duration::from_millis(500)).await;
    }

    #[test]
    fn the_sink_keeps_one_record_per_key() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let sink = MemorySink::new();
        rt.block_on(async {
            let b = || Batch {
                items: vec![item(&name(), 1)],
                cursor: None,
            };
            sink.commit(b()).await.expect("commit");
            sink.commit(b()).await.expect("commit");
        });
        assert_eq!(sink.items().len(), 1);
        assert_eq!(sink.duplicates(), 1);
        check_inbound(&sink.items()[0], &name());
    }
}
