//! Working-day calendar for complaint deadlines, reckoned in Asia/Jakarta time (WIB).
//!
//! SP4N-LAPOR! deadlines are stated in *hari kerja* (working days): Monday to Friday, minus
//! the national holidays (*libur nasional*) and the collective leave days (*cuti bersama*)
//! that the Joint Decree of three Ministers (SKB 3 Menteri) fixes for each year.
//!
//! Every instant in this project is an `i64` count of microseconds since the Unix epoch
//! (UTC). This module turns such instants into WIB calendar dates, counts working days, and
//! hands deadlines back as UTC microseconds.
//!
//! Deadlines are reckoned in WIB for every region. An agency in WITA (UTC+8) or WIT (UTC+9)
//! therefore sees a deadline end at 00:59:59 or 01:59:59 local time on the following day.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{Datelike, FixedOffset, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use self::HolidayKind::{CutiBersama, Libur};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// `Datelike::num_days_from_ce` of 1970-01-01 (chrono counts 0001-01-01 as day 1).
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// Western Indonesian Time (WIB, Asia/Jakarta): UTC+07:00.
///
/// Asia/Jakarta has kept UTC+07:00 all year round since 1 January 1964: Indonesia has had
/// no daylight-saving time and no change of offset since then (see the tz database). A fixed
/// offset therefore gives exactly the answers a full time-zone database would for every
/// instant this service handles, without a dependency on `chrono-tz`.
pub const WIB: FixedOffset = match FixedOffset::east_opt(7 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+07:00 is a valid offset"),
};

/// [`WIB`] expressed in microseconds east of UTC.
const WIB_OFFSET_MICROS: i64 = WIB.local_minus_utc() as i64 * MICROS_PER_SECOND;

/// The two kinds of day off that the SKB 3 Menteri lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HolidayKind {
    /// *Libur nasional*: a national public holiday.
    #[serde(rename = "libur")]
    Libur,
    /// *Cuti bersama*: collective leave, a working day on which government offices close.
    #[serde(rename = "cuti_bersama")]
    CutiBersama,
}

impl HolidayKind {
    /// The stable identifier used in the API, the CLI and the database: `"libur"` or
    /// `"cuti_bersama"` (the same strings as the serde representation).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Libur => "libur",
            Self::CutiBersama => "cuti_bersama",
        }
    }

    /// Parses the identifier produced by [`HolidayKind::as_str`]; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "libur" => Some(Self::Libur),
            "cuti_bersama" => Some(Self::CutiBersama),
            _ => None,
        }
    }
}

/// One day off: its WIB date, its official name and its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// The calendar date in WIB.
    pub date: NaiveDate,
    /// The name as the SKB 3 Menteri words it, e.g. "Hari Lahir Pancasila".
    pub name: String,
    /// National holiday or collective leave.
    pub kind: HolidayKind,
}

