//! Polling, the fallback for Pages without webhooks and the catch-up after downtime:
//!
//! * `feed`: the Page's posts of the last `lookback_days` (visitor posts are
//!   complaints), and the comments under each, newer than the stream's cursor;
//! * `messenger`: conversations updated since the cursor, and their new messages.
//!
//! Every listing follows `paging.next` until it is absent. Items are committed oldest
//! first in batches, each with the cursor at its newest time; the cursor is read back
//! with an overlap, and the store's idempotency makes the overlap (and anything the
//! webhook already delivered) a duplicate, not a second complaint.

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    AttachmentData, Batch, ConnectorError, Cursor, CursorUpdate, Inbound, InboundKind, PullContext,
    PullSource,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::GraphApi;
use crate::normalize::{attachment_links, graph_time, Normalizer, KIND};

const BATCH: usize = 100;
/// A listing reads at most this many pages per poll.
const MAX_PAGES: usize = 50;
/// Cursors are read back this much earlier: Graph's `since` and clocks are coarse.
const OVERLAP_SECS: i64 = 300;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<Box<RawValue>>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<String>,
}

#[derive(Deserialize)]
struct Conversation {
    messages: Option<Page>,
}

/// One object of a listing: its exact bytes and its parsed value.
struct Obj {
    raw: Bytes,
    value: Value,
}

pub struct FacebookPoller {
    pub api: Arc<GraphApi>,
    pub normalizer: Arc<Normalizer>,
    pub lookback: Duration,
    pub messenger: bool,
    pub poll_interval: Duration,
}

/// Downloads what a message links to; a failure leaves the link in the text, and is
/// returned (the link without its query) so the text can say it was not downloaded.
pub async fn fetch_attachments(
    api: &GraphApi,
    id: &str,
    links: &[(String, String)],
) -> (Vec<AttachmentData>, Vec<String>) {
    let mut out = Vec::new();
    let mut missed = Vec::new();
    for (i, (_, url)) in links.iter().enumerate() {
        match api.download(url).await {
            Ok((content_type, bytes)) => {
                let ext = match content_type.split(';').next().unwrap_or("").trim() {
                    "image/jpeg" => "jpg",
                    "image/png" => "png",
                    "image/gif" => "gif",
                    "image/webp" => "webp",
                    "video/mp4" => "mp4",
                    "audio/mpeg" => "mp3",
                    "application/pdf" => "pdf",
                    _ => "bin",
                };
                out.push(AttachmentData {
                    filename: format!("{}-{}.{ext}", id.replace(['/', '\\'], "_"), i + 1),
                    content_type,
                    bytes,
                });
            }
            Err(e) => {
                tracing::warn!(channel = %api.name, error = %e, "attachment not downloaded; its link stays in the text");
                missed.push(url.split('?').next().unwrap_or(url).to_owned());
            }
        }
    }
    (out, missed)
}

/// Adds the downloaded attachments of a Messenger message to its complaint draft.
pub async fn attach(api: &GraphApi, item: &mut Inbound, message: &Value) {
    let links = attachment_links(message);
    if links.is_empty() {
        return;
    }
    let (files, missed) = fetch_attachments(api, &item.external_id, &links).await;
    if let InboundKind::Complaint(d) = &mut item.kind {
        d.attachments.extend(files);
        for url in missed {
            d.body
                .push_str(&format!("\n[lampiran tidak diunduh: {url}]"));
        }
    }
}

impl FacebookPoller {
    fn channel(&self) -> &aduan_kit::ChannelName {
        &self.normalizer.channel
    }

    async fn quarantine(&self, ctx: &PullContext, body: &Bytes, reason: String) -> ConnectorError {
        let item =
            Inbound::quarantined_json(KIND, self.channel().clone(), "page", body.clone(), reason);
        if let Err(e) = ctx
            .sink
            .commit(Batch {
                items: vec![item],
                cursor: None,
            })
            .await
        {
            return ConnectorError::transient(self.channel(), e.0);
        }
        ConnectorError::transient(self.channel(), "a malformed Graph page was quarantined")
    }

    /// Every object of a listing, following `paging.next`; `first` reads the first
    /// page's listing out of its body (a conversation nests its messages). Stops early
    /// once `enough` says the rest is older than wanted.
    async fn walk(
        &self,
        ctx: &PullContext,
        path: &str,
        query: &[(&str, String)],
        nested: bool,
        enough: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Obj>, ConnectorError> {
        let mut out = Vec::new();
        let mut body = self.api.get(path, query).await?;
        for n in 0..MAX_PAGES {
            let page = if nested && n == 0 {
                serde_json::from_slice::<Conversation>(&body).map(|c| c.messages)
            } else {
                serde_json::from_slice::<Page>(&body).map(Some)
            };
            let page = match page {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    return Err(self
                        .quarantine(
                            ctx,
                            &body,
                            format!("{path} answered a body that is not a listing: {e}"),
                        )
                        .await)
                }
            };
            let mut stop = false;
            for raw in page.data {
                let bytes = Bytes::copy_from_slice(raw.get().as_bytes());
                match serde_json::from_str::<Value>(raw.get()) {
                    Ok(value) => {
                        stop |= enough(&value);
                        out.push(Obj { raw: bytes, value });
                    }
                    Err(e) => {
                        return Err(self
                            .quarantine(ctx, &bytes, format!("an object that cannot be read: {e}"))
                            .await)
                    }
                }
            }
            match page.paging.and_then(|p| p.next) {
                Some(next) if !stop => body = self.api.get_next(&next).await?,
                _ => break,
            }
        }
        Ok(out)
    }

