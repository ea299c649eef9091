//! The factory keeps the connector contract (`docs/connector-spec.md`), for both shapes
//! of the channel: the public form and an external provider's webhook.

use aduan_kit::testing::compliance::check_factory;
use aduan_webform::WebformFactory;

#[test]
fn the_public_form_keeps_the_contract() {
    check_factory(&WebformFactory, "");
}

#[test]
fn a_form_provider_webhook_keeps_the_contract() {
    check_factory(
        &WebformFactory,
        r#"
        secret = "a-shared-secret-of-some-length"
        id_field = "/submission/id"
        public_form = false
        "#,
    );
}
