//! Working-day calendar (工作日) in China Standard Time with the official
//! holidays and make-up working days (调休) as a data file.
//!
//! Deadlines of cases are counted on it: "N working days" ends at the close
//! of the N-th working day after the day the case was opened; "N working
//! hours" counts only time inside working hours of working days.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use serde::Deserialize;

use crate::msg::Msg;

/// The calendar shipped with linli: 2025 and 2026 as announced by the State Council.
pub const CHINA_CALENDAR_JSON: &str = include_str!("../data/calendar_cn.json");

#[derive(Deserialize)]
struct YearFile {
    #[serde(default)]
    holidays: Vec<(String, String, String)>,
    #[serde(default)]
    workdays: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct CalendarFile {
    utc_offset_minutes: i32,
    work_hours: Vec<(String, String)>,
    years: BTreeMap<String, YearFile>,
}

/// How a case's time limit is counted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    WorkingDays(u32),
    WorkingHours(u32),
}

#[derive(Debug, Clone)]
pub struct Calendar {
    offset: FixedOffset,
    /// Working periods of a working day, sorted, not overlapping.
    hours: Vec<(NaiveTime, NaiveTime)>,
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, String>,
    years: BTreeSet<i32>,
}

#[expect(
    clippy::map_err_ignore,
    reason = "the message names the value and the form it must take"
)]
fn date(s: &str) -> Result<NaiveDate, Msg> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        Msg::new(
            format!("calendar: '{s}' is not a date (YYYY-MM-DD)"),
            format!("工作日历：“{s}”不是日期（应为 年-月-日）"),
        )
    })
}

#[expect(
    clippy::map_err_ignore,
    reason = "the message names the value and the form it must take"
)]
fn time(s: &str) -> Result<NaiveTime, Msg> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        Msg::new(
            format!("calendar: '{s}' is not a time (HH:MM)"),
            format!("工作日历：“{s}”不是时间（应为 时:分）"),
        )
    })
}

impl Calendar {
    /// The shipped calendar of China (checked by the tests below).
    pub fn china() -> Result<Self, Msg> {
        Calendar::from_json(CHINA_CALENDAR_JSON)
    }

