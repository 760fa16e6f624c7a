//! Overdue detection and in-app alerts.

use chrono::{DateTime, Utc};

use super::{case_code, ms};
use crate::db::BeginWrite;
use crate::outbox::enqueue_in_tx;
use crate::{Result, Scope, Store, with_db};

/// A deadline alert (预警) raised on a case.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Alert {
    pub id: i64,
    pub case_id: i64,
    /// overdue (the only kind raised today).
    pub kind: String,
    pub message: String,
    /// When it was raised, ms since 1970.
    pub at: i64,
}

impl Store {
    /// Marks open cases past their deadline as overdue, once each: an
    /// in-app alert for the case's area and a webhook to its unit, written
    /// in one transaction. Returns how many became overdue.
    pub async fn scan_overdue(&self, now: DateTime<Utc>) -> Result<u64> {
        let t = ms(now);
        #[derive(sqlx::FromRow)]
        struct Due {
            id: i64,
            created_at: i64,
            scope_path: String,
            unit_id: Option<i64>,
            due_at: i64,
            version: i64,
        }
        let due: Vec<Due> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, created_at, scope_path, unit_id, due_at, version FROM service_case
                 WHERE state IN ('opened','dispatched','handling','reported_back') AND due_at < $1 AND overdue_at IS NULL
                 ORDER BY due_at LIMIT 1000",
            ).bind(t).fetch_all(pool).await?
        });
        let mut ids: Vec<i64> = due.iter().filter_map(|c| c.unit_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let units = self.units_by_id(&ids).await?;
        let gateway = self.gateway_url().await?;
        let mut n = 0;
        for c in due {
            let (id, path, due_at) = (c.id, c.scope_path, c.due_at);
            let code = case_code(id, c.created_at);
            let url = c
                .unit_id
                .and_then(|u| units.iter().find(|x| x.id == u))
                .and_then(|u| u.webhook_url.clone());
            let notices = self.overdue_notices(c.unit_id, &code, &gateway).await?;
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                // As read: a step taken since (closed, extended, sent to
                // another unit) changed the version, and the case waits
                // for the next scan.
                let r = sqlx::query("UPDATE service_case SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL AND version = $3")
                    .bind(t).bind(id).bind(c.version).execute(&mut *tx).await?;
                if r.rows_affected() == 1 {
                    let msg = format!("工单 {code} 已超期 (overdue)");
                    sqlx::query("INSERT INTO alert (case_id, kind, scope_path, message, created_at) VALUES ($1, 'overdue', $2, $3, $4)")
                        .bind(id).bind(&path).bind(&msg).bind(t).execute(&mut *tx).await?;
                    crate::notify::notify_in_tx!(tx, &notices, id, t);
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
    pub async fn alerts(&self, scope: &Scope, limit: i64) -> Result<Vec<Alert>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, kind, message, created_at AS at FROM alert WHERE scope_path >= $1 AND scope_path < $2 ORDER BY id DESC LIMIT $3")
                .bind(lo).bind(hi).bind(limit.clamp(1, 500)).fetch_all(pool).await?
        }))
    }
}
