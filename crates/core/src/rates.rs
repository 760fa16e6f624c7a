//! Rates of the closed loop by handling unit and period. The formulas,
//! over cases registered in the period (merged duplicates left out):
//!
//! | rate | 中文 | formula |
//! |---|---|---|
//! | response rate | 响应率 | first response (accept, answer or refusal) no later than the response deadline ÷ requests |
//! | resolution rate | 解决率 | closed as answered or resolved ÷ (requests − refused) |
//! | satisfaction rate | 满意率 | (满意 + 基本满意) ÷ rated |
//! | on-time closure rate | 按期结案率 | closed no later than the deadline ÷ cases due (按期结案数/应结案数): opened cases whose deadline has passed, or that closed |
//! | closure rate | 结案率 | closed ÷ opened cases |
//! | rework rate | 返工率 | cases returned for rework at least once ÷ closed opened cases |
//! | extension rate | 延期率 | cases with an approved extension ÷ opened cases |
//!
//! A rate with a zero denominator is reported as null, not 0 or 100%.
//!
//! Pure rules: what one case adds to the rollup and the ratios; the
//! store counts in SQL with the same formulas and keeps the rollup.

use serde::Serialize;

use crate::period::{self, Month};

/// The counts behind the rates of one unit (or of everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct RateCounts {
    /// Absent from rows that are keyed otherwise (rollup deltas).
    #[cfg_attr(feature = "sqlx", sqlx(default))]
    pub unit_id: Option<i64>,
    pub requests: i64,
    pub responded_in_time: i64,
    pub refused: i64,
    pub resolved: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub opened: i64,
    /// Counted at read time (a clock-dependent count), never stored.
    #[cfg_attr(feature = "sqlx", sqlx(default))]
    pub due: i64,
    pub closed_on_time: i64,
    pub closed: i64,
    pub reworked: i64,
    pub extended: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Rates {
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
    pub counts: RateCounts,
    pub response_rate: Option<f64>,
    pub resolution_rate: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub closure_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub extension_rate: Option<f64>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Rates {
    pub fn from_counts(c: RateCounts, unit_name: Option<String>) -> Self {
        Rates {
            unit_id: c.unit_id,
            unit_name,
            response_rate: ratio(c.responded_in_time, c.requests),
            resolution_rate: ratio(c.resolved, c.requests - c.refused),
            satisfaction_rate: ratio(c.satisfied, c.rated),
            on_time_rate: ratio(c.closed_on_time, c.due),
            closure_rate: ratio(c.closed, c.opened),
            rework_rate: ratio(c.reworked, c.closed),
            extension_rate: ratio(c.extended, c.opened),
            counts: c,
        }
    }
}

/// Depth of the area key of the coarse rollup: paths cut to three ids
/// (city, district, subdistrict in a regular tree). A scope this deep or
/// less reads the coarse rollup (`case_rollup`).
pub const ROLLUP_DEPTH: usize = 3;

/// Depth of the area key of the fine rollup (`case_rollup_fine`): paths cut
/// to a community, whose dashboard reads it. Its rows follow communities ×
/// months × (units + categories), not cases. A scope deeper still (a zone,
/// a grid: hundreds to a few thousand cases a year) counts its own cases.
pub const FINE_DEPTH: usize = 4;

/// Whether a rollup area belongs to the fine rollup: coarse areas are at
/// most [`ROLLUP_DEPTH`] deep, fine ones exactly [`FINE_DEPTH`], so the key
/// says its table.
pub fn is_fine_area(area: &str) -> bool {
    path_depth(area) > ROLLUP_DEPTH
}

/// The number of ids in an org path (`/1/2/3/` is 3 deep).
pub fn path_depth(path: &str) -> usize {
    path.matches('/').count().saturating_sub(1)
}

/// An org path cut to `depth` ids (or whole, if it is not as deep).
pub fn cut_path(scope_path: &str, depth: usize) -> String {
    let mut cut = 0;
    for (n, (i, _)) in scope_path.match_indices('/').enumerate() {
        cut = i;
        if n == depth {
            break;
        }
    }
    scope_path[..=cut].to_string()
}

/// The rollup's area for a case's org path.
pub fn rollup_area(scope_path: &str) -> String {
    cut_path(scope_path, ROLLUP_DEPTH)
}

/// What one case adds to the rates: the same formulas as the store's SQL
/// count over cases (`COUNTS` in linli-store),
/// evaluated on one row. `None` for merged duplicates, which count nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFigures<'a> {
    pub state: &'a str,
    pub resolution: Option<&'a str>,
    pub rating: Option<&'a str>,
    pub unit_id: Option<i64>,
    /// The (leaf) category, if classified.
    pub category: Option<&'a str>,
    pub scope_path: &'a str,
    pub created_at: i64,
    pub response_due: Option<i64>,
    pub responded_at: Option<i64>,
    pub due_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rework_count: i64,
    pub extension_count: i64,
}

