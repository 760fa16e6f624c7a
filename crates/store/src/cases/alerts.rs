//! Overdue detection and in-app alerts.

use chrono::{DateTime, Utc};

use super::{case_code, ms};
use crate::db::BeginWrite;
use crate::outbox::enqueue_in_tx;
use crate::{Result, Scope, Store, with_db};

impl Store {
    /// Marks open cases past their deadline as overdue, once each: an
    /// in-app alert for the case's area and a webhook to its unit, written
    /// in one transaction. Returns how many became overdue.
    pub async fn scan_overdue(&self, now: DateTime<Utc>) -> Result<u64> {
        let t = ms(now);
        type Due = (i64, i64, String, Option<i64>, i64);
        let due: Vec<Due> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, created_at, scope_path, unit_id, due_at FROM service_case
                 WHERE state IN ('opened','dispatched','handling','reported_back') AND due_at < $1 AND overdue_at IS NULL
                 ORDER BY due_at LIMIT 1000",
            ).bind(t).fetch_all(pool).await?
        });
        let units = self.units(&Scope::Everything).await?;
        let mut n = 0;
        for (id, created_at, path, unit, due_at) in due {
            let code = case_code(id, created_at);
            let url = unit
                .and_then(|u| units.iter().find(|x| x.id == u))
                .and_then(|u| u.webhook_url.clone());
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                let r = sqlx::query("UPDATE service_case SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL")
                    .bind(t).bind(id).execute(&mut *tx).await?;
                if r.rows_affected() == 1 {
                    let msg = format!("工单 {code} 已超期 (overdue)");
                    sqlx::query("INSERT INTO alert (case_id, kind, scope_path, message, created_at) VALUES ($1, 'overdue', $2, $3, $4)")
                        .bind(id).bind(&path).bind(&msg).bind(t).execute(&mut *tx).await?;
                    if let Some(url) = &url {
                        let payload = serde_json::json!({"event": "case.overdue", "case_id": id, "code": code, "due_at": due_at, "at": t}).to_string();
                        enqueue_in_tx!(tx, "case.overdue", url, &payload, t);
                    }
                    n += 1;
                }
                tx.commit().await?;
            });
        }
        Ok(n)
    }

    /// In-app alerts for the scope, newest first.
    pub async fn alerts(
        &self,
        scope: &Scope,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String, String, i64)>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, kind, message, created_at FROM alert WHERE scope_path >= $1 AND scope_path < $2 ORDER BY id DESC LIMIT $3")
                .bind(lo).bind(hi).bind(limit.clamp(1, 500)).fetch_all(pool).await?
        }))
    }
}
