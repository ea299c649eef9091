//! The Facebook channel against a local fake of the Graph API serving the fixtures
//! (`connectors/facebook/tests/fixtures/`) and recording every request ([`fake`]):
//! Page comments ([`comments`]), Messenger ([`messenger`]), and the Page token
//! ([`credentials`]).

mod comments;
mod credentials;
mod fake;
mod messenger;
