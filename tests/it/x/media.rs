//! Media a post links to: left out when too big, and never downloaded over plain http,
//! from a host not on the list, or through a redirect to loopback; the post is filed
//! all the same.

use std::time::Duration;

use super::fake::{app_with, FakeX};
use crate::harness::Backend;

/// A photo over `max_media_bytes` is left out; the post is filed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_media_is_left_out_and_the_post_filed() {
    assert!(crate::api::PNG.len() > 16);
    let fake = FakeX::start().await;
    let app = app_with(Backend::Sqlite, &fake, "max_media_bytes = 16").await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await
    );
    assert!(
        fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "the download was tried"
    );
    let rec = app.complaint_from("1865000000000000103").await;
    assert!(rec.attachments.is_empty());
    assert_eq!(app.blob_files(), 0);
    app.stop().await;
}

/// Media a post links to that is not on an allowed https host is not downloaded: the
/// post is filed all the same, says which media is missing, and nothing is stored.
async fn media_refused(fake: &FakeX, extra: &str, what: &str) {
    let app = app_with(Backend::Sqlite, fake, extra).await;
    assert!(
        app.await_count("complaints", 3, Duration::from_secs(15))
            .await,
        "{what}: the posts are filed"
    );
    let rec = app.complaint_from("1865000000000000103").await;
    assert!(rec.attachments.is_empty(), "{what}: {:?}", rec.attachments);
    assert!(
        rec.body.contains("[media tidak diunduh: ")
            && rec.body.contains("/media/example-lampu.jpg]"),
        "{what}: {}",
        rec.body
    );
    assert_eq!(app.blob_files(), 0, "{what}");
    assert!(
        !fake.seen().iter().any(|s| s.path.starts_with("/media/")),
        "{what}: the media was fetched"
    );
    let health = app.health("x-siak").snapshot();
    assert!(health.healthy, "{what}: the channel goes on: {health:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_over_plain_http_is_not_downloaded() {
    let fake = FakeX::start().await;
    media_refused(&fake, "media_hosts = [\"127.0.0.1\"]", "http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_from_a_host_not_on_the_list_is_not_downloaded() {
    let fake = FakeX::start().await;
    media_refused(
        &fake,
        "media_hosts = [\"pbs.twimg.com\"]\ninsecure_local_media_for_tests = true",
        "host not listed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_redirect_to_loopback_is_not_followed() {
    let fake = FakeX::start().await;
    fake.media_via_redirect();
    media_refused(
        &fake,
        "media_hosts = [\"localhost\"]\ninsecure_local_media_for_tests = true",
        "redirect",
    )
    .await;
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.path.starts_with("/redirect/media/")),
        "the first hop was asked"
    );
}
