//! Times as the database holds them: microseconds since the Unix epoch, in UTC, the
//! same integer on both back ends.

use chrono::{DateTime, TimeZone, Utc};

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

pub fn now_micros() -> i64 {
    micros(Utc::now())
}
