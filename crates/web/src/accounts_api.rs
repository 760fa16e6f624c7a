//! Sign-in and accounts under /api/v1: login (sets the session cookie and
//! answers the CSRF token), logout, me, password change, and accounts made
//! by an administrator.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use linli_store::accounts::{Account, NewAccount, SESSION_MS};
use linli_store::notify::Notification;
use serde::{Deserialize, Serialize};

use crate::api::{json_body, require_everything};
use linli_core::access::Permission;
use linli_core::ids::AccountId;

use crate::authz::{Api, Rule};
use crate::cases_api::Done;
use crate::doc::{JsonBody, JsonWithCookie, ReadMark, Upload, WholeTree};
use crate::{AppError, AppState, Caller, ClientIp, SESSION_COOKIE, session_token};
use schemars::JsonSchema;

/// Signing in and out, one's own account, and accounts made by administrators.
pub fn api() -> Api {
    use Rule::*;
    Api::new("accounts")
        .post("/login", Public, login)
        .about("Sign in: sets the HttpOnly session cookie and answers the CSRF token that writes made with the cookie must send as X-CSRF-Token; 401 on a wrong name or password, 429 while locked after 5 failures")
        .post("/logout", SignedIn, logout)
        .about("End the session of the cookie")
        .get("/me", SignedIn, me)
        .about("Who is calling; for a session, the account and its CSRF token")
        .post("/password", SignedIn, change_password)
        .about("Change the signed-in account's password; every session of it ends")
        .get("/notifications", SignedIn, notifications)
        .about("Your notifications (通知), newest first, and how many are unread")
        .post("/notifications/read", SignedIn, read_notifications)
        .about("Mark one notification (by id) or all of them read")
        .get(
            "/notify-gateway",
            Needs(Permission::ManageSettings),
            notify_gateway,
        )
        .about("The SMS/WeChat gateway notifications are relayed to (a signed webhook)")
        .put(
            "/notify-gateway",
            Needs(Permission::ManageSettings),
            set_notify_gateway,
        )
        .about("Set or clear the notification gateway (http or https; not link-local)")
        .post(
            "/accounts",
            Needs(Permission::ManageAccounts),
            create_account,
        )
        .about("Make an account (administrators): role, and org_code (staff) or unit_id (unit handlers)")
}

#[derive(Deserialize, JsonSchema)]
struct Login {
    username: String,
    password: String,
}

/// The session cookie. HttpOnly: no script reads it; SameSite=Strict: no
/// other site sends it; Secure when the server sits behind TLS
/// (`LINLI_COOKIE_SECURE=1`), so it never travels in clear.
fn cookie(value: &str, max_age_s: i64) -> Result<HeaderValue, AppError> {
    let secure = if std::env::var("LINLI_COOKIE_SECURE").is_ok_and(|v| v == "1") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .map_err(|e| AppError::Internal(e.to_string()))
}

async fn login(
    State(s): State<AppState>,
    ip: ClientIp,
    JsonBody(b): JsonBody<Login>,
) -> Result<JsonWithCookie<SessionOut>, AppError> {
    let (token, session) = ip.login(&s, &b.username, &b.password).await?;
    let r = Json(SessionOut {
        account: session.account,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    })
    .into_response();
    with_session_cookie(r, &token).map(JsonWithCookie::new)
}

/// A new session: the account, the token to send in X-CSRF-Token with
/// every write, and when it ends (ms since 1970). The session token itself
/// is in the cookie only.
#[derive(Serialize, JsonSchema)]
struct SessionOut {
    account: Account,
    csrf_token: String,
    expires_at: i64,
}

/// A response that signs the browser in: it carries the session cookie.
pub(crate) fn with_session_cookie(mut r: Response, token: &str) -> Result<Response, AppError> {
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(token, SESSION_MS / 1000)?);
    Ok(r)
}

/// Ends the request's session, if any, and clears its cookie on `r`.
pub(crate) async fn end_session(
    s: &AppState,
    headers: &HeaderMap,
    mut r: Response,
) -> Result<Response, AppError> {
    if let Some(token) = session_token(headers) {
        s.store
            .logout(&token, chrono::Utc::now().timestamp_millis())
            .await?;
    }
    r.headers_mut().insert(header::SET_COOKIE, cookie("", 0)?);
    Ok(r)
}