    /// The oldest time polling looks at (Unix seconds): `lookback` ago.
    fn floor(&self) -> i64 {
        Utc::now().timestamp() - i64::try_from(self.lookback.as_secs()).unwrap_or(i64::MAX / 2)
    }

    /// Where a stream resumes: its cursor less the overlap, never before the floor.
    async fn since(&self, ctx: &PullContext, stream: &str) -> Result<i64, ConnectorError> {
        let floor = self.floor();
        let cursor = ctx
            .sink
            .cursor(self.channel(), stream)
            .await
            .map_err(|e| ConnectorError::transient(self.channel(), e.0))?
            .and_then(|c| c.0.parse::<i64>().ok());
        Ok(match cursor {
            Some(c) => (c - OVERLAP_SECS).max(floor),
            None => floor,
        })
    }

    /// Posts and comments newer than the `feed` cursor.
    pub async fn poll_feed(&self, ctx: &PullContext) -> Result<usize, ConnectorError> {
        let since = self.since(ctx, "feed").await?;
        let floor = self.floor();
        let page = self.normalizer.page_id().to_owned();
        let posts = self
            .walk(
                ctx,
                &format!("{page}/feed"),
                &[
                    ("fields", "id,message,created_time,from".into()),
                    ("since", floor.to_string()),
                    ("limit", "100".into()),
                ],
                false,
                |_| false,
            )
            .await?;
        let mut items = Vec::new();
        for post in &posts {
            let Some(post_id) = post.value["id"].as_str() else {
                continue;
            };
            if let Some(item) = self.normalizer.polled_post(&post.value, &post.raw) {
                if item.received_at.timestamp() >= since {
                    items.push(item);
                }
            }
            let comments = self
                .walk(
                    ctx,
                    &format!("{post_id}/comments"),
                    &[
                        ("fields", "id,message,created_time,from,parent{id}".into()),
                        ("filter", "stream".into()),
                        ("order", "reverse_chronological".into()),
                        ("since", since.to_string()),
                        ("limit", "100".into()),
                    ],
                    false,
                    |c| graph_time(&c["created_time"]).is_some_and(|t| t.timestamp() < since),
                )
                .await?;
            for c in &comments {
                if let Some(item) = self.normalizer.polled_comment(&c.value, post_id, &c.raw) {
                    if item.received_at.timestamp() >= since {
                        items.push(item);
                    }
                }
            }
        }
        self.commit(ctx, "feed", items).await
    }

    /// Messenger messages newer than the `messenger` cursor.
    pub async fn poll_messenger(&self, ctx: &PullContext) -> Result<usize, ConnectorError> {
        let since = self.since(ctx, "messenger").await?;
        let page = self.normalizer.page_id().to_owned();
        let older = move |v: &Value, field: &str| {
            graph_time(&v[field]).is_some_and(|t| t.timestamp() < since)
        };
        let conversations = self
            .walk(
                ctx,
                &format!("{page}/conversations"),
                &[
                    ("platform", "messenger".into()),
                    ("fields", "id,updated_time".into()),
                    ("limit", "50".into()),
                ],
                false,
                |c| older(c, "updated_time"),
            )
            .await?;
        let mut items = Vec::new();
        for conv in &conversations {
            let Some(id) = conv.value["id"].as_str() else {
                continue;
            };
            if older(&conv.value, "updated_time") {
                continue;
            }
            let messages = self
                .walk(
                    ctx,
                    id,
                    &[(
                        "fields",
                        "messages.limit(100){id,created_time,from,message,attachments}".into(),
                    )],
                    true,
                    |m| older(m, "created_time"),
                )
                .await?;
            for m in &messages {
                if older(&m.value, "created_time") {
                    continue;
                }
                if let Some(mut item) = self.normalizer.polled_message(&m.value, &m.raw) {
                    attach(&self.api, &mut item, &m.value).await;
                    items.push(item);
                }
            }
        }
        self.commit(ctx, "messenger", items).await
    }

    /// Commits oldest first, each batch with the stream's cursor at its newest time.
    async fn commit(
        &self,
        ctx: &PullContext,
        stream: &str,
        mut items: Vec<Inbound>,
    ) -> Result<usize, ConnectorError> {
        items.sort_by_key(|i| i.received_at);
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| seen.insert(i.external_id.clone()));
        let n = items.len();
        let mut rest = items.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Inbound> = rest.by_ref().take(BATCH).collect();
            let newest: DateTime<Utc> = chunk
                .iter()
                .map(|i| i.received_at)
                .max()
                .unwrap_or_else(Utc::now);
            let deliveries = ctx
                .sink
                .commit(Batch {
                    items: chunk,
                    cursor: Some(CursorUpdate {
                        channel_name: self.channel().clone(),
                        stream: stream.to_owned(),
                        cursor: Cursor(newest.timestamp().to_string()),
                    }),
                })
                .await
                .map_err(|e| ConnectorError::transient(self.channel(), e.0))?;
            if deliveries.iter().any(|d| !d.is_committed()) {
                return Err(ConnectorError::transient(
                    self.channel(),
                    "the store asked to retry; polling again",
                ));
            }
        }
        Ok(n)
    }
}

#[async_trait::async_trait]
impl PullSource for FacebookPoller {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        loop {
            let feed = self.poll_feed(&ctx).await?;
            let messages = if self.messenger {
                self.poll_messenger(&ctx).await?
            } else {
                0
            };
            if feed + messages > 0 {
                tracing::info!(channel = %self.channel(), feed, messages, "Facebook items read");
            }
            ctx.health.ok();
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }
}
