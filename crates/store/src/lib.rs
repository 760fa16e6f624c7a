//! linli-store: persistence on SQLite and PostgreSQL.
//!
//! Every read and write takes the caller's [`Scope`]: the part of the org
//! tree they may see. Rows below the org tree carry the materialised path
//! of their grid (`scope_path`), so a scope is one range condition that no
//! query can leave out by accident.

pub mod accounts;
pub mod apikey;
pub mod audit;
pub mod bulk;
pub mod caches;
pub mod cases;
pub mod db;
pub mod export;
pub mod history;
pub mod hotline;
pub mod import;
pub mod lease;
pub mod migrate;
pub mod notify;
pub mod org;
pub mod outbox;
pub mod photos;
pub mod rates;
pub mod registry;
pub mod registry_edit;
pub mod settings;
#[doc(hidden)]
#[allow(clippy::expect_used)]
pub mod testkit;
pub mod vault;

use std::sync::{Arc, RwLock};

pub use db::{Backend, Db};
pub use linli_core::msg::Msg;
pub use linli_core::scope::Scope;
pub use vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("not found: {0}")]
    NotFound(String),
    /// Outside the caller's scope. Reported like NotFound to callers so that
    /// ids of other areas cannot be probed.
    #[error("not found: {0}")]
    OutOfScope(String),
    /// A value a person gave is refused; the message is in both
    /// languages so that a page shows it in its own.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: Msg },
    #[error("conflict: {0}")]
    Conflict(Msg),
    /// Sign-in refused (wrong name or password, or no valid session).
    #[error("unauthorized: {0}")]
    Unauthorized(Msg),
    /// Too many attempts: refused for `retry_after_s` seconds.
    #[error("locked: {message}")]
    Locked { message: Msg, retry_after_s: u64 },
    #[error("encryption: {0}")]
    Crypto(String),
    /// A file that cannot be read as what it claims to be.
    #[error("file: {0}")]
    File(Msg),
}

impl StoreError {
    /// The error as a person reads it, in both languages: a refusal with
    /// its field's name; a failure of the database or the configuration
    /// named as such (its details, in English, stay in the log).
    pub fn message(&self) -> Msg {
        use linli_core::msg::with_label;
        match self {
            StoreError::Invalid { field, message } => Msg::new(
                with_label(field, &message.en, true),
                with_label(field, &message.zh, false),
            ),
            StoreError::Conflict(m) | StoreError::Unauthorized(m) | StoreError::File(m) => {
                m.clone()
            }
            StoreError::Locked { message, .. } => message.clone(),
            StoreError::NotFound(w) | StoreError::OutOfScope(w) => {
                Msg::new(format!("not found: {w}"), "未找到，或不在您的辖区内")
            }
            StoreError::Config(_) | StoreError::Db(_) | StoreError::Crypto(_) => {
                Msg::new(self.to_string(), "系统内部错误，请联系管理员")
            }
        }
    }

    /// Whether the database refused a write because its disk (or its
    /// size limit) is full: SQLite's SQLITE_FULL, PostgreSQL's 53100.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("13") | Some("53100"))
            }
            _ => false,
        }
    }

    /// A look-up that found nothing (or nothing in scope) as the error
    /// `instead`; any other error (the database's) stays as it is, so that
    /// an outage is never reported as a missing row.
    pub fn when_missing(self, instead: impl FnOnce() -> StoreError) -> StoreError {
        match self {
            StoreError::NotFound(_) | StoreError::OutOfScope(_) => instead(),
            other => other,
        }
    }

    /// A refused value of `field`, said in English and Chinese.
    pub fn invalid(field: &str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::invalid_msg(field, Msg::new(en, zh))
    }

    /// A refused value of `field` with the message of the rule that refused it.
    pub fn invalid_msg(field: &str, message: Msg) -> Self {
        StoreError::Invalid {
            field: field.to_string(),
            message,
        }
    }

    pub fn conflict(en: impl Into<String>, zh: impl Into<String>) -> Self {
        StoreError::Conflict(Msg::new(en, zh))
    }

    pub fn file(en: impl Into<String>, zh: impl Into<String>) -> Self {
        StoreError::File(Msg::new(en, zh))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Runs CPU-bound work (password hashing, file parsing, spreadsheet
/// building) on the blocking pool, so that it does not hold up the async
/// worker threads that serve every other request.
pub async fn off_async<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Config(format!("background work stopped: {e}")))
}

/// The store: a database, the vault that protects personal data, and a
/// cached point-in-grid index rebuilt when grids change.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    vault: Arc<Vault>,
    grid_index: Arc<RwLock<Option<Arc<linli_geo::GridIndex>>>>,
    calendar: Arc<RwLock<linli_core::calendar::Calendar>>,
    /// Active categories, read once and dropped when an administrator edits them.
    categories: Arc<RwLock<Option<Arc<Vec<linli_core::category::Category>>>>>,
    /// Requests waiting for the group commit of intake.
    intake_queue: Arc<cases::IntakeQueue>,
    /// Registry counts by scope bounds, with when they were counted: the
    /// staff overview, kept until the registry changes or they are old.
    scope_counts: Arc<std::sync::Mutex<org::CountsCache>>,
    /// Raised by every drop of a cache: a value read from the database
    /// before a drop is not installed after it (see [`caches`]).
    cache_drops: Arc<std::sync::atomic::AtomicU64>,
    /// Calendar reloads one at a time, so an older one cannot land last.
    calendar_reload: Arc<tokio::sync::Mutex<()>>,
    /// The cache generations this server last saw (see [`caches`]).
    seen_generations: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, i64>>>,
}

impl Store {
    /// A store over a database whose schema is already current; see
    /// [`Store::open_db`] for the usual way in.
    pub fn new(db: Db, vault: Vault) -> Result<Self> {
        let calendar =
            linli_core::calendar::Calendar::china().map_err(|e| StoreError::Config(e.en))?;
        Ok(Store {
            db,
            vault: Arc::new(vault),
            grid_index: Arc::new(RwLock::new(None)),
            calendar: Arc::new(RwLock::new(calendar)),
            categories: Arc::new(RwLock::new(None)),
            intake_queue: Arc::default(),
            seen_generations: Arc::default(),
            scope_counts: Arc::default(),
            cache_drops: Arc::default(),
            calendar_reload: Arc::default(),
        })
    }

    /// Brings the schema up to date, loads settings (calendar years added
    /// by administrators) and seeds the default categories into a new database.
    pub async fn open_db(db: Db, vault: Vault) -> Result<Self> {
        let applied = migrate::run(&db, &vault).await?;
        let store = Store::new(db, vault)?;
        if applied
            .iter()
            .any(|v| migrate::ROLLUP_MIGRATIONS.contains(v))
        {
            // A new rollup table over cases already there (an upgrade).
            store.rebuild_rollup().await?;
        }
        // The generations first: what is cached after this is dropped when
        // another server changes it.
        store.refresh_caches().await?;
        store.load_settings().await?;
        Ok(store)
    }

    /// Connects to a URL, then as [`Store::open_db`].
    pub async fn open(url: &str, vault: Vault) -> Result<Self> {
        Store::open_db(Db::connect(url).await?, vault).await
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}