/// Which days count as *hari kerja*: Monday to Friday, except the listed holidays.
///
/// Both kinds of holiday close government offices, so the calendar only keeps their dates.
/// A holiday that falls on a weekend is allowed and simply changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// A calendar whose working days are Monday to Friday minus the given holiday dates.
    /// Duplicates are harmless.
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self {
            holidays: holidays.into_iter().collect(),
        }
    }

    /// A calendar without holidays: every Monday to Friday is a working day.
    pub fn weekdays_only() -> Self {
        Self::default()
    }

    /// A calendar built from holiday records, e.g. [`official_holidays`] or the edited table.
    pub fn from_holidays<'a>(holidays: impl IntoIterator<Item = &'a Holiday>) -> Self {
        Self::new(holidays.into_iter().map(|holiday| holiday.date))
    }

    /// Whether `date` is listed as a holiday of either kind (weekend or not).
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether `date` is a *hari kerja*: a Monday to Friday that is not a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        is_weekday(date) && !self.is_holiday(date)
    }

    /// The WIB calendar date of a UTC instant given in microseconds since the Unix epoch.
    ///
    /// Instants beyond the range of [`NaiveDate`] (some 262,000 years away) are clamped to
    /// [`NaiveDate::MIN`] or [`NaiveDate::MAX`] instead of panicking.
    pub fn local_date(at_micros: i64) -> NaiveDate {
        let local_day = at_micros
            .saturating_add(WIB_OFFSET_MICROS)
            .div_euclid(MICROS_PER_DAY);
        // |local_day| < 1.1e8, so neither the addition nor the conversion can overflow.
        i32::try_from(local_day + UNIX_EPOCH_DAYS_FROM_CE)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or(if local_day < 0 {
                NaiveDate::MIN
            } else {
                NaiveDate::MAX
            })
    }

    /// The last microsecond of `date` in WIB (23:59:59.999999 WIB) as UTC microseconds.
    pub fn end_of_day(date: NaiveDate) -> i64 {
        let days_since_epoch =
            i64::from(Datelike::num_days_from_ce(&date)) - UNIX_EPOCH_DAYS_FROM_CE;
        days_since_epoch
            .saturating_add(1)
            .saturating_mul(MICROS_PER_DAY)
            .saturating_sub(WIB_OFFSET_MICROS)
            .saturating_sub(1)
    }

    /// The deadline for "within `n` working days of `at`", as UTC microseconds.
    ///
    /// The rule, as for LAPOR!'s "3 hari kerja":
    ///
    /// - The day of receipt does not count, whatever the hour: counting starts on the first
    ///   working day after the WIB date of `at`.
    /// - The deadline is the end of the `n`-th working day so counted, that is 23:59:59.999999
    ///   WIB on that date. A complaint received on a Friday evening with `n = 3` is therefore
    ///   due at the end of the following Wednesday (absent holidays).
    /// - `n = 0` means "today": the end of the WIB date of `at` if that is a working day,
    ///   otherwise the end of the next working day.
    ///
    /// Runs in O(n + holidays skipped). If the count would run past [`NaiveDate::MAX`] the
    /// result saturates to `i64::MAX`.
    pub fn add_working_days(&self, at_micros: i64, n: u32) -> i64 {
        let received = Self::local_date(at_micros);
        let due = if n == 0 {
            self.working_day_on_or_after(received)
        } else {
            self.nth_working_day_after(received, n)
        };
        due.map_or(i64::MAX, Self::end_of_day)
    }

    /// The number of working days strictly after the WIB date of `from` up to and including
    /// the WIB date of `to`; 0 if `to` falls on or before `from`'s date.
    ///
    /// This is the inverse of [`Calendar::add_working_days`]: for `n >= 1`,
    /// `working_days_between(at, add_working_days(at, n)) == n`. It runs in
    /// O(log holidays + holidays in range), however far apart the instants are.
    pub fn working_days_between(&self, from_micros: i64, to_micros: i64) -> i64 {
        let from = Self::local_date(from_micros);
        let to = Self::local_date(to_micros);
        if to <= from {
            return 0;
        }
        let weekdays = weekdays_through(to) - weekdays_through(from);
        let weekday_holidays = self
            .holidays
            .range((Bound::Excluded(from), Bound::Included(to)))
            .filter(|date| is_weekday(**date))
            .count();
        weekdays - i64::try_from(weekday_holidays).unwrap_or(i64::MAX)
    }

    /// `date` itself if it is a working day, else the next one; `None` past `NaiveDate::MAX`.
    fn working_day_on_or_after(&self, mut date: NaiveDate) -> Option<NaiveDate> {
        while !self.is_working_day(date) {
            date = date.succ_opt()?;
        }
        Some(date)
    }

    /// The `n`-th working day strictly after `date`; `None` past `NaiveDate::MAX`.
    fn nth_working_day_after(&self, mut date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut remaining = n;
        while remaining > 0 {
            date = date.succ_opt()?;
            if self.is_working_day(date) {
                remaining -= 1;
            }
        }
        Some(date)
    }
}

fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The number of Mondays to Fridays from 0001-01-01 (a Monday, day 1) up to and including
/// `date`. Euclidean division keeps the difference of two values exact for dates before
/// day 1 as well, where the value itself is negative.
fn weekdays_through(date: NaiveDate) -> i64 {
    let days = i64::from(Datelike::num_days_from_ce(&date));
    days.div_euclid(7) * 5 + days.rem_euclid(7).min(5)
}

