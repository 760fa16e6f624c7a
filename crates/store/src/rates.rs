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

use serde::Serialize;

use crate::{Result, Scope, Store, with_db};

/// The counts behind the rates of one unit (or of everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RateCounts {
    pub unit_id: Option<i64>,
    pub requests: i64,
    pub responded_in_time: i64,
    pub refused: i64,
    pub resolved: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub opened: i64,
    pub due: i64,
    pub closed_on_time: i64,
    pub closed: i64,
    pub reworked: i64,
    pub extended: i64,
}

#[derive(Debug, Clone, Serialize)]
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

/// The aggregate, one row per unit; `now` bounds "deadline has passed".
const COUNTS: &str = "SELECT unit_id,
    COUNT(*) AS requests,
    SUM(CASE WHEN responded_at IS NOT NULL AND (response_due IS NULL OR responded_at <= response_due) THEN 1 ELSE 0 END) AS responded_in_time,
    SUM(CASE WHEN state = 'refused' THEN 1 ELSE 0 END) AS refused,
    SUM(CASE WHEN resolution IS NOT NULL THEN 1 ELSE 0 END) AS resolved,
    SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END) AS rated,
    SUM(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END) AS satisfied,
    SUM(CASE WHEN due_at IS NOT NULL THEN 1 ELSE 0 END) AS opened,
    SUM(CASE WHEN due_at IS NOT NULL AND (due_at < $4 OR closed_at IS NOT NULL) THEN 1 ELSE 0 END) AS due,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
    SUM(CASE WHEN due_at IS NOT NULL AND closed_at IS NOT NULL AND rework_count > 0 THEN 1 ELSE 0 END) AS reworked,
    SUM(CASE WHEN extension_count > 0 THEN 1 ELSE 0 END) AS extended
 FROM service_case
 WHERE scope_path >= $1 AND scope_path < $2 AND created_at >= $3 AND created_at < $5 AND state <> 'merged'
 GROUP BY unit_id ORDER BY unit_id";

impl Store {
    /// Rates by unit for cases registered in `[from, to)` (ms), plus a
    /// total row (unit_id null in `total`). Cases not yet dispatched count
    /// under unit null.
    pub async fn rates(&self, scope: &Scope, from: i64, to: i64) -> Result<(Vec<Rates>, Rates)> {
        let (lo, hi) = scope.bounds();
        let now = crate::db::now_ms().min(to);
        let rows: Vec<RateCounts> = with_db!(&self.db, pool => {
            sqlx::query_as(COUNTS).bind(&lo).bind(&hi).bind(from).bind(now).bind(to).fetch_all(pool).await?
        });
        let units = self.units(&Scope::Everything).await?;
        let mut total = RateCounts::default();
        for r in &rows {
            total.requests += r.requests;
            total.responded_in_time += r.responded_in_time;
            total.refused += r.refused;
            total.resolved += r.resolved;
            total.rated += r.rated;
            total.satisfied += r.satisfied;
            total.opened += r.opened;
            total.due += r.due;
            total.closed_on_time += r.closed_on_time;
            total.closed += r.closed;
            total.reworked += r.reworked;
            total.extended += r.extended;
        }
        let by_unit = rows
            .into_iter()
            .map(|c| {
                let name = c
                    .unit_id
                    .and_then(|u| units.iter().find(|x| x.id == u))
                    .map(|u| u.name.clone());
                Rates::from_counts(c, name)
            })
            .collect();
        Ok((by_unit, Rates::from_counts(total, None)))
    }
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
}
