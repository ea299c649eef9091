//! The factory keeps the connector contract (`docs/connector-spec.md`).

use aduan_kit::testing::compliance::check_factory;
use aduan_x::XFactory;

#[test]
fn an_account_that_replies_keeps_the_contract() {
    check_factory(
        &XFactory,
        r##"
        user_id = "1500000000000000000"
        handle = "PemkabSiak"
        bearer_token = "bearer"
        consumer_key = "ck"
        consumer_secret = "cs"
        access_token = "at"
        access_token_secret = "ats"
        queries = ["#LaporSiak -is:retweet"]
        "##,
    );
}
