//! One code base on SQLite and PostgreSQL.
//!
//! [`Db`] holds a pool of either kind; the `with_db!` macro runs the same
//! block against whichever it is, so every query is written once with `$1`
//! placeholders (SQLite accepts them) and typed per backend by the compiler.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool.
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// What kind of database a URL names, or why it is refused.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(StoreError::Config(format!(
            "unsupported database URL '{}': use sqlite://FILE (e.g. sqlite://linli.db) or postgres://USER@HOST/DB",
            redact(url)
        ))),
    }
}

/// The URL without any password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connects to a database URL. SQLite files are created if absent and
    /// run in WAL mode with `synchronous=FULL`, so an acknowledged commit
    /// survives a killed process and a power cut.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_schema(url, None).await
    }

    /// As [`Db::connect`]; on PostgreSQL every connection uses `schema`
    /// (used by tests to get an isolated database in one server).
    pub async fn connect_with_schema(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, None).await
    }

    /// A SQLite database that can hold at most `max_pages` pages: a disk
    /// that fills up, for the fault tests.
    pub async fn connect_sqlite_filling(url: &str, max_pages: u64) -> Result<Self, StoreError> {
        Self::connect_with(url, None, Some(max_pages)).await
    }

    async fn connect_with(
        url: &str,
        schema: Option<&str>,
        max_pages: Option<u64>,
    ) -> Result<Self, StoreError> {
        match backend_of(url)? {
            Backend::Sqlite => {
                let mut opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    // 64 MiB of page cache per connection and memory-mapped
                    // reads: index-heavy writes otherwise spend their time
                    // in read/write system calls for 4 KiB pages.
                    .pragma("cache_size", "-65536")
                    .pragma("mmap_size", "1073741824")
                    .pragma("temp_store", "memory");
                if let Some(n) = max_pages {
                    opts = opts.pragma("max_page_count", n.to_string());
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    // A COMMIT that fails (the disk is full) can leave the
                    // connection inside a transaction SQLite already ended;
                    // every later BEGIN on it would fail until a restart.
                    // Such a connection is closed when it comes back (after
                    // the rollback its transaction left behind has run),
                    // and the pool opens a fresh one.
                    .after_release(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Connection;
                            conn.ping().await?;
                            Ok(!conn.is_in_transaction())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
            Backend::Postgres => {
                let mut opts = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
                    .application_name("linli")
                    // Plan each statement for its values: a list's range of
                    // org paths may hold a grid's cases or a district's, and
                    // a generic plan made for one fits the other badly.
                    .options([("plan_cache_mode", "force_custom_plan")]);
                if let Some(s) = schema {
                    opts = opts.options([("search_path", s)]);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        with_db!(self, p => p.close().await)
    }
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// at the start (`BEGIN IMMEDIATE`): a deferred transaction that reads and
/// then writes fails at once, busy timeout or not, when another writer
/// committed in between (SQLITE_BUSY_SNAPSHOT). Waiting at the start is
/// what the busy timeout handles.
pub trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>,
    > + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

/// Milliseconds since the Unix epoch, the storage form of every time.
/// `n` numbered placeholders from `$first`: "$3, $4, $5" for an IN list
/// (both databases take `$N` through sqlx).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A moment as Beijing time, for messages: "2026-12-02 14:05:09".
pub fn beijing_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            (t + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_schemes() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgresql://u@h/d").unwrap(), Backend::Postgres);
        let e = backend_of("mysql://root:secret@h/d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported database URL"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}

/// A value bound to a query built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// The conditions of a query built at run time: only the filters that are
/// set become SQL, so the planner sees each list's real shape instead of a
/// catch-all `($n = '' OR …)` that it cannot plan around.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    pub(crate) args: Vec<Arg>,
}

impl Conditions {
    /// Binds a value; returns its placeholder.
    pub(crate) fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    pub(crate) fn int(&mut self, v: i64) -> String {
        self.arg(Arg::Int(v))
    }

    pub(crate) fn text(&mut self, v: &str) -> String {
        self.arg(Arg::Text(v.to_string()))
    }

    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// ` WHERE a AND b …`, or nothing.
    pub(crate) fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// Binds [`Conditions::args`] to a query, in order.
#[macro_export]
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::db::Arg::Int(i) => q.bind(*i),
                $crate::db::Arg::Text(s) => q.bind(s.clone()),
                $crate::db::Arg::Bytes(b) => q.bind(b.clone()),
            };
        }
        q
    }};
}
