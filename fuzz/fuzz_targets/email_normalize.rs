//! Any bytes as a raw e-mail message: the normalizer must not panic, must keep the raw
//! original byte for byte, and must end with an item that keeps the connector contract
//! (a complaint with text, or a quarantine/ignore with its reason).

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use aduan_email::config::DEFAULT_ACK_TEMPLATE;
use aduan_email::Normalizer;
use aduan_kit::testing::check_inbound;
use aduan_kit::ChannelName;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

static CHANNEL: LazyLock<ChannelName> =
    LazyLock::new(|| ChannelName::parse("email-pengaduan").expect("a valid channel name"));

// As the daemon builds it, with a receipt template so the receipt is built too.
static NORMALIZER: LazyLock<Normalizer> = LazyLock::new(|| {
    Normalizer::new(
        CHANNEL.clone(),
        Some("aduan.test".into()),
        vec!["pengaduan@aduan.test".into()],
    )
    .with_acknowledgement(DEFAULT_ACK_TEMPLATE.to_owned(), Duration::from_secs(3600))
});

fuzz_target!(|data: &[u8]| {
    let received_at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let item = NORMALIZER.normalize(data, received_at);
    assert_eq!(item.raw.bytes.as_ref(), data, "raw original not kept");
    // A zero-byte message has a zero-byte original; the contract asks for one otherwise.
    if !data.is_empty() {
        check_inbound(&item, &CHANNEL);
    }
});
