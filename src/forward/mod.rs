//! Forwarding: telling other systems what happens to complaints (`[[forwarders]]`).
//!
//! Events are recorded in the transaction that makes them (`store::forwards`). The
//! pump here fans each out to the forwarders that want it (by event, category, unit,
//! rahasia) as one delivery each, then delivers those as the outbox delivers replies:
//! claimed under a lease (so several instances share the work and a dead one's rows
//! are taken over), retried with backoff, and left `failed`, with the reason, for an
//! operator to see and retry (`/api/v1/forwards`). A delivery is marked sent only
//! after the other system accepted it; a crash in between sends it again, with the
//! same event id, which receivers use to drop what they already have.

mod config;
mod open311;
mod payload;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use aduan_kit::fetch::{endpoint_client, FetchPolicy};
use aduan_kit::ErrorKind;
use tokio_util::sync::CancellationToken;

pub use config::{ForwarderConfig, ForwarderKind};
pub use payload::event_payload;
pub use webhook::{sign, verify};

use crate::config::OutboxConfig;
use crate::store::{ForwardKind, ForwardResult, ForwardRow, PendingEvent, Store};

/// Why a delivery did not go through, and whether trying again may help.
#[derive(Debug)]
pub struct SendError {
    pub kind: ErrorKind,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl SendError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            message: message.into(),
            retry_after: None,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            message: message.into(),
            retry_after: None,
        }
    }

    /// What an HTTP answer other than success means for the delivery: 408, 425, 429
    /// and 5xx may pass (with the server's Retry-After); a redirect or another 4xx will
    /// not, until someone changes the configuration or the other system.
    fn from_status(res: &reqwest::Response, detail: &str) -> Self {
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        if status.is_redirection() {
            return Self::permanent(format!(
                "answered {status} (a redirect, not followed); configure the address it names{detail}"
            ));
        }
        let kind = if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
            ErrorKind::Transient
        } else {
            ErrorKind::Permanent
        };
        Self {
            kind,
            message: format!("answered {status}{detail}"),
            retry_after,
        }
    }
}

/// A reqwest error and its causes, without the URL (a query string may carry a key).
fn describe(e: reqwest::Error) -> String {
    aduan_kit::fetch::describe(&e.without_url())
}