/// The key of a rollup row: (month, area, unit or 0, category). Rates rows
/// have category ""; category-mix rows have unit 0 and the case's leaf
/// category (or [`UNCLASSIFIED`]) and count requests only.
pub type RollupKey = (Month, String, i64, String);

/// The category of a mix row for a case not yet classified.
pub const UNCLASSIFIED: &str = "-";

impl CaseFigures<'_> {
    /// The rollup row this case counts in and what it adds there. The
    /// count of cases due (which depends on the clock) is left at 0: it is
    /// closed cases plus open ones past their deadline, read at query time.
    pub fn tally(&self) -> Option<(RollupKey, RateCounts)> {
        if self.state == "merged" {
            return None;
        }
        let b = |x: bool| x as i64;
        let opened = self.due_at.is_some();
        let closed = opened && self.closed_at.is_some();
        let c = RateCounts {
            unit_id: None,
            requests: 1,
            responded_in_time: b(self
                .responded_at
                .is_some_and(|r| self.response_due.is_none_or(|d| r <= d))),
            refused: b(self.state == "refused"),
            // An explained close (解释办结) is not a solved problem.
            resolved: b(matches!(self.resolution, Some("answered" | "resolved"))),
            rated: b(self.rating.is_some()),
            satisfied: b(matches!(
                self.rating,
                Some("satisfied" | "basically_satisfied")
            )),
            opened: b(opened),
            due: 0,
            closed_on_time: b(
                closed && matches!((self.closed_at, self.due_at), (Some(c), Some(d)) if c <= d)
            ),
            closed: b(closed),
            reworked: b(closed && self.rework_count > 0),
            extended: b(self.extension_count > 0),
        };
        let key = (
            period::month_of(self.created_at),
            rollup_area(self.scope_path),
            self.unit_id.unwrap_or(0),
            String::new(),
        );
        Some((key, c))
    }

    /// Every rollup row this case counts in: its rates row and its
    /// category-mix row, in the coarse rollup and, for a case below a
    /// subdistrict, in the fine one too.
    pub fn tallies(&self) -> Vec<(RollupKey, RateCounts)> {
        let Some((key, c)) = self.tally() else {
            return Vec::new();
        };
        let mut areas = vec![key.1.clone()];
        if path_depth(self.scope_path) > ROLLUP_DEPTH {
            areas.push(cut_path(self.scope_path, FINE_DEPTH));
        }
        let mut out = Vec::with_capacity(2 * areas.len());
        for area in areas {
            out.push(((key.0, area.clone(), key.2, String::new()), c.clone()));
            out.push((
                (
                    key.0,
                    area,
                    0,
                    self.category.unwrap_or(UNCLASSIFIED).to_string(),
                ),
                RateCounts {
                    requests: 1,
                    ..Default::default()
                },
            ));
        }
        out
    }
}

impl RateCounts {
    /// The stored counts, in the order of the rollup's columns.
    pub fn fields(&self) -> [i64; 11] {
        [
            self.requests,
            self.responded_in_time,
            self.refused,
            self.resolved,
            self.rated,
            self.satisfied,
            self.opened,
            self.closed_on_time,
            self.closed,
            self.reworked,
            self.extended,
        ]
    }

