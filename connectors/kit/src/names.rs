use std::fmt;

use serde::{Deserialize, Serialize};

/// The configured name of one channel instance (`[[channels]] name = "..."`). It appears
/// in URLs (`/webhooks/{name}`) and in the store's idempotency key, so it is restricted
/// to lowercase ASCII letters, digits, `-` and `_`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelName(String);

#[derive(Debug, thiserror::Error)]
#[error("invalid channel name {0:?}: use 1-64 lowercase letters, digits, '-' or '_'")]
pub struct InvalidName(pub String);

impl ChannelName {
    pub fn parse(s: &str) -> Result<Self, InvalidName> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidName(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChannelName {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ChannelName> for String {
    fn from(n: ChannelName) -> Self {
        n.0
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names_and_rejects_the_rest() {
        assert!(ChannelName::parse("web").is_ok());
        assert!(ChannelName::parse("email-pengaduan_2").is_ok());
        for bad in ["", "Web", "a b", "../x", "ü", &"x".repeat(65)] {
            assert!(ChannelName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
