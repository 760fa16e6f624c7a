//! Leases for background jobs, so that several servers sharing one
//! database run each job on one instance at a time.
//!
//! A lease is a row (`job_lease`) naming its holder and until when it
//! holds. An instance takes a free or expired lease, or renews its own, by
//! one conditional UPDATE: of two instances trying at once, exactly one
//! sees its row changed. The jobs themselves stay safe without the lease
//! (each claims its rows), so a lease that runs out in the middle of a slow
//! round costs duplicate work, never a duplicate effect.

use crate::{Result, Store, with_db};

impl Store {
    /// The database's clock in Unix milliseconds: the one clock all servers
    /// of a PostgreSQL share (SQLite runs on one machine: its clock).
    pub async fn db_now_ms(&self) -> Result<i64> {
        match &self.db {
            crate::Db::Postgres(pool) => Ok(sqlx::query_scalar(
                "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
            )
            .fetch_one(pool)
            .await?),
            crate::Db::Sqlite(_) => Ok(crate::db::now_ms()),
        }
    }

    /// Takes or renews the lease `job` for `holder` until `now + ttl_ms`.
    /// True when `holder` holds it now.
    pub async fn try_lease(&self, job: &str, holder: &str, now: i64, ttl_ms: i64) -> Result<bool> {
        let until = now.saturating_add(ttl_ms);
        let changed = with_db!(&self.db, pool => {
            sqlx::query("INSERT INTO job_lease (name, holder, until_ms) VALUES ($1, '', 0) ON CONFLICT (name) DO NOTHING")
                .bind(job).execute(pool).await?;
            sqlx::query("UPDATE job_lease SET holder = $2, until_ms = $3 WHERE name = $1 AND (holder = $2 OR until_ms < $4)")
                .bind(job).bind(holder).bind(until).bind(now)
                .execute(pool).await?.rows_affected()
        });
        Ok(changed == 1)
    }

    /// Gives a lease up (a server shutting down), so another instance can
    /// take the job at once instead of waiting for the lease to run out.
    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        with_db!(&self.db, pool => {
            sqlx::query("UPDATE job_lease SET until_ms = 0 WHERE name = $1 AND holder = $2")
                .bind(job).bind(holder).execute(pool).await?;
        });
        Ok(())
    }
}
