//! The WhatsApp channel against a local fake of the Cloud API serving the fixtures
//! (`connectors/whatsapp/tests/fixtures/`) and recording every request ([`fake`]):
//! messages of every type and their media ([`messages`]), threading ([`threads`]),
//! receipts, answers and delivery statuses ([`replies`]), the access token and rate
//! limits ([`credentials`]), and an anonymous reporter's number ([`privacy`]).

mod credentials;
mod fake;
mod messages;
mod privacy;
mod replies;
mod threads;
