//! The X channel against a local fake of X API v2 serving the fixtures
//! (`tests/fixtures/x/`) and recording every request ([`fake`]): polling mentions
//! ([`polling`]), the Account Activity webhook ([`webhook`]), media ([`media`]) and
//! the credentials ([`credentials`]).

mod credentials;
mod fake;
mod media;
mod polling;
mod webhook;
