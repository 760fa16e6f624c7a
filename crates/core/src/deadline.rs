//! What a step does to a case's clocks: the response and handling
//! deadlines on the working-day calendar, the first response, the closing
//! time. [`crate::case::apply`] decides the step and names its effects;
//! [`apply_effects`] turns them into times. Times are Unix milliseconds.

use chrono::{DateTime, TimeZone, Utc};

use crate::calendar::{Calendar, Limit};
use crate::case::{Effect, StepError};

/// A case's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clocks {
    /// When the first response is due (from the category's response hours).
    pub response_due: Option<i64>,
    /// When handling is due (from the category's limit, once opened).
    pub due_at: Option<i64>,
    /// The first response (accept, answer or refusal).
    pub responded_at: Option<i64>,
    pub closed_at: Option<i64>,
}

/// The clocks after a step, and whether the step gave the case a new
/// deadline (so a past overdue mark no longer holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub clocks: Clocks,
    pub clear_overdue: bool,
}

/// What the category says about time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terms {
    /// Working hours to the first response.
    pub response_hours: Option<u32>,
    /// The handling limit.
    pub limit: Option<Limit>,
    /// A handling deadline given from outside (the 办理时限 of a 12345
    /// ticket): it takes the place of the limit when the clock starts.
    pub given_due: Option<i64>,
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Response deadline of a case registered at `created_at`.
pub fn response_due(cal: &Calendar, created_at: i64, terms: Terms) -> Option<i64> {
    terms.response_hours.map(|h| {
        cal.add_working_minutes(at(created_at), h.saturating_mul(60))
            .timestamp_millis()
    })
}

/// Carries out a step's effects at `now`. The response deadline is set
/// once the case has a category that gives one; opening needs a limit.
pub fn apply_effects(
    before: Clocks,
    effects: &[Effect],
    cal: &Calendar,
    created_at: i64,
    now: i64,
    terms: Terms,
) -> Result<Timed, StepError> {
    let mut c = before;
    let mut clear_overdue = false;
    if c.response_due.is_none() {
        c.response_due = response_due(cal, created_at, terms);
    }
    for e in effects {
        match e {
            Effect::StartClock if terms.given_due.is_some() => {
                c.due_at = terms.given_due;
                clear_overdue = true;
            }
            Effect::StartClock => {
                let limit = terms.limit.ok_or_else(|| StepError::Invalid {
                    field: "category",
                    message: crate::msg::Msg::new(
                        "the case needs a category with a time limit before it is opened",
                        "工单须先归入有办理时限的类别才能立案",
                    ),
                })?;
                c.due_at = Some(cal.deadline(at(now), limit).timestamp_millis());
                clear_overdue = true;
            }
            Effect::ExtendDeadline(days) => {
                let from = c.due_at.unwrap_or(now);
                c.due_at = Some(cal.add_working_days(at(from), *days).timestamp_millis());
                clear_overdue = true;
            }
            Effect::Responded => {
                c.responded_at.get_or_insert(now);
            }
            Effect::Close => c.closed_at = Some(now),
            Effect::Unclose => c.closed_at = None,
        }
    }
    Ok(Timed {
        clocks: c,
        clear_overdue,
    })
}

