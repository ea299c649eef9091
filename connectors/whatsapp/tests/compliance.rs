//! The factory keeps the connector contract (`docs/connector-spec.md`).

use aduan_kit::testing::compliance::check_factory;
use aduan_whatsapp::WhatsAppFactory;

#[test]
fn a_number_with_its_webhook_and_template_keeps_the_contract() {
    check_factory(
        &WhatsAppFactory,
        r#"
        phone_number_id = "106540000000001"
        access_token = "access-token"
        app_secret = "app-secret"
        verify_token = "verify-token"
        template_name = "status_laporan"
        "#,
    );
}
