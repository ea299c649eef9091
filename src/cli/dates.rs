//! Dates as legacy complaint registers write them: `05/12/2026`, `5-12-2026`,
//! `5 Desember 2026`, `Sabtu, 5 Des 2026 14.30`, `2026-12-05T14:30:00+07:00`, each with an
//! optional time. A time without a zone is Jakarta time (WIB, UTC+7).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Month names, Indonesian and English, full and short (lower case).
const MONTHS: [(&str, u32); 30] = [
    ("januari", 1),
    ("january", 1),
    ("jan", 1),
    ("februari", 2),
    ("february", 2),
    ("feb", 2),
    ("maret", 3),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("mei", 5),
    ("may", 5),
    ("juni", 6),
    ("june", 6),
    ("jun", 6),
    ("juli", 7),
    ("july", 7),
    ("jul", 7),
    ("agustus", 8),
    ("august", 8),
    ("agu", 8),
    ("agt", 8),
    ("aug", 8),
    ("september", 9),
    ("sep", 9),
    ("oktober", 10),
    ("october", 10),
    ("november", 11),
    ("desember", 12),
];

fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.').to_lowercase();
    match w.as_str() {
        "sept" => Some(9),
        "okt" | "oct" => Some(10),
        "nov" => Some(11),
        "des" | "dec" | "december" => Some(12),
        _ => MONTHS.iter().find(|(n, _)| *n == w).map(|(_, m)| *m),
    }
}

/// The instant a legacy date names, or `None` when it is not one of the forms above.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // A weekday before a comma ("Sabtu, 5 Desember 2026") and a trailing WIB say nothing
    // more.
    let s = match s.split_once(',') {
        Some((day, rest)) if day.chars().all(char::is_alphabetic) => rest.trim(),
        _ => s,
    };
    let s = s
        .strip_suffix("WIB")
        .or_else(|| s.strip_suffix("wib"))
        .unwrap_or(s)
        .trim();
    let (date, time) = split_time(s)?;
    let local = NaiveDateTime::new(date, time);
    FixedOffset::east_opt(7 * 3600)?
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The date and the time (midnight when none is given).
fn split_time(s: &str) -> Option<(NaiveDate, NaiveTime)> {
    let midnight = NaiveTime::MIN;
    // ISO with a `T`, or a date then a time after a space ("pukul" allowed between).
    if let Some((d, t)) = s.split_once('T') {
        if let (Some(d), Some(t)) = (numeric_date(d), time(t)) {
            return Some((d, t));
        }
    }
    let words: Vec<&str> = s
        .split_whitespace()
        .filter(|w| !w.eq_ignore_ascii_case("pukul") && !w.eq_ignore_ascii_case("jam"))
        .collect();
    match words.as_slice() {
        [d] => Some((numeric_date(d)?, midnight)),
        [d, t] => Some((numeric_date(d)?, time(t)?)),
        [day, mon, year] => Some((named_date(day, mon, year)?, midnight)),
        [day, mon, year, t] => Some((named_date(day, mon, year)?, time(t)?)),
        _ => None,
    }
}

/// `2026-12-05`, `05/12/2026`, `5-12-2026`, `5.12.2026` (day first unless the year is).
fn numeric_date(s: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let num = |p: &str| -> Option<u32> {
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let (y, m, d) = if a.len() == 4 {
        (num(a)?, num(b)?, num(c)?)
    } else if c.len() == 4 {
        (num(c)?, num(b)?, num(a)?)
    } else {
        return None;
    };
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `5 Desember 2026`, `05 Des 2026`.
fn named_date(day: &str, mon: &str, year: &str) -> Option<NaiveDate> {
    let d: u32 = day.parse().ok()?;
    let y: i32 = year.parse().ok().filter(|_| year.len() == 4)?;
    NaiveDate::from_ymd_opt(y, month(mon)?, d)
}

/// `14:30`, `14.30`, `14:30:05`, with a fraction of a second allowed.
fn time(s: &str) -> Option<NaiveTime> {
    let s = s.replace('.', ":");
    let s = s.split(['+', 'Z']).next().unwrap_or_default();
    ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(s, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        parse(s).map(|t| t.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn indonesian_forms() {
        let midnight = "2026-12-04T17:00:00+00:00";
        assert_eq!(at("05/12/2026"), midnight);
        assert_eq!(at("5-12-2026"), midnight);
        assert_eq!(at("5.12.2026"), midnight);
        assert_eq!(at("5 Desember 2026"), midnight);
        assert_eq!(at("05 Des 2026"), midnight);
        assert_eq!(at("Sabtu, 5 Desember 2026"), midnight);
        assert_eq!(at("2026-12-05"), midnight);
        assert_eq!(at("05/12/2026 14:30"), "2026-12-05T07:30:00+00:00");
        assert_eq!(
            at("5 Desember 2026 pukul 14.30 WIB"),
            "2026-12-05T07:30:00+00:00"
        );
        assert_eq!(at("2026-12-05 14:30:05"), "2026-12-05T07:30:05+00:00");
        assert_eq!(at("2026-12-05T14:30:05"), "2026-12-05T07:30:05+00:00");
        assert_eq!(at("2026-12-05T14:30:05+00:00"), "2026-12-05T14:30:05+00:00");
        assert_eq!(at("17 Agustus 2026"), "2026-08-16T17:00:00+00:00");
    }

    #[test]
    fn not_dates() {
        for s in [
            "",
            "kemarin",
            "31/02/2026",
            "12/05/26",
            "5 Brumaire 2026",
            "2026-13-01",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
