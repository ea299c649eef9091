//! The Facebook Page webhook: any bytes as a correctly signed delivery (so the parser
//! behind `X-Hub-Signature-256` is what is fuzzed), and as the query of the `hub.*`
//! subscription handshake. Nothing may panic; every item keeps the connector contract.

#![no_main]

use std::sync::{Arc, LazyLock};

use aduan_facebook::normalize::{Normalizer, DEFAULT_ACK_TEMPLATE};
use aduan_facebook::webhook::{FacebookWebhook, SIGNATURE_HEADER};
use aduan_fuzz::{request, signed_delivery};
use aduan_kit::signature::sign_hex;
use aduan_kit::testing::check_inbound;
use aduan_kit::{ChannelName, PushHandler, PushReply};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const APP_SECRET: &str = "rahasia-aplikasi-contoh";
const VERIFY_TOKEN: &str = "token-verifikasi-siak";

static CHANNEL: LazyLock<ChannelName> =
    LazyLock::new(|| ChannelName::parse("fb").expect("a valid channel name"));

static HOOK: LazyLock<FacebookWebhook> = LazyLock::new(|| FacebookWebhook {
    app_secret: SecretString::from(APP_SECRET),
    verify_token: SecretString::from(VERIFY_TOKEN),
    normalizer: Arc::new(
        Normalizer::new(CHANNEL.clone(), "104500000000001")
            .with_acknowledgement(DEFAULT_ACK_TEMPLATE.to_owned()),
    ),
    // No downloads: a push handler's `handle` does no I/O.
    api: None,
});

fuzz_target!(|data: &[u8]| {
    let items = signed_delivery(
        &*HOOK,
        SIGNATURE_HEADER,
        sign_hex(APP_SECRET.as_bytes(), data),
        data,
    );
    // An empty body is kept as an empty original (as an empty e-mail is); the contract
    // asks for one otherwise.
    if !data.is_empty() {
        for item in &items {
            check_inbound(item, &CHANNEL);
        }
    }

    // The handshake: the input as the whole query, and as the challenge of an otherwise
    // correct one, which must be answered.
    let query = String::from_utf8_lossy(data);
    let _ = HOOK.handle(&request(
        http::Method::GET,
        Some(query.to_string()),
        None,
        b"",
    ));
    let handshake = format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge={}",
        query.replace('&', "")
    );
    match HOOK.handle(&request(http::Method::GET, Some(handshake), None, b"")) {
        Ok(PushReply::Respond { status: 200, .. }) => {}
        other => panic!("a correct handshake was not answered: {other:?}"),
    }
});
