//! Reporting periods in Beijing time: months (the unit of the rates
//! rollup) and the periods people name (2026, 2026-Q3, 2026-07).

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};

use crate::msg::Msg;

/// Beijing time (UTC+8), the wall clock of every date people read or write.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"))
}

/// An instant (Unix milliseconds) as Beijing wall-clock time to the minute,
/// `2026-07-01 09:30`, as people read it on screen and in exports; empty
/// for an instant out of range.
pub fn beijing_minute(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| {
            t.with_timezone(&beijing())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A month as the number yyyymm, e.g. 202607; ordered like time.
pub type Month = i32;

/// The Beijing month holding the instant `ms` (Unix milliseconds).
pub fn month_of(ms: i64) -> Month {
    use chrono::Datelike;
    let d = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&beijing())
        .date_naive();
    d.year() * 100 + d.month() as i32
}

/// The first instant (ms) of a Beijing month.
pub fn month_start(m: Month) -> i64 {
    let (y, mo) = (m.div_euclid(100), m.rem_euclid(100).clamp(1, 12) as u32);
    let d = NaiveDate::from_ymd_opt(y, mo, 1).unwrap_or_default();
    beijing()
        .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// The month after `m`.
pub fn next_month(m: Month) -> Month {
    if m.rem_euclid(100) >= 12 {
        (m.div_euclid(100) + 1) * 100 + 1
    } else {
        m + 1
    }
}

/// `[from, to)` split at Beijing month boundaries: the part before the
/// first whole month, the whole months `[first, end)`, and the part after.
/// With no whole month inside, everything is in `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthSplit {
    pub head: Option<(i64, i64)>,
    pub months: Option<(Month, Month)>,
    pub tail: Option<(i64, i64)>,
}

pub fn split_months(from: i64, to: i64) -> MonthSplit {
    let none = MonthSplit {
        head: (from < to).then_some((from, to)),
        months: None,
        tail: None,
    };
    if from >= to {
        return none;
    }
    let mut first = month_of(from);
    if month_start(first) < from {
        first = next_month(first);
    }
    let end = month_of(to);
    // `end` starts at or before `to`; months [first, end) are whole.
    if first >= end {
        return none;
    }
    let (a, b) = (month_start(first), month_start(end));
    MonthSplit {
        head: (from < a).then_some((from, a)),
        months: Some((first, end)),
        tail: (b < to).then_some((b, to)),
    }
}

/// `[from, to)` of a named period: `2026`, `2026-Q3` or `2026-07`.
pub fn parse_period(s: &str) -> Result<(i64, i64), Msg> {
    let s = s.trim();
    let bad = || {
        Msg::new(
            format!(
                "'{s}' is not a period: use a year (2026), a quarter (2026-Q3) or a month (2026-07)"
            ),
            format!("“{s}”不是统计期：请写年份（2026）、季度（2026-Q3）或月份（2026-07）"),
        )
    };
    let (year, rest) = match s.split_once('-') {
        Some((y, r)) => (y, Some(r)),
        None => (s, None),
    };
    let year: i32 = year.parse().ok().ok_or_else(bad)?;
    if !(2000..=2200).contains(&year) {
        return Err(bad());
    }
    let (first, months) = match rest {
        None => (1, 12),
        Some(q) if q.starts_with(['Q', 'q']) => match q[1..].parse::<i32>() {
            Ok(n @ 1..=4) => ((n - 1) * 3 + 1, 3),
            _ => return Err(bad()),
        },
        Some(m) => match m.parse::<i32>() {
            Ok(n @ 1..=12) if m.len() == 2 => (n, 1),
            _ => return Err(bad()),
        },
    };
    let start = year * 100 + first;
    let mut end = start;
    for _ in 0..months {
        end = next_month(end);
    }
    Ok((month_start(start), month_start(end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn months_are_beijing_months() {
        // 2026-06-30T16:00:00Z is 2026-07-01 00:00 in Beijing.
        let t = 1_782_835_200_000;
        assert_eq!(month_of(t), 202607);
        assert_eq!(month_of(t - 1), 202606);
        assert_eq!(month_start(202607), t);
        assert_eq!(next_month(202612), 202701);
        assert_eq!(next_month(202601), 202602);
    }

    #[test]
    fn named_periods() {
        let (a, b) = parse_period("2026").unwrap();
        assert_eq!((month_of(a), month_of(b)), (202601, 202701));
        let (a, b) = parse_period("2026-Q4").unwrap();
        assert_eq!((month_of(a), month_of(b)), (202610, 202701));
        let (a, b) = parse_period("2026-07").unwrap();
        assert_eq!((month_of(a), month_of(b)), (202607, 202608));
        for bad in ["", "26", "2026-13", "2026-Q5", "2026-7", "x-01"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_of_whole_and_partial_months() {
        let (a, b) = parse_period("2026").unwrap();
        let s = split_months(a, b);
        assert_eq!(s.head, None);
        assert_eq!(s.months, Some((202601, 202701)));
        assert_eq!(s.tail, None);
        let s = split_months(a + 5, b - 5);
        assert_eq!(s.months, Some((202602, 202612)));
        assert_eq!(s.head, Some((a + 5, month_start(202602))));
        assert_eq!(s.tail, Some((month_start(202612), b - 5)));
        let s = split_months(a + 5, a + 86_400_000);
        assert_eq!(s.months, None);
        assert_eq!(s.head, Some((a + 5, a + 86_400_000)));
    }

    proptest! {
        /// The three parts cover [from, to) exactly, without overlap.
        #[test]
        fn split_covers_the_range(from in 1_600_000_000_000i64..1_900_000_000_000, len in 0i64..200 * 86_400_000) {
            let to = from + len;
            let s = split_months(from, to);
            let mut parts = Vec::new();
            parts.extend(s.head);
            if let Some((m1, m2)) = s.months {
                prop_assert!(m1 < m2);
                parts.push((month_start(m1), month_start(m2)));
            }
            parts.extend(s.tail);
            let mut at = from;
            for (a, b) in parts {
                prop_assert_eq!(a, at);
                prop_assert!(a < b);
                at = b;
            }
            prop_assert_eq!(at, if len == 0 { from } else { to });
        }
    }
}