    /// Reads a calendar file (the format of `data/calendar_cn.json`).
    pub fn from_json(text: &str) -> Result<Self, Msg> {
        let f: CalendarFile = serde_json::from_str(text)
            .map_err(|e| Msg::new(format!("calendar: {e}"), format!("工作日历格式有误：{e}")))?;
        let offset = FixedOffset::east_opt(f.utc_offset_minutes * 60).ok_or_else(|| {
            Msg::new(
                "calendar: utc_offset_minutes out of range",
                "工作日历：时区偏移超出范围",
            )
        })?;
        let mut hours = Vec::new();
        for (a, b) in &f.work_hours {
            let (a, b) = (time(a)?, time(b)?);
            if a >= b {
                return Err(Msg::new(
                    format!("calendar: working period {a}-{b} is empty"),
                    format!("工作日历：工作时段 {a}-{b} 为空"),
                ));
            }
            hours.push((a, b));
        }
        hours.sort();
        if hours.is_empty() || hours.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(Msg::new(
                "calendar: working periods must be given and must not overlap",
                "工作日历：须给出工作时段，且时段不能重叠",
            ));
        }
        let mut cal = Calendar {
            offset,
            hours,
            holidays: BTreeMap::new(),
            workdays: BTreeMap::new(),
            years: BTreeSet::new(),
        };
        for (year, y) in &f.years {
            let year: i32 = year.parse().map_err(|e| {
                Msg::new(
                    format!("calendar: '{year}' is not a year ({e})"),
                    format!("工作日历：“{year}”不是年份"),
                )
            })?;
            cal.years.insert(year);
            for (from, to, name) in &y.holidays {
                let (from, to) = (date(from)?, date(to)?);
                if from > to || from.year() != year {
                    return Err(Msg::new(
                        format!("calendar: holiday {name} {from}..{to} is not in {year}"),
                        format!("工作日历：假日“{name}”{from}至{to}不在{year}年内"),
                    ));
                }
                let mut d = from;
                while d <= to {
                    cal.holidays.insert(d, name.clone());
                    d += Duration::days(1);
                }
            }
            for (day, name) in &y.workdays {
                let d = date(day)?;
                if cal.holidays.contains_key(&d) {
                    return Err(Msg::new(
                        format!("calendar: {d} is both a holiday and a working day"),
                        format!("工作日历：{d} 既是假日又是调休工作日"),
                    ));
                }
                cal.workdays.insert(d, name.clone());
            }
        }
        Ok(cal)
    }

    /// Adds (or replaces) the years of another calendar file, as an
    /// administrator does when the next year's holidays are announced.
    pub fn extend(&mut self, other: Calendar) {
        for y in &other.years {
            self.holidays.retain(|d, _| d.year() != *y);
            self.workdays.retain(|d, _| d.year() != *y);
        }
        self.years.extend(other.years);
        self.holidays.extend(other.holidays);
        self.workdays.extend(other.workdays);
    }

    /// The special days of a year, in date order: (day, name, whether it
    /// is a make-up working day rather than a holiday).
    pub fn special_days(&self, year: i32) -> Vec<(NaiveDate, &str, bool)> {
        let mut out: Vec<(NaiveDate, &str, bool)> = self
            .holidays
            .iter()
            .map(|(d, n)| (*d, n.as_str(), false))
            .chain(self.workdays.iter().map(|(d, n)| (*d, n.as_str(), true)))
            .filter(|(d, _, _)| d.year() == year)
            .collect();
        out.sort_by_key(|x| x.0);
        out
    }

    /// Marks one day as a holiday (`Some(false)`), a make-up working day
    /// (`Some(true)`) or an ordinary day again (`None`), as an
    /// administrator does when a holiday is announced or moved. The name
    /// is what the day is called (春节, 国庆节调休 …). A make-up working
    /// day falls on a weekend; a holiday may not be one already passed
    /// over to a working day.
    pub fn set_day(&mut self, d: NaiveDate, workday: Option<bool>, name: &str) -> Result<(), Msg> {
        let name = name.trim();
        if workday.is_some() && (name.is_empty() || name.chars().count() > 20) {
            return Err(Msg::new(
                "calendar: a special day needs a name of 1 to 20 characters",
                "工作日历：请填写1至20个字的名称（如 春节、国庆节调休）",
            ));
        }
        if workday == Some(true) && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(Msg::new(
                format!("calendar: {d} is a weekday; a make-up working day falls on a weekend"),
                format!("工作日历：{d} 本是工作日，调休上班日应在周末"),
            ));
        }
        self.holidays.remove(&d);
        self.workdays.remove(&d);
        match workday {
            Some(true) => {
                self.workdays.insert(d, name.to_string());
            }
            Some(false) => {
                self.holidays.insert(d, name.to_string());
            }
            None => {}
        }
        self.years.insert(d.year());
        Ok(())
    }

    /// One year of this calendar as a calendar file (the format of
    /// `data/calendar_cn.json`), to be stored and read back with
    /// [`Calendar::from_json`].
    pub fn year_json(&self, year: i32) -> String {
        let hours: Vec<(String, String)> = self
            .hours
            .iter()
            .map(|(a, b)| (a.format("%H:%M").to_string(), b.format("%H:%M").to_string()))
            .collect();
        let day = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        let holidays: Vec<(String, String, String)> = self
            .holidays
            .iter()
            .filter(|(d, _)| d.year() == year)
            .map(|(d, n)| (day(d), day(d), n.clone()))
            .collect();
        let workdays: Vec<(String, String)> = self
            .workdays
            .iter()
            .filter(|(d, _)| d.year() == year)
            .map(|(d, n)| (day(d), n.clone()))
            .collect();
        serde_json::json!({
            "utc_offset_minutes": self.offset.local_minus_utc() / 60,
            "work_hours": hours,
            "years": {year.to_string(): {"holidays": holidays, "workdays": workdays}},
        })
        .to_string()
    }

    /// Years this calendar knows the holidays of. Outside them only
    /// weekends are days off.
    pub fn years(&self) -> &BTreeSet<i32> {
        &self.years
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains_key(&d) {
            return true;
        }
        if self.holidays.contains_key(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// What a day is called if it is special: the holiday's or make-up day's name.
    pub fn day_name(&self, d: NaiveDate) -> Option<&str> {
        self.holidays
            .get(&d)
            .or_else(|| self.workdays.get(&d))
            .map(String::as_str)
    }

    fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.offset)
    }

    fn at(&self, d: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        // A fixed offset has exactly one local time for every instant.
        match self.offset.from_local_datetime(&d.and_time(t)) {
            chrono::LocalResult::Single(x) => x.with_timezone(&Utc),
            _ => Utc.from_utc_datetime(&d.and_time(t)),
        }
    }

    fn close_of(&self, d: NaiveDate) -> DateTime<Utc> {
        let end = self.hours.last().map(|h| h.1).unwrap_or(NaiveTime::MIN);
        self.at(d, end)
    }

    /// The close of business on the `n`-th working day after `start`'s
    /// local date (n = 0: the close of `start`'s own day).
    pub fn add_working_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut d = self.local(start).date_naive();
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        self.close_of(d)
    }

    /// The instant when `minutes` of working time have passed after `start`.
    pub fn add_working_minutes(&self, start: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        let mut left = i64::from(minutes);
        let local = self.local(start);
        let mut d = local.date_naive();
        let mut from = local.time();
        loop {
            if self.is_working_day(d) {
                for &(a, b) in &self.hours {
                    if from >= b {
                        continue;
                    }
                    let begin = from.max(a);
                    let avail = (b - begin).num_minutes();
                    if left <= avail {
                        return self.at(d, begin) + Duration::minutes(left);
                    }
                    left -= avail;
                }
            }
            d += Duration::days(1);
            from = NaiveTime::MIN;
        }
    }

    /// The deadline of a limit counted from `start`.
    pub fn deadline(&self, start: DateTime<Utc>, limit: Limit) -> DateTime<Utc> {
        match limit {
            Limit::WorkingDays(n) => self.add_working_days(start, n),
            Limit::WorkingHours(h) => self.add_working_minutes(start, h.saturating_mul(60)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_day_set_by_hand_survives_the_round_trip_through_its_year_file() {
        let mut cal = Calendar::china().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // 2027-02-08 is a Monday; 2027-02-06 a Saturday.
        cal.set_day(d("2027-02-08"), Some(false), "春节").unwrap();
        cal.set_day(d("2027-02-06"), Some(true), "春节调休")
            .unwrap();
        assert!(!cal.is_working_day(d("2027-02-08")));
        assert!(cal.is_working_day(d("2027-02-06")));
        assert!(cal.set_day(d("2027-02-09"), Some(true), "调休").is_err());
        assert!(cal.set_day(d("2027-02-09"), Some(false), " ").is_err());
        let back = Calendar::from_json(&cal.year_json(2027)).unwrap();
        assert_eq!(back.special_days(2027), cal.special_days(2027));
        assert_eq!(back.special_days(2027).len(), 2);
        // Back to an ordinary day.
        cal.set_day(d("2027-02-08"), None, "").unwrap();
        assert!(cal.is_working_day(d("2027-02-08")));
        // The shipped year keeps its days through the round trip too.
        let y2026 = Calendar::from_json(&cal.year_json(2026)).unwrap();
        assert_eq!(y2026.special_days(2026), cal.special_days(2026));
    }

    fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn shipped_calendar_knows_2025_and_2026() {
        let c = Calendar::china().unwrap();
        assert!(c.years().contains(&2025) && c.years().contains(&2026));
        // 2026 Spring Festival: 15-23 Feb off, Sat 14 and Sat 28 Feb worked.
        assert!(!c.is_working_day(day(2026, 2, 16)));
        assert!(
            !c.is_working_day(day(2026, 2, 23)),
            "a Monday inside the holiday"
        );
        assert!(c.is_working_day(day(2026, 2, 14)), "make-up Saturday");
        assert!(c.is_working_day(day(2026, 2, 28)), "make-up Saturday");
        assert!(
            c.is_working_day(day(2026, 1, 4)),
            "make-up Sunday after New Year"
        );
        assert!(!c.is_working_day(day(2025, 10, 8)));
        assert!(c.is_working_day(day(2025, 9, 28)));
        assert_eq!(c.day_name(day(2026, 10, 3)), Some("国庆节"));
        // An ordinary weekend and weekday.
        assert!(!c.is_working_day(day(2026, 11, 21)));
        assert!(c.is_working_day(day(2026, 11, 23)));
    }

    #[test]
    fn working_days_skip_holidays_and_count_make_up_days() {
        let c = Calendar::china().unwrap();
        // Opened Thu 12 Feb 2026 10:00: working days after it are Fri 13,
        // Sat 14 (make-up), Tue 24 (holiday ends Mon 23), Wed 25, Thu 26.
        assert_eq!(
            c.add_working_days(bj(2026, 2, 12, 10, 0), 1),
            bj(2026, 2, 13, 18, 0)
        );
        assert_eq!(
            c.add_working_days(bj(2026, 2, 12, 10, 0), 2),
            bj(2026, 2, 14, 18, 0)
        );
        assert_eq!(
            c.add_working_days(bj(2026, 2, 12, 10, 0), 3),
            bj(2026, 2, 24, 18, 0)
        );
        assert_eq!(
            c.add_working_days(bj(2026, 2, 12, 10, 0), 5),
            bj(2026, 2, 26, 18, 0)
        );
        // Opened on a holiday: the count starts with the next working day.
        assert_eq!(
            c.add_working_days(bj(2026, 10, 2, 9, 0), 1),
            bj(2026, 10, 8, 18, 0)
        );
        assert_eq!(
            c.add_working_days(bj(2026, 10, 2, 9, 0), 2),
            bj(2026, 10, 9, 18, 0)
        );
        assert_eq!(
            c.add_working_days(bj(2026, 10, 2, 9, 0), 3),
            bj(2026, 10, 10, 18, 0),
            "make-up Saturday"
        );
        // Late at night in UTC is the next morning in Beijing.
        let utc_evening = Utc.with_ymd_and_hms(2026, 11, 22, 20, 0, 0).unwrap(); // Mon 23 04:00 in Beijing
        assert_eq!(c.add_working_days(utc_evening, 1), bj(2026, 11, 24, 18, 0));
    }

    #[test]
    fn working_hours_skip_lunch_nights_and_holidays() {
        let c = Calendar::china().unwrap();
        // Fri 11:00 + 4 h: 1 h before lunch, 3 h after (13:00-16:00).
        assert_eq!(
            c.deadline(bj(2026, 11, 20, 11, 0), Limit::WorkingHours(4)),
            bj(2026, 11, 20, 16, 0)
        );
        // Fri 17:00 + 2 h: 1 h on Friday, then Monday 09:00-10:00.
        assert_eq!(
            c.deadline(bj(2026, 11, 20, 17, 0), Limit::WorkingHours(2)),
            bj(2026, 11, 23, 10, 0)
        );
        // Reported at night before the National Day holiday.
        assert_eq!(
            c.deadline(bj(2026, 9, 30, 22, 0), Limit::WorkingHours(1)),
            bj(2026, 10, 8, 10, 0)
        );
        // At lunch time the clock waits for 13:00.
        assert_eq!(
            c.deadline(bj(2026, 11, 23, 12, 30), Limit::WorkingHours(1)),
            bj(2026, 11, 23, 14, 0)
        );
    }

    #[test]
    fn extension_and_bad_files() {
        let mut c = Calendar::china().unwrap();
        let next = r#"{"utc_offset_minutes":480,"work_hours":[["09:00","12:00"],["13:00","18:00"]],
            "years":{"2027":{"holidays":[["2027-01-01","2027-01-01","元旦"]],"workdays":[]}}}"#;
        c.extend(Calendar::from_json(next).unwrap());
        assert!(!c.is_working_day(day(2027, 1, 1)));
        assert!(c.years().contains(&2027) && c.years().contains(&2026));
        let bad = r#"{"utc_offset_minutes":480,"work_hours":[["09:00","12:00"]],
            "years":{"2027":{"holidays":[["2027-01-01","2027-01-01","元旦"]],"workdays":[["2027-01-01","x"]]}}}"#;
        assert!(
            Calendar::from_json(bad)
                .unwrap_err()
                .en
                .contains("both a holiday and a working day")
        );
        let overlap = r#"{"utc_offset_minutes":480,"work_hours":[["09:00","12:00"],["11:00","13:00"]],"years":{}}"#;
        assert!(Calendar::from_json(overlap).is_err());
        assert!(Calendar::from_json("{").is_err());
    }

    proptest! {
        #[test]
        fn deadlines_are_monotonic_and_on_working_time(
            start_days in 0i64..700, minute in 0u32..1440, n in 0u32..30, h in 1u32..60,
        ) {
            let c = Calendar::china().unwrap();
            let start = bj(2025, 1, 1, 0, 0) + Duration::days(start_days) + Duration::minutes(i64::from(minute));
            let d1 = c.add_working_days(start, n);
            let d2 = c.add_working_days(start, n + 1);
            prop_assert!(d2 > d1);
            prop_assert!(c.is_working_day(d2.with_timezone(&c.offset()).date_naive()));
            let a = c.deadline(start, Limit::WorkingHours(h));
            let b = c.deadline(start, Limit::WorkingHours(h + 1));
            prop_assert!(b > a && a > start);
            let local = a.with_timezone(&c.offset());
            prop_assert!(c.is_working_day(local.date_naive()));
            let t = local.time();
            prop_assert!(c.hours.iter().any(|(x, y)| t > *x && t <= *y), "{} is outside working hours", local);
        }
    }
}
