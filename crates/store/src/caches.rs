//! Caches of one server (the point-in-grid index, the categories, the
//! calendar) kept in step with the database when several servers share it.
//!
//! A change raises the cache's generation in the database; every server
//! compares the generations every few seconds ([`Store::refresh_caches`])
//! and drops what another server changed. The server that made the change
//! drops its own copy at once.

use std::collections::HashMap;

use crate::{Result, Store, with_db};

/// A cached thing that other servers must learn has changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Grids,
    Categories,
    Calendar,
    /// The registry's counts per scope (the staff overview).
    RegistryCounts,
}

impl Cached {
    const ALL: [Cached; 4] = [
        Cached::Grids,
        Cached::Categories,
        Cached::Calendar,
        Cached::RegistryCounts,
    ];

    fn key(self) -> &'static str {
        match self {
            Cached::Grids => "grids",
            Cached::Categories => "categories",
            Cached::Calendar => "calendar",
            Cached::RegistryCounts => "registry_counts",
        }
    }
}

impl Store {
    /// After a committed change: drops this server's copy and raises the
    /// generation so that the other servers drop theirs.
    pub(crate) async fn changed(&self, what: Cached) -> Result<()> {
        with_db!(&self.db, pool => {
            sqlx::query("INSERT INTO cache_generation (name, n) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
                .bind(what.key()).execute(pool).await?;
            sqlx::query("UPDATE cache_generation SET n = n + 1 WHERE name = $1")
                .bind(what.key()).execute(pool).await?;
        });
        let n = self
            .generations()
            .await?
            .get(what.key())
            .copied()
            .unwrap_or(0);
        self.note_generation(what, n);
        self.drop_cached(what).await
    }

    /// Drops what another server changed since the last call. Every server
    /// runs it every few seconds.
    pub async fn refresh_caches(&self) -> Result<()> {
        let now = self.generations().await?;
        for what in Cached::ALL {
            let n = now.get(what.key()).copied().unwrap_or(0);
            if self.note_generation(what, n) {
                self.drop_cached(what).await?;
            }
        }
        Ok(())
    }

    async fn generations(&self) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT name, n FROM cache_generation").fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Records the generation seen; true when it differs from the last one.
    fn note_generation(&self, what: Cached, n: i64) -> bool {
        let mut seen = match self.seen_generations.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        seen.insert(what.key(), n).is_some_and(|before| before != n)
    }

    async fn drop_cached(&self, what: Cached) -> Result<()> {
        match what {
            Cached::Grids => {
                if let Ok(mut g) = self.grid_index.write() {
                    *g = None;
                }
            }
            Cached::Categories => {
                if let Ok(mut c) = self.categories.write() {
                    *c = None;
                }
            }
            Cached::Calendar => self.reload_calendar().await?,
            Cached::RegistryCounts => {
                if let Ok(mut c) = self.scope_counts.lock() {
                    c.clear();
                }
            }
        }
        Ok(())
    }
}
