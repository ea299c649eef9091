//! The Telegram channel against a local fake of the Bot API serving the fixtures
//! (`connectors/telegram/tests/fixtures/`) and recording every call ([`fake`]): the
//! webhook ([`webhook`]), `getUpdates` ([`polling`]), the outbox's sends ([`sending`])
//! and the token ([`credentials`]).

mod credentials;
mod fake;
mod polling;
mod privacy;
mod sending;
mod webhook;
