//! The X Account Activity webhook: any bytes as a correctly signed event delivery (so the
//! parser behind the signature check is what is fuzzed), and as the `crc_token` of the
//! CRC challenge. Nothing may panic; every item keeps the connector contract.

#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aduan_fuzz::{request, signed_delivery};
use aduan_kit::signature::sign_base64;
use aduan_kit::testing::check_inbound;
use aduan_kit::{ChannelName, PushHandler};
use aduan_x::normalize::DEFAULT_ACK_TEMPLATE;
use aduan_x::webhook::{XWebhook, SIGNATURE_HEADER};
use aduan_x::Normalizer;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const SECRET: &str = "kunci-rahasia-konsumen-contoh";

static CHANNEL: LazyLock<ChannelName> =
    LazyLock::new(|| ChannelName::parse("x").expect("a valid channel name"));

static HOOK: LazyLock<XWebhook> = LazyLock::new(|| XWebhook {
    consumer_secret: SecretString::from(SECRET),
    normalizer: Arc::new(
        Normalizer::new(
            CHANNEL.clone(),
            "1500000000000000000",
            "@PemkabSiak",
            &["@spammer".into(), "1999".into()],
        )
        .with_acknowledgement(DEFAULT_ACK_TEMPLATE.to_owned(), Duration::from_secs(0)),
    ),
});

fuzz_target!(|data: &[u8]| {
    let items = signed_delivery(
        &*HOOK,
        SIGNATURE_HEADER,
        sign_base64(SECRET.as_bytes(), data),
        data,
    );
    // An empty body is kept as an empty original (as an empty e-mail is); the contract
    // asks for one otherwise.
    if !data.is_empty() {
        for item in &items {
            check_inbound(item, &CHANNEL);
        }
    }

    // The CRC challenge with the input as the query string: refused or answered, never
    // a panic.
    let query = String::from_utf8_lossy(data);
    let crc = request(
        http::Method::GET,
        Some(format!("crc_token={query}")),
        None,
        b"",
    );
    let _ = HOOK.handle(&crc);
    let raw = request(http::Method::GET, Some(query.into_owned()), None, b"");
    let _ = HOOK.handle(&raw);
});