    /// Adds `other` times `sign` (+1 or −1), `due` included.
    pub fn add(&mut self, other: &RateCounts, sign: i64) {
        self.requests += sign * other.requests;
        self.responded_in_time += sign * other.responded_in_time;
        self.refused += sign * other.refused;
        self.resolved += sign * other.resolved;
        self.rated += sign * other.rated;
        self.satisfied += sign * other.satisfied;
        self.opened += sign * other.opened;
        self.due += sign * other.due;
        self.closed_on_time += sign * other.closed_on_time;
        self.closed += sign * other.closed;
        self.reworked += sign * other.reworked;
        self.extended += sign * other.extended;
    }

    fn is_zero(&self) -> bool {
        self.fields().iter().all(|x| *x == 0) && self.due == 0
    }
}

/// The change one case write makes to the rollup: its tally before taken
/// away, its tally after added, netted when both fall in one row.
pub fn rollup_change(
    before: Option<&CaseFigures<'_>>,
    after: Option<&CaseFigures<'_>>,
) -> Vec<(RollupKey, RateCounts)> {
    let mut out: Vec<(RollupKey, RateCounts)> = Vec::new();
    for (f, sign) in [(before, -1), (after, 1)] {
        for (key, c) in f.map(|f| f.tallies()).unwrap_or_default() {
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, acc)) => acc.add(&c, sign),
                None => {
                    let mut acc = RateCounts::default();
                    acc.add(&c, sign);
                    out.push((key, acc));
                }
            }
        }
    }
    out.retain(|(_, c)| !c.is_zero());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_denominators_are_null() {
        let r = Rates::from_counts(RateCounts::default(), None);
        assert_eq!(r.response_rate, None);
        let r = Rates::from_counts(
            RateCounts {
                requests: 4,
                responded_in_time: 3,
                refused: 1,
                resolved: 2,
                rated: 2,
                satisfied: 1,
                ..Default::default()
            },
            None,
        );
        assert_eq!(r.response_rate, Some(0.75));
        assert_eq!(r.resolution_rate, Some(2.0 / 3.0));
        assert_eq!(r.satisfaction_rate, Some(0.5));
    }

    fn case(state: &'static str) -> CaseFigures<'static> {
        CaseFigures {
            state,
            resolution: None,
            rating: None,
            unit_id: Some(7),
            category: Some("0101"),
            scope_path: "/1/2/3/4/5/",
            created_at: 1_767_225_600_000,
            response_due: Some(1_767_229_200_000),
            responded_at: None,
            due_at: None,
            closed_at: None,
            rework_count: 0,
            extension_count: 0,
        }
    }

    #[test]
    fn one_case_counts_once_by_the_formulas() {
        assert_eq!(
            case("merged").tally(),
            None,
            "a merged duplicate counts nowhere"
        );
        let closed = CaseFigures {
            resolution: Some("explained"),
            rating: Some("basically_satisfied"),
            responded_at: Some(1_767_229_200_000),
            due_at: Some(1_767_300_000_000),
            closed_at: Some(1_767_300_000_000),
            rework_count: 1,
            ..case("closed")
        };
        let (key, c) = closed.tally().unwrap();
        assert_eq!((key.1.as_str(), key.2), ("/1/2/3/", 7));
        assert_eq!(
            (
                c.requests,
                c.responded_in_time,
                c.resolved,
                c.satisfied,
                c.opened,
                c.closed,
                c.closed_on_time,
                c.reworked
            ),
            (1, 1, 0, 1, 1, 1, 1, 1),
            "an explained close is not a solved problem; closing at the deadline is on time"
        );
        // Its rates and category-mix rows, coarse and fine (below a subdistrict).
        let areas: Vec<(String, String)> = closed
            .tallies()
            .into_iter()
            .map(|(k, _)| (k.1, k.3))
            .collect();
        assert_eq!(
            areas,
            [
                ("/1/2/3/".into(), String::new()),
                ("/1/2/3/".into(), "0101".into()),
                ("/1/2/3/4/".into(), String::new()),
                ("/1/2/3/4/".into(), "0101".into()),
            ]
        );
        // A step that changes nothing the rates count changes no row.
        assert!(rollup_change(Some(&closed), Some(&closed)).is_empty());
        let change = rollup_change(Some(&case("registered")), Some(&case("refused")));
        assert!(change.iter().all(|(_, c)| c.requests == 0));
        assert!(change.iter().any(|(_, c)| c.refused == 1));
    }
}
