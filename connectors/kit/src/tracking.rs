//! Tracking numbers: `7KQM-3XW0`, eight characters from Crockford's base-32 alphabet
//! (no I, L, O or U, so nothing reads like another letter or a rude word), the last a
//! Luhn mod 32 check character that catches any single mistyped character and most
//! swapped neighbours. 35 random bits: collisions are checked by the store regardless.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BODY_LEN: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingId(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a tracking number")]
pub struct InvalidTrackingId;

fn value(c: u8) -> Option<u32> {
    // Crockford's decoding: letters that look like digits are read as those digits.
    let c = match c.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        c => c,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Luhn mod N over code points, N = 32.
fn check_char(values: &[u32]) -> u8 {
    let n = ALPHABET.len() as u32;
    let mut factor = 2;
    let mut sum = 0;
    for &v in values.iter().rev() {
        let addend = factor * v;
        sum += addend / n + addend % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    let check = (n - sum % n) % n;
    ALPHABET[check as usize]
}

impl TrackingId {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let values: Vec<u32> = (0..BODY_LEN).map(|_| rng.gen_range(0..32)).collect();
        Self::from_values(&values)
    }

    fn from_values(values: &[u32]) -> Self {
        let mut s = String::with_capacity(9);
        for (i, v) in values.iter().enumerate() {
            if i == 4 {
                s.push('-');
            }
            s.push(ALPHABET[*v as usize] as char);
        }
        s.push(check_char(values) as char);
        Self(s)
    }

    /// Accepts what people type: any case, spaces or hyphens anywhere, O for 0, I or L
    /// for 1. Rejects a wrong check character.
    pub fn parse(input: &str) -> Result<Self, InvalidTrackingId> {
        let chars: Vec<u8> = input
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
            .collect();
        if chars.len() != BODY_LEN + 1 {
            return Err(InvalidTrackingId);
        }
        let values = chars
            .iter()
            .map(|&c| value(c))
            .collect::<Option<Vec<u32>>>()
            .ok_or(InvalidTrackingId)?;
        let (body, check) = values.split_at(BODY_LEN);
        let id = Self::from_values(body);
        if ALPHABET[check[0] as usize] == check_char(body) {
            Ok(id)
        } else {
            Err(InvalidTrackingId)
        }
    }

    /// Finds a tracking number inside free text such as an e-mail subject
    /// (`Re: Air mati [7KQM-3XW0]`).
    pub fn find_in(text: &str) -> Option<Self> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.len() == 9 && w.as_bytes().get(4) == Some(&b'-'))
            .find_map(|w| Self::parse(w).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrackingId {
    type Error = InvalidTrackingId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TrackingId> for String {
    fn from(t: TrackingId) -> Self {
        t.0
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..1000 {
            let id = TrackingId::generate();
            assert_eq!(id.as_str().len(), 9);
            assert_eq!(TrackingId::parse(id.as_str()), Ok(id.clone()));
            assert_eq!(
                TrackingId::parse(&id.as_str().to_lowercase().replace('-', " ")),
                Ok(id)
            );
        }
    }

    #[test]
    fn every_single_substitution_is_caught() {
        let id = TrackingId::generate();
        let s: Vec<u8> = id.as_str().bytes().filter(|b| *b != b'-').collect();
        for pos in 0..s.len() {
            for &c in ALPHABET {
                if c == s[pos] {
                    continue;
                }
                let mut t = s.clone();
                t[pos] = c;
                let t = String::from_utf8(t).unwrap_or_default();
                assert!(TrackingId::parse(&t).is_err(), "{t} accepted for {id}");
            }
        }
    }

    #[test]
    fn lookalike_letters_read_as_digits() {
        let id = TrackingId::from_values(&[0, 1, 1, 0, 5, 6, 7]);
        let typed = id
            .as_str()
            .replacen('0', "o", 1)
            .replacen('1', "l", 1)
            .replacen('1', "I", 1);
        assert_eq!(TrackingId::parse(&typed), Ok(id));
    }

    #[test]
    fn finds_a_number_in_a_subject() {
        let id = TrackingId::generate();
        let subject = format!("Re: Air PDAM mati [{id}]");
        assert_eq!(TrackingId::find_in(&subject), Some(id));
        assert_eq!(TrackingId::find_in("Re: rapat 2026-0101"), None);
    }
}
