//! An external form provider's webhook: any bytes as a correctly signed submission (so
//! the JSON mapping and the validation behind the signature check are what is fuzzed).
//! Nothing may panic; an authentic body is never refused, and its item keeps the
//! connector contract.

#![no_main]

use std::sync::LazyLock;

use aduan_fuzz::signed_delivery;
use aduan_kit::signature::sign_hex;
use aduan_kit::testing::check_inbound;
use aduan_kit::ChannelName;
use aduan_webform::fields::Category;
use aduan_webform::{FormRules, WebhookConfig, WebhookHandler};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "rahasia-penyedia-formulir";

static CHANNEL: LazyLock<ChannelName> =
    LazyLock::new(|| ChannelName::parse("formulir-mitra").expect("a valid channel name"));

// Some fields mapped to nested pointers, the others read from the top level under their
// own names (the default), with categories so that check runs too.
static HOOK: LazyLock<WebhookHandler> = LazyLock::new(|| {
    let cfg: WebhookConfig = toml::from_str(&format!(
        r#"
        secret = "{SECRET}"
        id_field = "/submission/id"
        [fields]
        title = "/answers/judul"
        body = "/answers/isi"
        email = "/answers/surel"
        "#
    ))
    .expect("a valid webhook config");
    let rules = FormRules {
        categories: vec![Category {
            slug: "air-bersih".into(),
            label: "Air bersih".into(),
        }],
        ..FormRules::default()
    };
    WebhookHandler::new(CHANNEL.clone(), cfg)
        .expect("a valid webhook handler")
        .with_rules(rules)
});

fuzz_target!(|data: &[u8]| {
    let items = signed_delivery(
        &*HOOK,
        "x-aduan-signature",
        sign_hex(SECRET.as_bytes(), data),
        data,
    );
    assert_eq!(items.len(), 1, "one submission, one item");
    if !data.is_empty() {
        check_inbound(&items[0], &CHANNEL);
    }
});