/// Seed table of days off for 2026 and 2027: (WIB date, official name, kind).
///
/// This is only the initial content of the holiday table: operators edit the table through
/// the API and the CLI, and it must be checked against the signed SKB 3 Menteri (Menteri
/// Agama, Menteri Ketenagakerjaan, Menteri PANRB) every year, and again whenever the
/// government revises it.
///
/// - 2026 follows SKB Nomor 1497 Tahun 2025, Nomor 2 Tahun 2025, Nomor 5 Tahun 2025:
///   17 days of libur nasional and 8 days of cuti bersama.
/// - 2027 has no SKB yet. Fixed-date holidays are exact, and so are the Easter-based ones
///   (Easter Sunday 2027 is 28 March: Good Friday 26 March, Ascension 6 May). The Islamic,
///   Buddhist, Hindu and Chinese dates are estimates from the new and full moons, and the
///   cuti bersama follow the pattern of recent years; every such name ends in
///   " (perkiraan)". Isra Mikraj 1449 H is expected around 25–26 December 2027 (Natal or a
///   Sunday) and is left out, since it changes no working day and dates must be unique.
#[rustfmt::skip]
const OFFICIAL_HOLIDAYS: &[(&str, &str, HolidayKind)] = &[
    // 2026: SKB 3 Menteri, libur nasional.
    ("2026-01-01", "Tahun Baru 2026 Masehi", Libur),
    ("2026-01-16", "Isra Mikraj Nabi Muhammad SAW", Libur),
    ("2026-02-17", "Tahun Baru Imlek 2577 Kongzili", Libur),
    ("2026-03-19", "Hari Suci Nyepi (Tahun Baru Saka 1948)", Libur),
    ("2026-03-21", "Idul Fitri 1447 Hijriah", Libur),
    ("2026-03-22", "Idul Fitri 1447 Hijriah", Libur),
    ("2026-04-03", "Wafat Yesus Kristus", Libur),
    ("2026-04-05", "Kebangkitan Yesus Kristus (Paskah)", Libur),
    ("2026-05-01", "Hari Buruh Internasional", Libur),
    ("2026-05-14", "Kenaikan Yesus Kristus", Libur),
    ("2026-05-27", "Idul Adha 1447 Hijriah", Libur),
    ("2026-05-31", "Hari Raya Waisak 2570 BE", Libur),
    ("2026-06-01", "Hari Lahir Pancasila", Libur),
    ("2026-06-16", "1 Muharam Tahun Baru Islam 1448 Hijriah", Libur),
    ("2026-08-17", "Proklamasi Kemerdekaan", Libur),
    ("2026-08-25", "Maulid Nabi Muhammad SAW", Libur),
    ("2026-12-25", "Kelahiran Yesus Kristus", Libur),
    // 2026: SKB 3 Menteri, cuti bersama.
    ("2026-02-16", "Cuti Bersama Tahun Baru Imlek 2577 Kongzili", CutiBersama),
    ("2026-03-18", "Cuti Bersama Hari Suci Nyepi (Tahun Baru Saka 1948)", CutiBersama),
    ("2026-03-20", "Cuti Bersama Idul Fitri 1447 Hijriah", CutiBersama),
    ("2026-03-23", "Cuti Bersama Idul Fitri 1447 Hijriah", CutiBersama),
    ("2026-03-24", "Cuti Bersama Idul Fitri 1447 Hijriah", CutiBersama),
    ("2026-05-15", "Cuti Bersama Kenaikan Yesus Kristus", CutiBersama),
    ("2026-05-28", "Cuti Bersama Idul Adha 1447 Hijriah", CutiBersama),
    ("2026-12-24", "Cuti Bersama Kelahiran Yesus Kristus", CutiBersama),
    // 2027: libur nasional; fixed and Easter-based dates exact, the rest estimated.
    ("2027-01-01", "Tahun Baru 2027 Masehi", Libur),
    ("2027-01-05", "Isra Mikraj Nabi Muhammad SAW (perkiraan)", Libur),
    ("2027-02-06", "Tahun Baru Imlek 2578 Kongzili (perkiraan)", Libur),
    ("2027-03-08", "Hari Suci Nyepi (Tahun Baru Saka 1949) (perkiraan)", Libur),
    ("2027-03-10", "Idul Fitri 1448 Hijriah (perkiraan)", Libur),
    ("2027-03-11", "Idul Fitri 1448 Hijriah (perkiraan)", Libur),
    ("2027-03-26", "Wafat Yesus Kristus", Libur),
    ("2027-03-28", "Kebangkitan Yesus Kristus (Paskah)", Libur),
    ("2027-05-01", "Hari Buruh Internasional", Libur),
    ("2027-05-06", "Kenaikan Yesus Kristus", Libur),
    ("2027-05-17", "Idul Adha 1448 Hijriah (perkiraan)", Libur),
    ("2027-05-20", "Hari Raya Waisak 2571 BE (perkiraan)", Libur),
    ("2027-06-01", "Hari Lahir Pancasila", Libur),
    ("2027-06-06", "1 Muharam Tahun Baru Islam 1449 Hijriah (perkiraan)", Libur),
    ("2027-08-15", "Maulid Nabi Muhammad SAW (perkiraan)", Libur),
    ("2027-08-17", "Proklamasi Kemerdekaan", Libur),
    ("2027-12-25", "Kelahiran Yesus Kristus", Libur),
    // 2027: cuti bersama, all estimated from the pattern of recent years.
    ("2027-03-09", "Cuti Bersama Idul Fitri 1448 Hijriah (perkiraan)", CutiBersama),
    ("2027-03-12", "Cuti Bersama Idul Fitri 1448 Hijriah (perkiraan)", CutiBersama),
    ("2027-05-07", "Cuti Bersama Kenaikan Yesus Kristus (perkiraan)", CutiBersama),
    ("2027-12-24", "Cuti Bersama Kelahiran Yesus Kristus (perkiraan)", CutiBersama),
];

