//! linli-web: the HTTP interface over the store.
//!
//! - `/healthz`: liveness and database check.
//! - `/api/v1/...`: JSON API; [`authz`] checks the role's permission for
//!   every operation, then each handler passes its [`Caller`]'s scope on.
//! - `/open311/v2/...`: Open311 GeoReport v2.
//! - the pages ([`ui`]): sign-in, resident portal, grid member, workbench,
//!   dashboard; each route declared with its permission ([`ui::pages`]).

mod accounts_api;
pub mod api;
pub mod authz;
mod cases_api;
pub mod doc;
mod error;
pub mod jobs;
mod open311;
pub mod server;
pub mod throttle;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use linli_core::access::Role;
use linli_store::{Scope, Store};

pub use error::AppError;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Bearer token of the district administrator (automation, the first
    /// set-up); people sign in with accounts instead.
    pub admin_token: Arc<String>,
    /// Failed sign-ins by client address.
    pub login_throttle: Arc<throttle::LoginThrottle>,
    /// Failed sign-ins by user name and address.
    pub name_throttle: Arc<throttle::NameThrottle>,
    /// Look-ups of people by ID number or phone, per account.
    pub lookup_throttle: Arc<throttle::LookupThrottle>,
    /// ID numbers checked by registry imports, per account per day.
    pub import_budget: Arc<throttle::ImportBudget>,
    /// Whether Open311 `GET requests` lists requests to anyone (public
    /// fields only); off, it answers 404 as if not implemented.
    pub open311_public_list: bool,
    /// Where the jobs append a signed audit checkpoint every few minutes,
    /// and against whose last line the audit page verifies; keep it on
    /// another disk or copy it elsewhere (LINLI_AUDIT_CHECKPOINTS).
    pub audit_checkpoints: Option<Arc<std::path::PathBuf>>,
}

impl AppState {
    pub fn new(store: Store, admin_token: String) -> AppState {
        AppState {
            store,
            admin_token: Arc::new(admin_token),
            login_throttle: Arc::default(),
            name_throttle: Arc::default(),
            lookup_throttle: Arc::default(),
            import_budget: Arc::default(),
            open311_public_list: true,
            audit_checkpoints: None,
        }
    }

    /// Verifies the audit chain against the last checkpoint, if kept.
    pub(crate) async fn verify_audit(
        &self,
    ) -> Result<linli_store::audit::Verification, linli_store::StoreError> {
        let cp = match &self.audit_checkpoints {
            Some(path) => linli_store::audit::last_checkpoint(path)?,
            None => None,
        };
        self.store.audit_verify(cp.as_ref()).await
    }
}

/// The client's address, when the server knows it.
pub(crate) struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl ClientIp {
    /// 429 while this address is held back by the sign-in throttle.
    pub(crate) fn admit(&self, state: &AppState, now: i64) -> Result<(), linli_store::StoreError> {
        match self.0.map(|ip| state.login_throttle.check(&ip, now)) {
            Some(Err(wait_ms)) => Err(throttle::held_back(
                "too many failed sign-ins or sign-ups from this address",
                "此地址登录失败或注册次数过多",
                wait_ms,
            )),
            _ => Ok(()),
        }
    }

    /// Counts an attempt (a failed sign-in, a sign-up) against this address.
    pub(crate) fn count(&self, state: &AppState, now: i64) {
        if let Some(ip) = self.0 {
            state.login_throttle.count(&ip, now);
        }
    }

    /// Signs in through the throttle: a held-back address gets 429; a
    /// failure counts against it.
    pub(crate) async fn login(
        &self,
        state: &AppState,
        username: &str,
        password: &str,
    ) -> Result<(String, linli_store::accounts::Session), linli_store::StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        self.admit(state, now)?;
        let name = (username.trim().to_lowercase(), self.0);
        if let Err(wait_ms) = state.name_throttle.check(&name, now) {
            return Err(throttle::held_back(
                "too many failed sign-ins with this user name",
                "此用户名登录失败次数过多",
                wait_ms,
            ));
        }
        let r = state.store.login(username, password, now).await;
        match &r {
            Err(linli_store::StoreError::Unauthorized(_)) => {
                self.count(state, now);
                state.name_throttle.count(&name, now);
            }
            Ok(_) => state.name_throttle.reset(&name),
            Err(_) => {}
        }
        r
    }
}

/// Who is calling and which part of the org tree they may see. Every
/// handler that touches data takes one, so no handler can forget the scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: String,
    /// What the caller may do (see `linli_core::access`).
    pub role: Role,
    pub scope: Scope,
    /// The signed-in account, when the caller came with a session cookie.
    pub account_id: Option<i64>,
}

/// The cookie that carries a session token.
pub const SESSION_COOKIE: &str = "linli_session";

/// A cookie's value in a request, if any.
pub(crate) fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The session token in a request's cookies, if any.
pub(crate) fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE).filter(|v| !v.is_empty())
}

pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A CSRF token as a page carries it: XORed with a fresh random pad, pad
/// first, in hex. Pages are compressed, and a secret that repeats the
/// same bytes in every compressed page beside text an attacker chooses
/// could be read from the sizes (BREACH); a masked token never repeats.
pub(crate) fn mask_token(token: &str) -> String {
    use rand_core::{OsRng, TryRngCore};
    let t = token.as_bytes();
    let mut pad = vec![0u8; t.len()];
    if OsRng.try_fill_bytes(&mut pad).is_err() {
        // No randomness: the token unmasked still works (only the
        // compression side channel is then open).
        return token.to_string();
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let masked: Vec<u8> = pad.iter().zip(t).map(|(p, x)| p ^ x).collect();
    format!("{}{}", hex(&pad), hex(&masked))
}

/// Whether `sent` is `token`, as it is or masked by [`mask_token`].
pub(crate) fn token_matches(sent: &str, token: &str) -> bool {
    if same_secret(sent.as_bytes(), token.as_bytes()) {
        return true;
    }
    let n = token.len();
    if sent.len() != 4 * n || !sent.is_ascii() {
        return false;
    }
    let byte = |i: usize| u8::from_str_radix(&sent[2 * i..2 * i + 2], 16).ok();
    let unmasked: Option<Vec<u8>> = (0..n).map(|i| Some(byte(i)? ^ byte(n + i)?)).collect();
    unmasked.is_some_and(|u| same_secret(&u, token.as_bytes()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Found once by the authorisation layer; handlers reuse it.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(t) if same_secret(t.as_bytes(), state.admin_token.as_bytes()) => Ok(Caller {
                actor: "admin".into(),
                role: Role::DistrictAdmin,
                scope: Scope::Everything,
                account_id: None,
            }),
            // An integration's API key, limited to its area.
            Some(t) => match state.store.check_api_key(t).await? {
                Some((name, scope)) => Ok(Caller {
                    actor: format!("apikey:{name}"),
                    // An integration (a hotline system, an app) works as
                    // subdistrict staff of its area: no accounts,
                    // settings, audit log or unmasking.
                    role: Role::SubdistrictStaff,
                    scope,
                    account_id: None,
                }),
                None => Err(AppError::unauthorized("the token is not valid", "令牌无效")),
            },
            None => match session_token(&parts.headers) {
                Some(token) => session_caller(parts, state, &token).await,
                None => Err(AppError::unauthorized(
                    "sign in (POST /api/v1/login) or send 'Authorization: Bearer <token>' (linli demo prints the token)",
                    "请先登录",
                )),
            },
        }
    }
}

/// A caller from a session cookie. A write made with a cookie must carry
/// the session's CSRF token in `X-CSRF-Token`, which another site's page
/// cannot read, so it cannot forge the write.
async fn session_caller(parts: &Parts, state: &AppState, token: &str) -> Result<Caller, AppError> {
    let now = chrono::Utc::now().timestamp_millis();
    let session = state.store.session(token, now).await?.ok_or_else(|| {
        AppError::unauthorized(
            "the session has ended; sign in again",
            "登录已过期，请重新登录",
        )
    })?;
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if !safe {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(AppError::forbidden(
                "a write with a session cookie needs the session's X-CSRF-Token header",
                "页面安全令牌缺失，请刷新页面后重试",
            ));
        }
    }
    Caller::of_account(&session.account)
}

impl Caller {
    /// The caller a signed-in account is: its role and its reach.
    pub(crate) fn of_account(account: &linli_store::accounts::Account) -> Result<Caller, AppError> {
        Ok(Caller {
            actor: format!("account:{}", account.username),
            role: account.role()?,
            scope: account.scope()?,
            account_id: Some(account.id),
        })
    }
}

/// Liveness: the database answers and its schema version. Cheap at any
/// size (no counts), since load balancers call it every few seconds.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match linli_store::migrate::current_version(&state.store.db).await {
        Ok(version) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "schema_version": version})),
        ),
        Err(e) => {
            tracing::error!("health check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "database unavailable"})),
            )
        }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api::routes(state.clone()))
        .merge(open311::routes())
        .merge(ui::routes(state.clone()))
        .fallback(|| async { AppError::NotFound("no such page".into()) })
        .layer(axum::middleware::from_fn(server::limit_body))
        .layer(axum::middleware::from_fn(server::request_deadline))
        .layer(server::compression())
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish.
/// Also runs the background jobs (overdue scan, webhooks).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let instance = jobs::instance_id();
    let jobs = tokio::spawn(jobs::run_forever(
        state.store.clone(),
        instance.clone(),
        state.audit_checkpoints.clone(),
    ));
    let store = state.store.clone();
    let checkpoints = state.audit_checkpoints.clone();
    let r = server::run(listener, router(state), shutdown_signal()).await;
    jobs.abort();
    // Stopped for good before the lease is given up (a round in flight
    // could renew it otherwise); another server may take the jobs at once.
    let _ = jobs.await;
    // One more checkpoint on the way out, so the window in which the end
    // of the log could be cut unnoticed is as short as the last run.
    if let Some(path) = &checkpoints {
        jobs::write_checkpoint(&store, path).await;
    }
    if let Err(e) = store.release_lease(jobs::LEASE, &instance).await {
        tracing::warn!("could not release the jobs' lease: {e}");
    }
    r
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_token_matches_only_its_own_token() {
        let token = "0123456789abcdef0123456789abcdef";
        let a = mask_token(token);
        let b = mask_token(token);
        assert_ne!(a, b, "a fresh pad each time");
        assert!(!a.contains(token));
        assert!(token_matches(&a, token) && token_matches(&b, token));
        assert!(token_matches(token, token), "the API sends it as it is");
        assert!(!token_matches(&a, "fedcba9876543210fedcba9876543210"));
        let mut tampered = a.clone();
        tampered.replace_range(0..2, if &a[0..2] == "00" { "01" } else { "00" });
        assert!(!token_matches(&tampered, token));
        assert!(!token_matches("", token) && !token_matches(&"é".repeat(64), token));
    }
}
