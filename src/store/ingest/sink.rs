//! The store as connectors see it: attachments staged first (written to files, or
//! hashed to go in with the transaction), then the items committed through the writer.

use aduan_kit::{
    Batch, ChannelName, Cursor, Delivery, InboundKind, Outcome, PublicStatus, Sink, SinkError,
    TrackingId,
};
use tokio::sync::oneshot;

use super::rows::Prepared;
use super::writer::{IngestWriter, Job};
use crate::store::{Fence, Store, StoreError};

/// The store as connectors see it.
#[derive(Clone)]
pub struct StoreSink {
    store: Store,
    writer: IngestWriter,
}

impl StoreSink {
    pub fn new(store: Store, writer: IngestWriter) -> Self {
        Self { store, writer }
    }

    /// Stages attachments, then commits through the writer. Returns per-item deliveries.
    pub async fn ingest(&self, batch: Batch) -> Result<Vec<Delivery>, StoreError> {
        self.ingest_fenced(batch, None).await
    }

    /// [`StoreSink::ingest`] for a batch polled under `fence`: refused whole with
    /// [`StoreError::LeaseLost`] when that lease was taken over.
    pub async fn ingest_fenced(
        &self,
        batch: Batch,
        fence: Option<Fence>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let blobs = self.store.blobs.clone();
        let content_in_tx = blobs.in_transaction();
        let items =
            tokio::task::spawn_blocking(move || -> Result<Vec<Prepared>, std::io::Error> {
                batch
                    .items
                    .into_iter()
                    .map(|item| {
                        let blob_hashes = match &item.kind {
                            InboundKind::Complaint(d) | InboundKind::Edited { draft: d, .. } => d
                                .attachments
                                .iter()
                                .map(|a| blobs.stage(&a.bytes))
                                .collect::<Result<_, _>>()?,
                            _ => Vec::new(),
                        };
                        Ok(Prepared {
                            item,
                            blob_hashes,
                            content_in_tx,
                        })
                    })
                    .collect()
            });
        let cursor = batch.cursor;
        let items = items
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))??;
        let labels: Vec<(String, &'static str)> = items
            .iter()
            .map(|p| (p.item.channel_name.to_string(), p.item.channel))
            .collect();
        let (reply, rx) = oneshot::channel();
        self.writer
            .tx
            .send(Job {
                items,
                cursor,
                fence,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let res = rx.await.map_err(|_| StoreError::WriterStopped)?;
        record_metrics(&labels, &res);
        res
    }
}

fn record_metrics(labels: &[(String, &'static str)], res: &Result<Vec<Delivery>, StoreError>) {
    match res {
        Ok(ds) => {
            for ((name, kind), d) in labels.iter().zip(ds) {
                let outcome = match d {
                    Delivery::Committed {
                        outcome: Outcome::Created,
                        ..
                    } => "created",
                    Delivery::Committed {
                        outcome: Outcome::FollowUp,
                        ..
                    } => "follow_up",
                    Delivery::Committed {
                        outcome: Outcome::Duplicate,
                        ..
                    } => "duplicate",
                    Delivery::Committed {
                        outcome: Outcome::Quarantined,
                        ..
                    } => "quarantined",
                    Delivery::Committed {
                        outcome: Outcome::Ignored,
                        ..
                    } => "ignored",
                    Delivery::Committed {
                        outcome: Outcome::Revised,
                        ..
                    } => "revised",
                    Delivery::Committed {
                        outcome: Outcome::Status,
                        ..
                    } => "status",
                    Delivery::Retry { .. } => "error",
                };
                metrics::counter!("aduan_inbound_total", "channel" => name.clone(), "kind" => *kind, "outcome" => outcome)
                    .increment(1);
            }
        }
        Err(_) => {
            for (name, kind) in labels {
                metrics::counter!("aduan_inbound_total", "channel" => name.clone(), "kind" => *kind, "outcome" => "error")
                    .increment(1);
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for StoreSink {
    async fn commit(&self, batch: Batch) -> Result<Vec<Delivery>, SinkError> {
        self.ingest(batch)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, SinkError> {
        self.store
            .cursor(channel, stream)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn public_status(
        &self,
        tracking_id: &TrackingId,
    ) -> Result<Option<PublicStatus>, SinkError> {
        let report = self
            .store
            .public_report(tracking_id.as_str())
            .await
            .map_err(|e| SinkError(e.to_string()))?;
        Ok(report.map(|r| PublicStatus {
            updated_at: r
                .updates
                .iter()
                .map(|u| u.at)
                .max()
                .unwrap_or(r.received_at),
            tracking_id: r.tracking_id,
            status_label: r.status_label.to_owned(),
            received_at: r.received_at,
        }))
    }
}

impl Store {
    pub async fn cursor(
        &self,
        channel: &ChannelName,
        stream: &str,
    ) -> Result<Option<Cursor>, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM cursors WHERE channel_name = $1 AND stream = $2")
                .bind(channel.as_str())
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.map(Cursor))
    }
}
