//! The factory keeps the connector contract (`docs/connector-spec.md`), in both modes.

use aduan_kit::testing::compliance::check_factory;
use aduan_telegram::TelegramFactory;

#[test]
fn a_bot_on_its_webhook_keeps_the_contract() {
    check_factory(
        &TelegramFactory,
        r#"
        bot_token = "7000000001:AAHrahasia-contoh"
        webhook_secret = "rahasia_webhook-1"
        "#,
    );
}

#[test]
fn a_bot_polling_getupdates_keeps_the_contract() {
    check_factory(
        &TelegramFactory,
        r#"
        bot_token = "7000000001:AAHrahasia-contoh"
        mode = "polling"
        bot_username = "lapor_pemda_bot"
        "#,
    );
}
