//! The shapes X sends: API v2 timelines (`data`, `includes`, `meta`), accepting the
//! newer `posts` names beside `tweets`, and the v1.1 tweet objects of Account Activity
//! webhooks. Each tweet keeps its exact bytes (`RawValue`) as the raw original.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A page of `GET /2/users/:id/mentions` or `GET /2/tweets/search/recent`.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub data: Vec<Box<RawValue>>,
    #[serde(default)]
    pub includes: Includes,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Includes {
    #[serde(default)]
    pub users: Vec<UserV2>,
    #[serde(default)]
    pub media: Vec<MediaV2>,
    #[serde(default, alias = "posts")]
    pub tweets: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    pub newest_id: Option<String>,
    pub oldest_id: Option<String>,
    pub result_count: Option<u64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TweetV2 {
    pub id: String,
    #[serde(default)]
    pub text: String,
    pub author_id: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub referenced_tweets: Vec<Reference>,
    pub attachments: Option<Attachments>,
    pub geo: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Attachments {
    #[serde(default)]
    pub media_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserV2 {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaV2 {
    pub media_key: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub url: Option<String>,
    pub preview_image_url: Option<String>,
}

/// An Account Activity webhook call.
#[derive(Debug, Deserialize)]
pub struct ActivityEvent {
    pub for_user_id: Option<String>,
    #[serde(default)]
    pub tweet_create_events: Vec<Box<RawValue>>,
}

/// A v1.1 tweet object (webhooks).
#[derive(Debug, Clone, Deserialize)]
pub struct TweetV1 {
    pub id_str: String,
    #[serde(default)]
    pub text: String,
    pub full_text: Option<String>,
    pub extended_tweet: Option<ExtendedTweet>,
    pub created_at: Option<String>,
    pub in_reply_to_status_id_str: Option<String>,
    pub user: UserV1,
    pub retweeted_status: Option<serde_json::Value>,
    pub entities: Option<EntitiesV1>,
    pub extended_entities: Option<EntitiesV1>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExtendedTweet {
    pub full_text: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserV1 {
    pub id_str: String,
    pub screen_name: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EntitiesV1 {
    #[serde(default)]
    pub media: Vec<MediaV1>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MediaV1 {
    pub media_url_https: Option<String>,
}

/// `Fri Nov 20 02:15:00 +0000 2026`.
pub fn parse_v1_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%a %b %d %H:%M:%S %z %Y")
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Tweet ids are decimal strings of growing length: compare as numbers.
pub fn id_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}
