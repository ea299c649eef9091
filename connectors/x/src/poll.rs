//! Polling: mentions and each recent-search query are streams with a `since_id` cursor.
//! A poll follows every page (`pagination_token` / `next_token`), then commits oldest
//! first in batches, each batch with the cursor at its newest id: a crash part-way
//! leaves the cursor at what was committed, and the next poll fetches the rest.

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    AttachmentData, Batch, ChannelName, ConnectorError, Cursor, CursorUpdate, Inbound, InboundKind,
    PullContext, PullSource,
};
use bytes::Bytes;

use crate::api::XApi;
use crate::model::{id_cmp, Page, TweetV2};
use crate::normalize::{Normalizer, TweetView, KIND};

const TWEET_FIELDS: &str = "created_at,conversation_id,referenced_tweets,lang,geo,attachments,author_id,in_reply_to_user_id";
const USER_FIELDS: &str = "username,name";
const MEDIA_FIELDS: &str = "url,preview_image_url,type";
const BATCH: usize = 100;
/// A first poll without a cursor reads at most this many pages.
const MAX_PAGES: usize = 50;

pub struct XPoller {
    pub api: Arc<XApi>,
    pub normalizer: Arc<Normalizer>,
    pub user_id: String,
    pub mentions: bool,
    pub queries: Vec<String>,
    pub poll_interval: Duration,
}

/// One stream to poll.
#[derive(Debug, Clone)]
pub struct Stream {
    pub cursor_name: String,
    pub path: String,
    pub query: Option<String>,
    /// `pagination_token` (timelines) or `next_token` (search).
    pub page_param: &'static str,
}

impl XPoller {
    pub fn streams(&self) -> Vec<Stream> {
        let mut out = Vec::new();
        if self.mentions {
            out.push(Stream {
                cursor_name: "mentions".into(),
                path: format!("/2/users/{}/mentions", self.user_id),
                query: None,
                page_param: "pagination_token",
            });
        }
        for q in &self.queries {
            out.push(Stream {
                cursor_name: format!("search:{q}"),
                path: "/2/tweets/search/recent".into(),
                query: Some(q.clone()),
                page_param: "next_token",
            });
        }
        out
    }

    fn quarantine(&self, name: &ChannelName, body: &Bytes, reason: String) -> Inbound {
        Inbound::quarantined_json(KIND, name.clone(), "page", body.clone(), reason)
    }

    /// Fetches everything newer than the stream's cursor and commits it.
    pub async fn poll_stream(
        &self,
        s: &Stream,
        ctx: &PullContext,
    ) -> Result<usize, ConnectorError> {
        let name = &self.normalizer.channel;
        let since = ctx
            .sink
            .cursor(name, &s.cursor_name)
            .await
            .map_err(|e| ConnectorError::transient(name, e.0))?
            .map(|c| c.0);
        let mut tweets: Vec<(TweetV2, Bytes, TweetView)> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, String)> = vec![
                ("max_results", "100".into()),
                ("tweet.fields", TWEET_FIELDS.into()),
                ("expansions", "author_id,attachments.media_keys".into()),
                ("user.fields", USER_FIELDS.into()),
                ("media.fields", MEDIA_FIELDS.into()),
            ];
            if let Some(query) = &s.query {
                q.push(("query", query.clone()));
            }
            if let Some(since) = &since {
                q.push(("since_id", since.clone()));
            }
            if let Some(t) = &token {
                q.push((s.page_param, t.clone()));
            }
            let body = self.api.get(&s.path, &q).await?;
            let page: Page = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => {
                    // Kept for the admins; the cursor stays, so nothing is skipped.
                    let item = self.quarantine(
                        name,
                        &body,
                        format!("{} answered a body that is not a page: {e}", s.path),
                    );
                    ctx.sink
                        .commit(Batch {
                            items: vec![item],
                            cursor: None,
                        })
                        .await
                        .map_err(|e| ConnectorError::transient(name, e.0))?;
                    return Err(ConnectorError::transient(
                        name,
                        format!("{}: malformed page quarantined", s.path),
                    ));
                }
            };
            for raw in &page.data {
                let bytes = Bytes::copy_from_slice(raw.get().as_bytes());
                match serde_json::from_str::<TweetV2>(raw.get()) {
                    Ok(t) => {
                        let view = TweetView::from_v2(&t, &page.includes);
                        tweets.push((t, bytes, view));
                    }
                    Err(e) => {
                        let item = self.quarantine(
                            name,
                            &bytes,
                            format!("a post that cannot be read: {e}"),
                        );
                        ctx.sink
                            .commit(Batch {
                                items: vec![item],
                                cursor: None,
                            })
                            .await
                            .map_err(|e| ConnectorError::transient(name, e.0))?;
                    }
                }
            }
            token = page.meta.next_token.clone();
            if token.is_none() {
                break;
            }
        }
        // Oldest first, each batch carrying the cursor at its newest post.
        tweets.sort_by(|a, b| id_cmp(&a.0.id, &b.0.id));
        tweets.dedup_by(|a, b| a.0.id == b.0.id);
        let n = tweets.len();
        for chunk in tweets.chunks(BATCH) {
            let mut items = Vec::with_capacity(chunk.len());
            for (t, bytes, view) in chunk {
                let (attachments, missed) = self.download(view).await;
                let mut item = self.normalizer.inbound(view, bytes.clone(), attachments);
                if let InboundKind::Complaint(d) = &mut item.kind {
                    for url in missed {
                        d.body.push_str(&format!("\n[media tidak diunduh: {url}]"));
                    }
                }
                items.push(item);
                let _ = t;
            }
            let newest = chunk.last().map(|c| c.0.id.clone()).unwrap_or_default();
            let deliveries = ctx
                .sink
                .commit(Batch {
                    items,
                    cursor: Some(CursorUpdate {
                        channel_name: name.clone(),
                        stream: s.cursor_name.clone(),
                        cursor: Cursor(newest),
                    }),
                })
                .await
                .map_err(|e| ConnectorError::transient(name, e.0))?;
            if deliveries.iter().any(|d| !d.is_committed()) {
                return Err(ConnectorError::transient(
                    name,
                    "the store asked to retry; polling again",
                ));
            }
        }
        Ok(n)
    }

    /// The media downloaded, and the links (without their query) of those that were
    /// not, so the complaint says what is missing.
    async fn download(&self, view: &TweetView) -> (Vec<AttachmentData>, Vec<String>) {
        let mut out = Vec::new();
        let mut missed = Vec::new();
        for (i, url) in view.media_urls.iter().enumerate() {
            match self.api.media(url).await {
                Ok((content_type, bytes)) => {
                    let ext = url
                        .rsplit('.')
                        .next()
                        .filter(|e| e.len() <= 4)
                        .unwrap_or("bin");
                    out.push(AttachmentData {
                        filename: format!("{}-{}.{ext}", view.id, i + 1),
                        content_type,
                        bytes,
                    });
                }
                Err(e) => {
                    tracing::warn!(channel = %self.normalizer.channel, error = %e, "media not attached");
                    missed.push(url.split('?').next().unwrap_or(url).to_owned());
                }
            }
        }
        (out, missed)
    }
}

#[async_trait::async_trait]
impl PullSource for XPoller {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        let streams = self.streams();
        loop {
            for s in &streams {
                let n = self.poll_stream(s, &ctx).await?;
                if n > 0 {
                    tracing::info!(channel = %self.normalizer.channel, stream = %s.cursor_name, posts = n, "posts read");
                }
            }
            ctx.health.ok();
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }
}
