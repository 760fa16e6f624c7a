//! "Me too" (我也遇到): the open cases near a point that a resident may
//! join instead of reporting a duplicate, joining one, and what a joined
//! case lets its followers see.

use linli_core::case::State;
use linli_core::ids::{AccountId, CaseId};
use serde::Serialize;

use super::read::OPEN_STATES;
use super::{CaseView, case_code};
use crate::db::{BeginWrite, now_ms, placeholders};
use crate::{Result, Scope, Store, StoreError, with_db};

/// An open case near a point, as shown before a resident reports.
#[derive(Debug, Clone, Serialize)]
pub struct NearbyCase {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub category_code: Option<String>,
    pub state: String,
    pub created_at: i64,
    /// Metres from the point.
    pub distance_m: f64,
    /// Residents who joined it.
    pub followers: i64,
    /// Where it lies in the org tree: staff see which case it is only
    /// within their own area.
    #[serde(skip)]
    pub scope_path: String,
}

/// Metres between two WGS-84 points (haversine; a few hundred metres).
fn metres(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let r = 6_371_000.0_f64;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

impl Store {
    /// The open cases of the point's grid within `radius_m`, of `category`
    /// (or its group) when given, nearest first, at most `limit`.
    pub async fn nearby_open(
        &self,
        lon: f64,
        lat: f64,
        category: Option<&str>,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<NearbyCase>> {
        let Some(grid) = self.locate_grid(&Scope::Everything, lon, lat).await? else {
            return Ok(Vec::new());
        };
        let scope = grid.scope()?;
        let (lo, hi) = scope.bounds();
        type Row = (
            i64,
            i64,
            String,
            Option<String>,
            String,
            Option<f64>,
            Option<f64>,
            String,
        );
        let rows: Vec<Row> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, created_at, title, category_code, state, lon, lat, scope_path FROM service_case c
                  WHERE c.state IN {OPEN_STATES} AND c.scope_path >= $1 AND c.scope_path < $2
                  ORDER BY id DESC LIMIT 2000"
            )))
            .bind(lo).bind(hi).fetch_all(pool).await?
        });
        let group = category.map(|c| c.chars().take(2).collect::<String>());
        let mut near: Vec<NearbyCase> = rows
            .into_iter()
            .filter_map(
                |(id, created_at, title, cat, state, clon, clat, scope_path)| {
                    let d = metres(lon, lat, clon?, clat?);
                    let same = match (&group, &cat) {
                        (Some(g), Some(c)) => c.starts_with(g.as_str()),
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    (d <= radius_m && same).then(|| NearbyCase {
                        id,
                        code: case_code(id, created_at),
                        title,
                        category_code: cat,
                        state,
                        created_at,
                        distance_m: d,
                        followers: 0,
                        scope_path,
                    })
                },
            )
            .collect();
        near.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        near.truncate(limit);
        let ids: Vec<i64> = near.iter().map(|n| n.id).collect();
        for (id, n) in self.follower_counts(&ids).await? {
            if let Some(c) = near.iter_mut().find(|c| c.id == id) {
                c.followers = n;
            }
        }
        Ok(near)
    }

    /// How many residents joined each of these cases.
    pub async fn follower_counts(&self, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT case_id, COUNT(*) FROM case_follower WHERE case_id IN ({}) GROUP BY case_id",
            placeholders(1, ids.len())
        );
        Ok(with_db!(&self.db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await?
        }))
    }

    /// A resident joins an open case (我也遇到): they see it and are told
    /// of its steps; its timeline shows one more resident affected. Joining
    /// twice is joining once; the reporter need not join their own.
    pub async fn join_case(
        &self,
        account_id: AccountId,
        actor: &str,
        case_id: CaseId,
    ) -> Result<()> {
        let (account_id, case_id) = (account_id.0, case_id.0);
        let c = self.case_plain(&Scope::Everything, case_id).await?;
        let open = State::parse(&c.row.state).is_some_and(State::is_open);
        if !open {
            return Err(StoreError::conflict(
                format!("case {} is no longer open", c.row.code),
                format!("工单 {} 已办结，不能再加入，请另行反映", c.row.code),
            ));
        }
        if c.row.reporter_account == Some(account_id) {
            return Ok(());
        }
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let added = sqlx::query("INSERT INTO case_follower (case_id, account_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(case_id).bind(account_id).bind(now).execute(&mut *tx).await?;
            if added.rows_affected() == 1 {
                sqlx::query("INSERT INTO case_event (case_id, action, from_state, to_state, actor, note, data, at) VALUES ($1, 'join', $2, $2, $3, '', '{}', $4)")
                    .bind(case_id).bind(&c.row.state).bind(actor).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether an account joined a case.
    pub(crate) async fn follows(&self, account_id: i64, case_id: i64) -> Result<bool> {
        let n: i64 = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM case_follower WHERE case_id = $1 AND account_id = $2")
                .bind(case_id).bind(account_id).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// The cases a resident joined, newest first.
    pub async fn joined_cases(&self, account_id: i64) -> Result<Vec<CaseView>> {
        // One read: the newest hundred joined, with their names joined in.
        let sql = format!(
            "{} WHERE c.id IN (SELECT case_id FROM case_follower WHERE account_id = $1 ORDER BY case_id DESC LIMIT 100) ORDER BY c.id DESC",
            super::CASE_SELECT
        );
        let rows: Vec<super::CaseRow> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(pool).await?
        });
        let now = crate::db::now_ms();
        rows.into_iter().map(|r| super::view(r, now)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metres_between_points() {
        // 0.001° of latitude is about 111 m.
        let d = metres(118.785, 32.025, 118.785, 32.026);
        assert!((d - 111.2).abs() < 1.0, "{d}");
        assert_eq!(metres(118.0, 32.0, 118.0, 32.0), 0.0);
    }
}
