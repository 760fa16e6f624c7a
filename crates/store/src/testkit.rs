//! Fresh databases for tests: a temporary SQLite file, and when
//! LINLI_TEST_PG_URL is set, a PostgreSQL schema of its own. In CI the
//! PostgreSQL URL is required, so no storage test silently skips it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Db, Store, Vault};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const PG_URL_VAR: &str = "LINLI_TEST_PG_URL";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    )
}

/// The vault key every test store uses.
pub const TEST_KEY: [u8; 32] = [3; 32];

async fn pg_exec(url: &str, sql: String) {
    let admin = Db::connect(url).await.expect("connect to PostgreSQL");
    if let Db::Postgres(p) = &admin {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .expect("schema statement");
    }
    admin.close().await;
}

/// Runs `f` once per backend, each time on a new, migrated, empty store.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Store, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    each_backend_shared(1, |mut stores, be| {
        let store = stores.remove(0);
        f(store, be)
    })
    .await;
}

/// Runs `f` once per backend with `n` stores (as `n` servers would have,
/// each with its own pool and caches) on one new database.
pub async fn each_backend_shared<F, Fut>(n: usize, f: F)
where
    F: Fn(Vec<Store>, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let path = std::env::temp_dir().join(format!("{}.db", unique("linli_test")));
    let url = format!("sqlite://{}", path.display());
    let mut stores = Vec::new();
    for _ in 0..n.max(1) {
        stores.push(
            Store::open(&url, Vault::new(TEST_KEY))
                .await
                .expect("open SQLite"),
        );
    }
    f(stores.clone(), "sqlite").await;
    for s in stores {
        s.db.close().await;
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => {
            let schema = unique("t");
            pg_exec(&url, format!("CREATE SCHEMA {schema}")).await;
            let mut stores = Vec::new();
            for _ in 0..n.max(1) {
                let db = Db::connect_with_schema(&url, Some(&schema))
                    .await
                    .expect("connect to PostgreSQL");
                stores.push(
                    Store::open_db(db, Vault::new(TEST_KEY))
                        .await
                        .expect("migrate PostgreSQL"),
                );
            }
            f(stores.clone(), "postgres").await;
            for s in stores {
                s.db.close().await;
            }
            pg_exec(&url, format!("DROP SCHEMA {schema} CASCADE")).await;
        }
        _ => assert!(
            std::env::var("CI").is_err(),
            "{PG_URL_VAR} must be set in CI so storage tests also run on PostgreSQL"
        ),
    }
}