/// One configured forwarder, ready to send.
pub struct Forwarder {
    pub cfg: ForwarderConfig,
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl Forwarder {
    pub fn new(cfg: ForwarderConfig) -> Result<Self, String> {
        if cfg.insecure_local_http_for_tests {
            tracing::warn!(forwarder = %cfg.name, "insecure_local_http_for_tests is on: plain http to loopback");
        }
        let (_, policy) = cfg.endpoint()?;
        let client = endpoint_client(&policy, Duration::from_secs(cfg.timeout_secs))?;
        Ok(Self {
            cfg,
            client,
            policy,
        })
    }

    /// The checked URL to send to (`path` appended to the configured one).
    fn url(&self, path: &str) -> Result<reqwest::Url, SendError> {
        let text = format!("{}{path}", self.cfg.url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&text).map_err(|e| SendError::permanent(e.to_string()))?;
        self.policy.check(&url).map_err(SendError::permanent)?;
        Ok(url)
    }

    async fn send(
        &self,
        store: &Store,
        public_url: &str,
        row: &ForwardRow,
    ) -> Result<Option<String>, SendError> {
        let (complaint, answer) = store
            .forward_subject(row.complaint_id)
            .await
            .map_err(|e| SendError::transient(format!("cannot read the complaint: {e}")))?;
        match self.cfg.kind {
            ForwarderKind::Webhook => {
                let body = event_payload(&self.cfg, public_url, row, &complaint, answer.as_ref());
                webhook::post(self, row, &body).await.map(|()| None)
            }
            ForwarderKind::Open311 => open311::file(self, &complaint).await.map(Some),
        }
    }
}

/// The forwarders of this daemon and their pump.
pub struct Forwarding {
    store: Store,
    forwarders: HashMap<String, Forwarder>,
    cfg: OutboxConfig,
    public_url: String,
}

impl Forwarding {
    pub fn new(
        store: Store,
        configs: Vec<ForwarderConfig>,
        cfg: OutboxConfig,
        public_url: &str,
    ) -> Result<Self, String> {
        let mut forwarders = HashMap::new();
        for c in configs {
            let name = c.name.clone();
            let f = Forwarder::new(c).map_err(|e| format!("forwarder {name}: {e}"))?;
            forwarders.insert(name, f);
        }
        // Recording `complaint.filed` costs every intake a statement: only when wanted.
        store.record_filed_events(
            forwarders
                .values()
                .any(|f| f.cfg.events().contains(&ForwardKind::Filed)),
        );
        Ok(Self {
            store,
            forwarders,
            cfg,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The names of the forwarders that want `e`.
    fn route(&self, e: &PendingEvent) -> Vec<String> {
        let mut names: Vec<String> = self
            .forwarders
            .values()
            .filter(|f| {
                f.cfg.wants(
                    e.kind,
                    e.category.as_deref(),
                    e.unit.as_deref(),
                    e.confidential,
                )
            })
            .map(|f| f.cfg.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Runs until `shutdown`; a send in progress is finished, not abandoned.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::dispatch::rounds("forwarding", &shutdown, self.cfg.poll(), None, || {
            self.tick()
        })
        .await
    }

    /// Fans out one round of events and delivers one round of due deliveries; returns
    /// how many of both it handled.
    pub async fn tick(&self) -> Result<usize, crate::store::StoreError> {
        let fanned = self
            .store
            .fan_out_forward_events(100, |e| self.route(e))
            .await?;
        if self.forwarders.is_empty() {
            return Ok(fanned);
        }
        let rows = self
            .store
            .claim_forwards(64, self.cfg.lease_until())
            .await?;
        let n = rows.len();
        // The claim holds back a complaint's later events while an earlier one is open,
        // so what it returns can go at once; what became of them is recorded together.
        let results = futures::future::join_all(rows.iter().map(|r| self.deliver(r))).await;
        if let Err(e) = self.store.record_forwards(&results).await {
            // Sent but not recorded: the leases run out and those go again, with the
            // same event ids, which receivers drop.
            tracing::error!(error = %e, deliveries = n, "forwarding: could not record a round of deliveries");
            return Err(e);
        }
        for (row, r) in rows.iter().zip(&results) {
            let result = match r {
                ForwardResult::Sent { .. } => "sent",
                ForwardResult::Failed {
                    retry_at: Some(_), ..
                } => "retry",
                ForwardResult::Failed { retry_at: None, .. } => "failed",
            };
            metrics::counter!("aduan_forward_total", "forwarder" => row.forwarder.clone(), "result" => result)
                .increment(1);
        }
        Ok(fanned + n)
    }

    /// Delivers one row; what became of it.
    async fn deliver(&self, row: &ForwardRow) -> ForwardResult {
        let Some(f) = self.forwarders.get(&row.forwarder) else {
            return self.failed(
                row,
                SendError::permanent(format!("no forwarder {} is configured", row.forwarder)),
            );
        };
        let limit = self.cfg.send_limit();
        match tokio::time::timeout(limit, f.send(&self.store, &self.public_url, row)).await {
            Ok(Ok(external_id)) => ForwardResult::Sent {
                id: row.id,
                external_id,
            },
            Ok(Err(e)) => self.failed(row, e),
            Err(_) => self.failed(
                row,
                SendError::transient(format!("no answer within {limit:?}")),
            ),
        }
    }

    fn failed(&self, row: &ForwardRow, e: SendError) -> ForwardResult {
        let retry_at = self.cfg.next_attempt(e.kind, row.attempts, e.retry_after);
        let result = if retry_at.is_none() {
            "failed"
        } else {
            "retry"
        };
        tracing::warn!(forward_id = row.id, forwarder = %row.forwarder, event = row.event.as_str(),
            attempt = row.attempts, error = %e.message, result, "forwarding: delivery failed");
        ForwardResult::Failed {
            id: row.id,
            error: e.message,
            retry_at,
        }
    }
}