/// The seed holiday table for 2026 and 2027 (see the `OFFICIAL_HOLIDAYS` table for sources).
///
/// The table is editable through the API and the CLI; this is only its initial content, and
/// it must be checked against the signed SKB 3 Menteri each year. Entries are returned in
/// table order. An entry whose date does not parse would be skipped; a unit test guarantees
/// that none does.
pub fn official_holidays() -> Vec<Holiday> {
    OFFICIAL_HOLIDAYS
        .iter()
        .filter_map(|&(date, name, kind)| {
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
            Some(Holiday {
                date,
                name: name.to_owned(),
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Days};

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A WIB wall-clock time as UTC microseconds.
    fn wib(y: i32, m: u32, d: u32, hour: u32, minute: u32) -> i64 {
        date(y, m, d)
            .and_hms_opt(hour, minute, 0)
            .unwrap()
            .and_local_timezone(FixedOffset::east_opt(7 * 3600).unwrap())
            .single()
            .unwrap()
            .timestamp_micros()
    }

    /// 23:59:59.999999 WIB on the date as UTC microseconds, computed independently of the
    /// module's own arithmetic.
    fn end_of_wib_day(y: i32, m: u32, d: u32) -> i64 {
        date(y, m, d)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap()
            .and_local_timezone(FixedOffset::east_opt(7 * 3600).unwrap())
            .single()
            .unwrap()
            .timestamp_micros()
    }

    fn utc(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_micros()
    }

    fn official() -> Calendar {
        Calendar::from_holidays(&official_holidays())
    }

    /// Working days in (from, to], one day at a time.
    fn brute_force_between(cal: &Calendar, from: NaiveDate, to: NaiveDate) -> i64 {
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day.succ_opt().unwrap();
            if cal.is_working_day(day) {
                count += 1;
            }
        }
        count
    }

    /// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm.
    fn easter(year: i32) -> NaiveDate {
        let a = year % 19;
        let b = year / 100;
        let c = year % 100;
        let d = b / 4;
        let e = b % 4;
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - d - g + 15) % 30;
        let i = c / 4;
        let k = c % 4;
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        date(
            year,
            u32::try_from(month).unwrap(),
            u32::try_from(day).unwrap(),
        )
    }

    #[test]
    fn wib_is_utc_plus_seven() {
        assert_eq!(WIB.local_minus_utc(), 7 * 3600);
        assert_eq!(
            Calendar::local_date(-7 * 3600 * 1_000_000),
            date(1970, 1, 1)
        );
        assert_eq!(
            Calendar::local_date(-7 * 3600 * 1_000_000 - 1),
            date(1969, 12, 31)
        );
    }

    #[test]
    fn day_numbering_constants() {
        assert_eq!(date(1, 1, 1).weekday(), Weekday::Mon);
        assert_eq!(Datelike::num_days_from_ce(&date(1, 1, 1)), 1);
        assert_eq!(
            i64::from(Datelike::num_days_from_ce(&date(1970, 1, 1))),
            UNIX_EPOCH_DAYS_FROM_CE
        );
        assert_eq!(Calendar::local_date(0), date(1970, 1, 1));
    }

    #[test]
    fn holiday_kind_strings_round_trip() {
        for kind in [HolidayKind::Libur, HolidayKind::CutiBersama] {
            assert_eq!(HolidayKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<HolidayKind>(&json).unwrap(), kind);
        }
        assert_eq!(HolidayKind::Libur.as_str(), "libur");
        assert_eq!(HolidayKind::CutiBersama.as_str(), "cuti_bersama");
        assert_eq!(HolidayKind::parse("Libur"), None);
        assert_eq!(HolidayKind::parse("cuti bersama"), None);
        assert_eq!(HolidayKind::parse(""), None);
    }

    #[test]
    fn holiday_serializes_with_iso_date() {
        let holiday = Holiday {
            date: date(2026, 6, 1),
            name: "Hari Lahir Pancasila".to_owned(),
            kind: HolidayKind::Libur,
        };
        let json = serde_json::to_value(&holiday).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "date": "2026-06-01",
                "name": "Hari Lahir Pancasila",
                "kind": "libur",
            })
        );
        assert_eq!(serde_json::from_value::<Holiday>(json).unwrap(), holiday);
    }

    #[test]
    fn local_date_uses_the_wib_date_boundary() {
        // 17:00 UTC is midnight WIB.
        assert_eq!(
            Calendar::local_date(utc("2026-11-27T16:30:00Z")),
            date(2026, 11, 27)
        );
        assert_eq!(
            Calendar::local_date(utc("2026-11-27T16:59:59.999999Z")),
            date(2026, 11, 27)
        );
        assert_eq!(
            Calendar::local_date(utc("2026-11-27T17:00:00Z")),
            date(2026, 11, 28)
        );
        assert_eq!(
            Calendar::local_date(utc("2026-11-27T17:30:00Z")),
            date(2026, 11, 28)
        );
        // Before the Unix epoch as well.
        assert_eq!(
            Calendar::local_date(utc("1969-12-31T16:59:59Z")),
            date(1969, 12, 31)
        );
        assert_eq!(
            Calendar::local_date(utc("1969-12-31T17:00:00Z")),
            date(1970, 1, 1)
        );
    }

    #[test]
    fn end_of_day_is_the_last_wib_microsecond() {
        let day = date(2026, 7, 15);
        let end = Calendar::end_of_day(day);
        assert_eq!(end, end_of_wib_day(2026, 7, 15));
        assert_eq!(end, utc("2026-07-15T16:59:59.999999Z"));
        assert_eq!(Calendar::local_date(end), day);
        assert_eq!(Calendar::local_date(end + 1), date(2026, 7, 16));
        assert_eq!(
            Calendar::end_of_day(date(1969, 12, 31)),
            utc("1969-12-31T16:59:59.999999Z")
        );
    }

    #[test]
    fn weekends_are_skipped() {
        let cal = Calendar::weekdays_only();
        // Friday 10 July 2026, Saturday and Sunday: one working day later is Monday.
        for receipt in [
            wib(2026, 7, 10, 10, 0),
            wib(2026, 7, 11, 10, 0),
            wib(2026, 7, 12, 10, 0),
        ] {
            assert_eq!(
                cal.add_working_days(receipt, 1),
                end_of_wib_day(2026, 7, 13)
            );
        }
        // Monday + 5 working days is the next Monday.
        assert_eq!(
            cal.add_working_days(wib(2026, 7, 6, 9, 0), 5),
            end_of_wib_day(2026, 7, 13)
        );
        assert!(!cal.is_working_day(date(2026, 7, 11)));
        assert!(!cal.is_working_day(date(2026, 7, 12)));
        assert!(cal.is_working_day(date(2026, 7, 13)));
    }

    #[test]
    fn a_national_holiday_is_skipped() {
        let cal = official();
        assert!(!cal.is_working_day(date(2026, 8, 17)));
        // Friday 14 August 2026; Monday 17 August is Proklamasi Kemerdekaan.
        let receipt = wib(2026, 8, 14, 10, 0);
        assert_eq!(
            cal.add_working_days(receipt, 1),
            end_of_wib_day(2026, 8, 18)
        );
        assert_eq!(
            cal.add_working_days(receipt, 3),
            end_of_wib_day(2026, 8, 20)
        );
        // Without holidays the Monday would count.
        assert_eq!(
            Calendar::weekdays_only().add_working_days(receipt, 1),
            end_of_wib_day(2026, 8, 17)
        );
    }

    #[test]
    fn cuti_bersama_is_skipped() {
        let seeds = official_holidays();
        let thursday = date(2026, 5, 28);
        let seed = seeds.iter().find(|h| h.date == thursday).unwrap();
        assert_eq!(seed.kind, HolidayKind::CutiBersama);

        let cal = Calendar::from_holidays(&seeds);
        assert!(!cal.is_working_day(thursday));
        // Received on Idul Adha (Wednesday 27 May 2026); Thursday is cuti bersama.
        let receipt = wib(2026, 5, 27, 10, 0);
        assert_eq!(
            cal.add_working_days(receipt, 1),
            end_of_wib_day(2026, 5, 29)
        );
        // Friday 29 May, then Monday 1 June is Hari Lahir Pancasila.
        assert_eq!(cal.add_working_days(receipt, 2), end_of_wib_day(2026, 6, 2));

        // A calendar with only the libur nasional would count the Thursday.
        let libur_only =
            Calendar::from_holidays(seeds.iter().filter(|h| h.kind == HolidayKind::Libur));
        assert!(libur_only.is_working_day(thursday));
        assert_eq!(
            libur_only.add_working_days(receipt, 1),
            end_of_wib_day(2026, 5, 28)
        );
    }

    #[test]
    fn idul_fitri_2026_break_is_skipped() {
        // Tuesday 17 March 2026: 18 cuti, 19 Nyepi, 20 cuti, 21-22 Idul Fitri (weekend),
        // 23 and 24 cuti; the first working day after is Wednesday 25 March.
        let cal = official();
        let receipt = wib(2026, 3, 17, 15, 0);
        assert_eq!(
            cal.add_working_days(receipt, 1),
            end_of_wib_day(2026, 3, 25)
        );
        assert_eq!(
            cal.add_working_days(receipt, 3),
            end_of_wib_day(2026, 3, 27)
        );
        assert_eq!(cal.working_days_between(receipt, wib(2026, 3, 27, 8, 0)), 3);
    }

    #[test]
    fn friday_evening_receipt_is_due_on_wednesday() {
        let cal = official();
        // Friday 10 July 2026, 19:00 WIB; no holidays in the following week.
        let receipt = wib(2026, 7, 10, 19, 0);
        let due = cal.add_working_days(receipt, 3);
        assert_eq!(Calendar::local_date(due), date(2026, 7, 15));
        assert_eq!(Calendar::local_date(due).weekday(), Weekday::Wed);
        assert_eq!(due, end_of_wib_day(2026, 7, 15));
        assert_eq!(due, utc("2026-07-15T16:59:59.999999Z"));
    }

    #[test]
    fn deadline_spans_the_new_year() {
        let cal = official();
        // Thursday 24 December 2026 is cuti bersama, Friday 25 Natal, then the weekend:
        // 28, 29, 30, 31 December count, 1 January 2027 is Tahun Baru, then the weekend,
        // so the fifth working day is Monday 4 January 2027.
        let receipt = wib(2026, 12, 24, 9, 0);
        assert_eq!(
            cal.add_working_days(receipt, 3),
            end_of_wib_day(2026, 12, 30)
        );
        assert_eq!(cal.add_working_days(receipt, 5), end_of_wib_day(2027, 1, 4));
        assert_eq!(
            cal.working_days_between(receipt, end_of_wib_day(2027, 1, 4)),
            5
        );
        // Counting only weekdays, the fifth would be Thursday 31 December.
        assert_eq!(
            Calendar::weekdays_only().add_working_days(receipt, 5),
            end_of_wib_day(2026, 12, 31)
        );
    }

    #[test]
    fn receipt_date_follows_wib_not_utc() {
        let cal = official();
        // Tuesday 24 November 2026, 23:30 WIB: the receipt day is Tuesday.
        let late_tuesday = utc("2026-11-24T16:30:00Z");
        assert_eq!(late_tuesday, wib(2026, 11, 24, 23, 30));
        assert_eq!(
            cal.add_working_days(late_tuesday, 1),
            end_of_wib_day(2026, 11, 25)
        );
        // One hour later it is already Wednesday 00:30 WIB, although UTC still says Tuesday.
        let early_wednesday = utc("2026-11-24T17:30:00Z");
        assert_eq!(
            cal.add_working_days(early_wednesday, 1),
            end_of_wib_day(2026, 11, 26)
        );
        // The brief's example: 2026-11-27T17:30:00Z is Saturday 28 November, 00:30 WIB.
        let saturday = utc("2026-11-27T17:30:00Z");
        assert_eq!(saturday, wib(2026, 11, 28, 0, 30));
        assert_eq!(Calendar::local_date(saturday).weekday(), Weekday::Sat);
        assert_eq!(
            cal.add_working_days(saturday, 0),
            end_of_wib_day(2026, 11, 30)
        );
        // Friday 23:30 WIB still counts from Friday, so n = 0 is due the same evening.
        assert_eq!(
            cal.add_working_days(utc("2026-11-27T16:30:00Z"), 0),
            end_of_wib_day(2026, 11, 27)
        );
    }

    #[test]
    fn zero_working_days() {
        let cal = official();
        // A working day: the end of that same day.
        assert_eq!(
            cal.add_working_days(wib(2026, 7, 14, 8, 0), 0),
            end_of_wib_day(2026, 7, 14)
        );
        // A Saturday: the end of Monday.
        assert_eq!(
            cal.add_working_days(wib(2026, 7, 11, 8, 0), 0),
            end_of_wib_day(2026, 7, 13)
        );
        // A holiday (Monday 17 August 2026): the end of Tuesday.
        assert_eq!(
            cal.add_working_days(wib(2026, 8, 17, 8, 0), 0),
            end_of_wib_day(2026, 8, 18)
        );
        // Received in the very last microsecond of a working day: due at once.
        let last = end_of_wib_day(2026, 7, 14);
        assert_eq!(cal.add_working_days(last, 0), last);
    }

    #[test]
    fn working_days_between_counts_after_from_through_to() {
        let cal = official();
        let friday_evening = wib(2026, 7, 10, 19, 0);
        assert_eq!(cal.working_days_between(friday_evening, friday_evening), 0);
        // Same WIB date, later hour.
        assert_eq!(
            cal.working_days_between(wib(2026, 7, 10, 8, 0), friday_evening),
            0
        );
        // `to` before `from`.
        assert_eq!(
            cal.working_days_between(friday_evening, wib(2026, 7, 6, 8, 0)),
            0
        );
        // Saturday and Sunday do not count, Monday does.
        assert_eq!(
            cal.working_days_between(friday_evening, wib(2026, 7, 12, 8, 0)),
            0
        );
        assert_eq!(
            cal.working_days_between(friday_evening, wib(2026, 7, 13, 8, 0)),
            1
        );
        assert_eq!(
            cal.working_days_between(friday_evening, wib(2026, 7, 15, 23, 0)),
            3
        );
        // Across the Proklamasi holiday.
        assert_eq!(
            cal.working_days_between(wib(2026, 8, 14, 10, 0), wib(2026, 8, 21, 10, 0)),
            4
        );
        // All of 2026: 261 weekdays minus 13 weekday libur nasional and 8 cuti bersama.
        assert_eq!(
            cal.working_days_between(end_of_wib_day(2025, 12, 31), end_of_wib_day(2026, 12, 31)),
            240
        );
    }

    #[test]
    fn working_days_between_matches_a_day_by_day_count() {
        let cal = official();
        for (start, end) in [
            (date(1969, 11, 1), date(1970, 3, 1)),
            (date(2025, 11, 1), date(2028, 2, 1)),
        ] {
            let mut from = start;
            while from < end {
                for offset in 0..45 {
                    let to = from.checked_add_days(Days::new(offset)).unwrap();
                    assert_eq!(
                        cal.working_days_between(
                            Calendar::end_of_day(from),
                            Calendar::end_of_day(to)
                        ),
                        brute_force_between(&cal, from, to),
                        "from {from} to {to}"
                    );
                }
                from = from.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn working_days_between_inverts_add_working_days() {
        let cal = official();
        let seven_hours = 7 * 3600 * 1_000_000;
        let mut at = wib(2025, 12, 1, 0, 0);
        let stop = wib(2028, 1, 31, 0, 0);
        while at < stop {
            for n in 1..=10 {
                let due = cal.add_working_days(at, n);
                assert_eq!(
                    cal.working_days_between(at, due),
                    i64::from(n),
                    "at {at}, n {n}"
                );
                assert!(cal.is_working_day(Calendar::local_date(due)));
                // One working day fewer is due earlier (n = 0 on a day off is the end
                // of the next working day, the same as n = 1).
                let fewer = cal.add_working_days(at, n - 1);
                if n > 1 || cal.is_working_day(Calendar::local_date(at)) {
                    assert!(fewer < due, "at {at}, n {n}");
                } else {
                    assert_eq!(fewer, due, "at {at}, n {n}");
                }
            }
            at += seven_hours;
        }
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let cal = official();
        assert_eq!(Calendar::local_date(i64::MAX), NaiveDate::MAX);
        assert_eq!(Calendar::local_date(i64::MIN), NaiveDate::MIN);
        assert_eq!(cal.add_working_days(i64::MAX, 1), i64::MAX);
        assert!(cal.add_working_days(i64::MIN, 3) < 0);
        assert!(cal.working_days_between(i64::MIN, i64::MAX) > 0);
        assert_eq!(cal.working_days_between(i64::MAX, i64::MIN), 0);
    }

    #[test]
    fn seed_table_is_well_formed() {
        let seeds = official_holidays();
        // Every date parses.
        assert_eq!(seeds.len(), OFFICIAL_HOLIDAYS.len());
        for (holiday, (raw, name, kind)) in seeds.iter().zip(OFFICIAL_HOLIDAYS) {
            assert_eq!(holiday.date.format("%Y-%m-%d").to_string(), *raw);
            assert_eq!(holiday.name, *name);
            assert_eq!(holiday.kind, *kind);
            assert!(!holiday.name.trim().is_empty());
            assert!(
                (2026..=2027).contains(&holiday.date.year()),
                "{raw} outside 2026-2027"
            );
        }
        // No date twice.
        let dates: BTreeSet<NaiveDate> = seeds.iter().map(|h| h.date).collect();
        assert_eq!(
            dates.len(),
            seeds.len(),
            "duplicate dates in the seed table"
        );
        // 2026 as in the SKB: 17 libur nasional and 8 cuti bersama, none estimated.
        let in_2026 = |kind: HolidayKind| {
            seeds
                .iter()
                .filter(|h| h.date.year() == 2026 && h.kind == kind)
                .count()
        };
        assert_eq!(in_2026(HolidayKind::Libur), 17);
        assert_eq!(in_2026(HolidayKind::CutiBersama), 8);
        assert!(seeds
            .iter()
            .filter(|h| h.date.year() == 2026)
            .all(|h| !h.name.contains("(perkiraan)")));
        // Cuti bersama are days the offices would otherwise be open.
        for holiday in seeds.iter().filter(|h| h.kind == HolidayKind::CutiBersama) {
            assert!(
                is_weekday(holiday.date),
                "cuti bersama on a weekend: {}",
                holiday.date
            );
        }
    }

    #[test]
    fn seed_2027_marks_every_estimate() {
        let easter_2027 = easter(2027);
        let computed: BTreeSet<NaiveDate> = [
            date(2027, 1, 1),
            date(2027, 5, 1),
            date(2027, 6, 1),
            date(2027, 8, 17),
            date(2027, 12, 25),
            easter_2027.checked_sub_days(Days::new(2)).unwrap(),
            easter_2027,
            easter_2027.checked_add_days(Days::new(39)).unwrap(),
        ]
        .into_iter()
        .collect();
        let seeds = official_holidays();
        for holiday in seeds.iter().filter(|h| h.date.year() == 2027) {
            let is_estimate =
                holiday.kind == HolidayKind::CutiBersama || !computed.contains(&holiday.date);
            assert_eq!(
                holiday.name.ends_with(" (perkiraan)"),
                is_estimate,
                "{} {}",
                holiday.date,
                holiday.name
            );
        }
        // Every fixed or computed 2027 date is present.
        for day in &computed {
            assert!(
                seeds
                    .iter()
                    .any(|h| h.date == *day && h.kind == HolidayKind::Libur),
                "{day} missing"
            );
        }
    }

    #[test]
    fn seed_easter_dates_follow_easter() {
        assert_eq!(easter(2026), date(2026, 4, 5));
        assert_eq!(easter(2027), date(2027, 3, 28));
        let seeds = official_holidays();
        let libur = |year: i32, name: &str| {
            seeds
                .iter()
                .find(|h| h.kind == HolidayKind::Libur && h.date.year() == year && h.name == name)
                .map(|h| h.date)
                .unwrap()
        };
        for year in [2026, 2027] {
            let sunday = easter(year);
            assert_eq!(
                libur(year, "Wafat Yesus Kristus"),
                sunday.checked_sub_days(Days::new(2)).unwrap()
            );
            assert_eq!(libur(year, "Kebangkitan Yesus Kristus (Paskah)"), sunday);
            assert_eq!(
                libur(year, "Kenaikan Yesus Kristus"),
                sunday.checked_add_days(Days::new(39)).unwrap()
            );
        }
    }

    #[test]
    fn known_ordinary_working_days_are_not_seeded() {
        // Hari Kesaktian Pancasila (1 October) and Hari Pahlawan (10 November) are
        // commemorations, not days off.
        let ordinary = [
            date(2026, 10, 1),
            date(2026, 11, 10),
            date(2027, 10, 1),
            date(2027, 11, 10),
        ];
        let seeds = official_holidays();
        let cal = Calendar::from_holidays(&seeds);
        for day in ordinary {
            assert!(is_weekday(day), "{day} should be a weekday");
            assert!(
                !seeds.iter().any(|h| h.date == day),
                "{day} is seeded as a holiday"
            );
            assert!(cal.is_working_day(day));
        }
    }

    #[test]
    fn weekend_holidays_change_nothing() {
        // Idul Fitri 1447 H falls on Saturday 21 and Sunday 22 March 2026.
        let with = Calendar::new([date(2026, 3, 21), date(2026, 3, 22)]);
        let without = Calendar::weekdays_only();
        let receipt = wib(2026, 3, 19, 12, 0);
        for n in 0..5 {
            assert_eq!(
                with.add_working_days(receipt, n),
                without.add_working_days(receipt, n)
            );
        }
        assert!(with.is_holiday(date(2026, 3, 21)));
        assert!(!with.is_working_day(date(2026, 3, 21)));
    }
}
