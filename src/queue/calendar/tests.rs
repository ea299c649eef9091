//! The working-day calendar's rules, and the seed table checked against them.

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
    let libur_only = Calendar::from_holidays(seeds.iter().filter(|h| h.kind == HolidayKind::Libur));
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
                    cal.working_days_between(Calendar::end_of_day(from), Calendar::end_of_day(to)),
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
fn seed_file_parses() {
    let rows = seed_rows().expect("the seed file parses");
    // 2026: 17 libur nasional and 8 cuti bersama; 2027: 17 and 4.
    assert_eq!(rows.len(), 46);
    assert_eq!(official_holidays().len(), rows.len());
}

#[test]
fn seed_holds_known_days() {
    let seeds = official_holidays();
    for (day, kind, name) in [
        (
            date(2026, 1, 1),
            HolidayKind::Libur,
            "Tahun Baru 2026 Masehi",
        ),
        (
            date(2026, 8, 17),
            HolidayKind::Libur,
            "Proklamasi Kemerdekaan",
        ),
        (
            date(2026, 3, 20),
            HolidayKind::CutiBersama,
            "Cuti Bersama Idul Fitri 1447 Hijriah",
        ),
        (date(2027, 3, 26), HolidayKind::Libur, "Wafat Yesus Kristus"),
        (
            date(2027, 12, 24),
            HolidayKind::CutiBersama,
            "Cuti Bersama Kelahiran Yesus Kristus (perkiraan)",
        ),
    ] {
        assert!(
            seeds
                .iter()
                .any(|h| h.date == day && h.kind == kind && h.name == name),
            "{day} {name} missing"
        );
    }
}

#[test]
fn seed_table_is_well_formed() {
    let seeds = official_holidays();
    let rows = seed_rows().expect("the seed file parses");
    // Every date parses.
    assert_eq!(seeds.len(), rows.len());
    for (holiday, row) in seeds.iter().zip(&rows) {
        let raw = &row.date;
        assert_eq!(holiday.date.format("%Y-%m-%d").to_string(), *raw);
        assert_eq!(holiday.name, row.name);
        assert_eq!(holiday.kind, row.kind);
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
