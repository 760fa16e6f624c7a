//! Caches of one server (the point-in-grid index, the categories, the
//! calendar) kept in step with the database when several servers share it.
//!
//! A change raises the cache's generation in the database; every server
//! compares the generations every few seconds ([`Store::refresh_caches`])
//! and drops what another server changed. The server that made the change
//! drops its own copy at once.
//!
//! A copy read from the database is installed only when no drop happened
//! while it was read ([`Store::cache_epoch`]), so a reader that started
//! before a change cannot put the old copy back after it.

use std::collections::HashMap;

use crate::db::BeginWrite;
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

    pub(crate) fn key(self) -> &'static str {
        match self {
            Cached::Grids => "grids",
            Cached::Categories => "categories",
            Cached::Calendar => "calendar",
            Cached::RegistryCounts => "registry_counts",
        }
    }
}

/// Raises a cache's generation inside the change's own transaction, so
/// that the change and the signal to the other servers commit together: a
/// server that dies after its commit cannot leave the others on the old
/// copy. After the commit, [`Store::changed_committed`] drops this
/// server's copy.
macro_rules! changed_in_tx {
    ($tx:expr, $what:expr) => {{
        let key = $what.key();
        sqlx::query(
            "INSERT INTO cache_generation (name, n) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
        )
        .bind(key)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE cache_generation SET n = n + 1 WHERE name = $1")
            .bind(key)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use changed_in_tx;

impl Store {
    /// A change made outside a transaction (a bulk load): raises the
    /// generation, then drops this server's copy.
    pub(crate) async fn changed(&self, what: Cached) -> Result<()> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            changed_in_tx!(tx, what);
            tx.commit().await?;
        });
        self.changed_committed(what).await
    }

    /// After a commit that raised `what`'s generation ([`changed_in_tx`]):
    /// drops this server's copy and notes the generation it now holds.
    pub(crate) async fn changed_committed(&self, what: Cached) -> Result<()> {
        self.drop_cached(what).await?;
        let n = self
            .generations()
            .await?
            .get(what.key())
            .copied()
            .unwrap_or(0);
        self.note_generation(what, n);
        Ok(())
    }

    /// Drops what another server changed since the last call. Every server
    /// runs it every few seconds.
    pub async fn refresh_caches(&self) -> Result<()> {
        let now = self.generations().await?;
        for what in Cached::ALL {
            let n = now.get(what.key()).copied().unwrap_or(0);
            if self.seen_generation(what).is_some_and(|seen| seen != n) {
                // Noted only once dropped: a failed drop is tried again.
                self.drop_cached(what).await?;
            }
            self.note_generation(what, n);
        }
        Ok(())
    }

    async fn generations(&self) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT name, n FROM cache_generation").fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }

    fn seen_generation(&self, what: Cached) -> Option<i64> {
        match self.seen_generations.lock() {
            Ok(g) => g.get(what.key()).copied(),
            Err(p) => p.into_inner().get(what.key()).copied(),
        }
    }

    fn note_generation(&self, what: Cached, n: i64) {
        match self.seen_generations.lock() {
            Ok(mut g) => g.insert(what.key(), n),
            Err(p) => p.into_inner().insert(what.key(), n),
        };
    }

    /// How many drops there have been: read before loading a cache from the
    /// database, compared before installing it.
    pub(crate) fn cache_epoch(&self) -> u64 {
        self.cache_drops.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn drop_cached(&self, what: Cached) -> Result<()> {
        self.cache_drops
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
