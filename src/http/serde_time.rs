//! Times in the API's JSON, as chrono's own `Serialize` writes them (RFC 3339 in UTC with
//! `Z`, and 0, 3, 6 or 9 fractional digits, as many as the time needs), for fields marked
//! `#[serde(serialize_with = "crate::http::serde_time::rfc3339")]` (or
//! `serde_time::rfc3339_option`). chrono hands its digits to the serializer one
//! character at a time, and serde_json runs each through its escaping, for each of the
//! dozens of times on a page of the queue. Here the time is formatted first and written
//! as one string.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

pub fn rfc3339_option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The API's times are written exactly as chrono's own `Serialize` writes them, for
    /// every precision, before 1970, and past the years RFC 3339 covers.
    #[test]
    fn times_are_written_as_chrono_writes_them() {
        #[derive(serde::Serialize)]
        struct Ours {
            #[serde(serialize_with = "rfc3339")]
            at: DateTime<Utc>,
            #[serde(serialize_with = "rfc3339_option")]
            maybe: Option<DateTime<Utc>>,
        }
        #[derive(serde::Serialize)]
        struct Chronos {
            at: DateTime<Utc>,
            maybe: Option<DateTime<Utc>>,
        }
        let base = Utc
            .with_ymd_and_hms(2026, 11, 29, 3, 4, 5)
            .single()
            .expect("a time");
        let mut times = vec![
            base,
            DateTime::<Utc>::UNIX_EPOCH,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59)
                .single()
                .expect("a time"),
            Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0)
                .single()
                .expect("a time"),
            Utc.with_ymd_and_hms(-5, 6, 7, 8, 9, 10)
                .single()
                .expect("a time"),
        ];
        for nanos in [
            1,
            7_000,
            120_000,
            999_999_999,
            500_000_000,
            123_456_000,
            123_456_789,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
            times
                .push(crate::store::from_micros(-1_234_567) + chrono::Duration::nanoseconds(nanos));
        }
        for at in times {
            for maybe in [None, Some(at)] {
                let ours = serde_json::to_string(&Ours { at, maybe }).expect("json");
                let chronos = serde_json::to_string(&Chronos { at, maybe }).expect("json");
                assert_eq!(ours, chronos, "{at:?}");
            }
        }
    }
}
