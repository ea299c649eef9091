//! The e-mail channel.
//!
//! This crate holds the wire side, as pure functions with no I/O: turning a raw RFC 5322
//! message into an [`aduan_kit::Inbound`] ([`normalize`]) and recognizing mail that must
//! never be treated as a complaint or answered ([`loops`], RFC 3834). The IMAP intake and
//! SMTP outbound loops are built on top of them.

pub mod loops;
pub mod normalize;

pub use normalize::{Normalizer, KIND};