/// What is left of a deadline at `now`, as a queue shows it: days and
/// hours (calendar time), or how long it is overdue. (Chinese, English,
/// overdue.)
pub fn time_left(due_ms: i64, now_ms: i64) -> (String, String, bool) {
    let overdue = due_ms < now_ms;
    let minutes = (due_ms - now_ms).abs() / 60_000;
    let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let (zh, en) = if d > 0 {
        (format!("{d}天{h}小时"), format!("{d} d {h} h"))
    } else if h > 0 {
        (format!("{h}小时{m}分"), format!("{h} h {m} min"))
    } else {
        (format!("{m}分钟"), format!("{m} min"))
    };
    if overdue {
        (format!("超期{zh}"), format!("{en} overdue"), true)
    } else {
        (format!("剩{zh}"), format!("{en} left"), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_in_days_hours_or_minutes() {
        let h = 3_600_000;
        assert_eq!(time_left(2 * 24 * h + 3 * h, 0).0, "剩2天3小时");
        assert_eq!(time_left(0, 5 * h + 60_000).0, "超期5小时1分");
        let (zh, en, overdue) = time_left(10 * 60_000, 0);
        assert_eq!(
            (zh.as_str(), en.as_str(), overdue),
            ("剩10分钟", "10 min left", false)
        );
        assert!(time_left(0, 1).2);
    }
    use chrono::FixedOffset;

    fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn opening_starts_the_clock_on_working_days() {
        let cal = Calendar::china().unwrap();
        let terms = Terms {
            response_hours: Some(2),
            limit: Some(Limit::WorkingDays(3)),
            given_due: None,
        };
        // Registered Friday 2026-09-25 17:00; National Day holidays follow
        // (1–8 October 2026), with make-up working days.
        let created = bj(2026, 9, 25, 17, 0);
        let t = apply_effects(
            Clocks::default(),
            &[Effect::StartClock, Effect::Responded],
            &cal,
            created,
            created,
            terms,
        )
        .unwrap();
        // Two working hours from Friday 17:00: one on Friday, one on the next working day.
        let expected_response = cal.add_working_minutes(at(created), 120).timestamp_millis();
        assert_eq!(t.clocks.response_due, Some(expected_response));
        assert!(expected_response > bj(2026, 9, 26, 0, 0));
        assert_eq!(
            t.clocks.due_at,
            Some(
                cal.deadline(at(created), Limit::WorkingDays(3))
                    .timestamp_millis()
            )
        );
        assert_eq!(t.clocks.responded_at, Some(created));
        assert!(t.clear_overdue);
        // A second response keeps the first.
        let again = apply_effects(
            t.clocks,
            &[Effect::Responded],
            &cal,
            created,
            created + 1,
            terms,
        )
        .unwrap();
        assert_eq!(again.clocks.responded_at, Some(created));
        assert!(!again.clear_overdue);
    }

    #[test]
    fn extension_pushes_the_deadline_and_close_reopen() {
        let cal = Calendar::china().unwrap();
        let terms = Terms::default();
        let due = bj(2026, 11, 20, 18, 0); // a Friday
        let c = Clocks {
            due_at: Some(due),
            ..Default::default()
        };
        let t = apply_effects(c, &[Effect::ExtendDeadline(2)], &cal, due, due + 5, terms).unwrap();
        assert_eq!(
            t.clocks.due_at,
            Some(bj(2026, 11, 24, 18, 0)),
            "two working days after Friday: Tuesday"
        );
        assert!(t.clear_overdue);
        let closed = apply_effects(t.clocks, &[Effect::Close], &cal, due, due + 9, terms).unwrap();
        assert_eq!(closed.clocks.closed_at, Some(due + 9));
        let reopened = apply_effects(
            closed.clocks,
            &[Effect::Unclose],
            &cal,
            due,
            due + 10,
            terms,
        )
        .unwrap();
        assert_eq!(reopened.clocks.closed_at, None);
    }

    #[test]
    fn opening_without_a_limit_is_refused() {
        let cal = Calendar::china().unwrap();
        let e = apply_effects(
            Clocks::default(),
            &[Effect::StartClock],
            &cal,
            0,
            0,
            Terms::default(),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            StepError::Invalid {
                field: "category",
                ..
            }
        ));
    }

    #[test]
    fn a_given_deadline_takes_the_place_of_the_limit() {
        let cal = Calendar::china().unwrap();
        let created = bj(2026, 11, 2, 9, 0);
        let given = bj(2026, 11, 4, 18, 0);
        let t = apply_effects(
            Clocks::default(),
            &[Effect::StartClock],
            &cal,
            created,
            created,
            Terms {
                response_hours: None,
                limit: None,
                given_due: Some(given),
            },
        )
        .unwrap();
        assert_eq!(t.clocks.due_at, Some(given));
        assert!(t.clear_overdue);
    }
}
