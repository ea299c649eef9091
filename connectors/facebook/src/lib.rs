//! The Facebook channel (work in progress): the Page webhook's verification handshake
//! and signatures, and the normalization of feed comments, visitor posts and Messenger
//! messages. Polling, replies and the channel factory come next.

pub mod normalize;
pub mod webhook;

pub use normalize::{Normalizer, KIND};
pub use webhook::FacebookWebhook;