async fn logout(
    State(s): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<JsonWithCookie<Done>, AppError> {
    end_session(&s, &headers, Json(Done { ok: true }).into_response())
        .await
        .map(JsonWithCookie::new)
}

async fn me(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<MeOut>, AppError> {
    let session = match session_token(&headers) {
        Some(t) => {
            s.store
                .session(&t, chrono::Utc::now().timestamp_millis())
                .await?
        }
        None => None,
    };
    let (account, csrf_token) = match session {
        Some(x) => (Some(x.account), Some(x.csrf_token)),
        None => (None, None),
    };
    Ok(Json(MeOut {
        actor: caller.actor,
        account,
        csrf_token,
    }))
}

/// Who is calling: the name in the audit log, and the account and CSRF
/// token of a browser session (none for a token or an API key).
#[derive(Serialize, JsonSchema)]
struct MeOut {
    actor: String,
    account: Option<Account>,
    csrf_token: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// The signed-in account of a caller; a program with an API key has none.
fn own_account(caller: &Caller) -> Result<i64, AppError> {
    caller.account_id.ok_or_else(|| {
        AppError::bad_request(
            "only a signed-in account has notifications",
            "只有登录的账号才有通知",
        )
    })
}

/// The caller's newest notifications and how many are unread.
async fn notifications(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<NotificationsOut>, AppError> {
    let id = own_account(&caller)?;
    Ok(Json(NotificationsOut {
        unread: s.store.unread_notifications(id).await?,
        items: s.store.notifications(id, 100).await?,
    }))
}

#[derive(Serialize, JsonSchema)]
struct NotificationsOut {
    unread: i64,
    /// The newest hundred.
    items: Vec<Notification>,
}

#[derive(Deserialize, JsonSchema)]
struct ReadNotifications {
    /// One notification; none: all of them.
    #[serde(default)]
    id: Option<i64>,
}

/// Marks one notification (or all) read.
async fn read_notifications(
    State(s): State<AppState>,
    caller: Caller,
    Upload(body, _): Upload<ReadMark>,
) -> Result<Json<ReadOut>, AppError> {
    let id = own_account(&caller)?;
    let b: ReadNotifications = if body.is_empty() {
        ReadNotifications { id: None }
    } else {
        json_body(&body)?
    };
    let case = s.store.mark_read(AccountId(id), b.id).await?;
    Ok(Json(ReadOut {
        case_id: case,
        unread: s.store.unread_notifications(id).await?,
    }))
}

#[derive(Serialize, JsonSchema)]
struct ReadOut {
    /// The case the notification was about (one marked read).
    case_id: Option<i64>,
    unread: i64,
}

/// The SMS/WeChat gateway that notifications are relayed to.
async fn notify_gateway(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<GatewayOut>, AppError> {
    require_everything(&caller)?;
    Ok(Json(GatewayOut {
        url: s.store.notify_gateway().await?,
    }))
}

/// Where notifications are relayed (none: kept in linli only).
#[derive(Serialize, JsonSchema)]
struct GatewayOut {
    url: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Gateway {
    #[serde(default)]
    url: Option<String>,
}

async fn set_notify_gateway(
    State(s): State<AppState>,
    WholeTree(caller): WholeTree,
    JsonBody(g): JsonBody<Gateway>,
) -> Result<Json<GatewayOut>, AppError> {
    s.store
        .set_notify_gateway(&caller.actor, g.url.as_deref())
        .await?;
    Ok(Json(GatewayOut {
        url: s.store.notify_gateway().await?,
    }))
}

async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<PasswordChange>,
) -> Result<Json<PasswordChanged>, AppError> {
    let id = caller.account_id.ok_or_else(|| {
        AppError::bad_request(
            "only a signed-in account has a password to change",
            "只有登录的账号才能修改密码",
        )
    })?;
    // Wrong current passwords are held back like failed sign-ins: a stolen
    // session must not become a way to guess the password.
    let key = (format!("#password-change:{id}"), None);
    let now = chrono::Utc::now().timestamp_millis();
    if let Err(wait_ms) = s.name_throttle.check(&key, now) {
        return Err(crate::throttle::held_back(
            "too many wrong current passwords",
            "当前密码输错次数过多",
            wait_ms,
        )
        .into());
    }
    let r = s
        .store
        .change_password(id, &b.current_password, &b.new_password)
        .await;
    if let Err(linli_store::StoreError::Invalid { field, .. }) = &r
        && field == "current_password"
    {
        s.name_throttle.count(&key, now);
    }
    r?;
    Ok(Json(PasswordChanged {
        ok: true,
        signed_out: true,
    }))
}

/// A changed password ends every session of the account, this one too.
#[derive(Serialize, JsonSchema)]
struct PasswordChanged {
    ok: bool,
    signed_out: bool,
}

/// POST /accounts: an administrator (whole-tree caller) makes an account.
async fn create_account(
    State(s): State<AppState>,
    WholeTree(caller): WholeTree,
    JsonBody(a): JsonBody<NewAccount>,
) -> Result<Json<Account>, AppError> {
    Ok(Json(s.store.create_account(&caller.actor, &a).await?))
}
