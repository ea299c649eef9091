//! The factory keeps the connector contract (`docs/connector-spec.md`).

use aduan_email::EmailFactory;
use aduan_kit::testing::compliance::check_factory;

#[test]
fn an_inbox_that_answers_keeps_the_contract() {
    check_factory(
        &EmailFactory,
        r#"
        host = "imap.example.go.id"
        user = "pengaduan@example.go.id"
        password = "rahasia"
        folders = ["INBOX"]
        smtp = { host = "smtp.example.go.id", tls = "starttls", user = "pengaduan@example.go.id", password = "rahasia", from = "pengaduan@example.go.id" }
        "#,
    );
}
