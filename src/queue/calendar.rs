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
use std::sync::LazyLock;

use chrono::{Datelike, FixedOffset, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

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

/// The seed table of days off for 2026 and 2027, with its sources.
const SEED_FILE: &str = include_str!("calendar/holidays.toml");

#[derive(Deserialize)]
struct SeedFile {
    holidays: Vec<SeedRow>,
}

/// One row of the seed file, its date still as written.
#[derive(Deserialize)]
struct SeedRow {
    date: String,
    name: String,
    kind: HolidayKind,
}

fn seed_rows() -> Result<Vec<SeedRow>, toml::de::Error> {
    toml::from_str::<SeedFile>(SEED_FILE).map(|f| f.holidays)
}

/// The seed file, read once. It is part of the program, and a unit test reads it: were
/// it broken, stopping is better than seeding a database with no holidays, which the
/// seed job would never fill again.
static OFFICIAL_HOLIDAYS: LazyLock<Vec<Holiday>> = LazyLock::new(|| {
    seed_rows()
        .expect("the holiday seed file parses")
        .into_iter()
        .filter_map(|row| {
            let date = NaiveDate::parse_from_str(&row.date, "%Y-%m-%d").ok()?;
            Some(Holiday {
                date,
                name: row.name,
                kind: row.kind,
            })
        })
        .collect()
});

/// The seed holiday table for 2026 and 2027 (see `calendar/holidays.toml` for sources).
///
/// The table is editable through the API and the CLI; this is only its initial content, and
/// it must be checked against the signed SKB 3 Menteri each year. Entries are returned in
/// file order. An entry whose date does not parse would be skipped; a unit test guarantees
/// that none does.
pub fn official_holidays() -> Vec<Holiday> {
    OFFICIAL_HOLIDAYS.clone()
}

#[cfg(test)]
mod tests;
