//! The factory keeps the connector contract (`docs/connector-spec.md`).

use aduan_facebook::FacebookFactory;
use aduan_kit::testing::compliance::check_factory;

#[test]
fn a_page_with_webhook_and_polling_keeps_the_contract() {
    check_factory(
        &FacebookFactory,
        r#"
        page_id = "104500000000001"
        page_access_token = "page-token"
        app_secret = "app-secret"
        verify_token = "verify-token"
        poll = true
        messenger = true
        "#,
    );
}
