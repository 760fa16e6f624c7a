//! Accounts and sessions: argon2id password hashes, lock-out after
//! repeated failures, server-side sessions (only a hash of the token is
//! stored) each with its CSRF token. An account's scope is fixed by its
//! role and its place in the org tree (see `linli_core::access`).

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use linli_core::access::{Reach, Role};
use linli_core::org::OrgPath;
use rand_core::{OsRng, TryRngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::append_in_tx;
use crate::db::{BeginWrite, now_ms};
use crate::{Msg, Result, Scope, Store, StoreError, with_db};

/// Failed sign-ins in a row before the account is locked.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// How long a lock-out lasts.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// How long a session lives.
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// The shortest password taken.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub org_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub scope_path: String,
}

impl Account {
    pub fn role(&self) -> Result<Role> {
        Role::parse(&self.role).map_err(|e| StoreError::Config(e.en))
    }

    /// What the account reaches: its org subtree (staff), its own
    /// reports (residents, volunteers), its unit's cases (handlers).
    pub fn scope(&self) -> Result<Scope> {
        match self.role()?.reach() {
            Reach::OwnRecords => return Ok(Scope::Reporter(self.id)),
            Reach::UnitCases => {
                let unit = self.unit_id.ok_or_else(|| {
                    StoreError::Config(format!("account {} has no handling unit", self.id))
                })?;
                return Ok(Scope::Unit(unit));
            }
            Reach::OrgSubtree => {}
        }
        if self.scope_path == "/" {
            return Ok(Scope::Everything);
        }
        Ok(Scope::Subtree(
            OrgPath::parse(&self.scope_path).map_err(|e| StoreError::Config(e.en))?,
        ))
    }
}

/// A signed-in session: who, and the CSRF token its writes must carry.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub account: Account,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// What a new account is made from.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct NewAccount {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub role: String,
    pub password: String,
    /// Code of the org unit it belongs to (staff, administrators).
    #[serde(default)]
    pub org_code: Option<String>,
    /// Id of the handling unit (unit handlers).
    #[serde(default)]
    pub unit_id: Option<i64>,
}

pub(crate) fn random_token() -> Result<String> {
    let mut b = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| StoreError::Crypto(format!("no randomness from the OS: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| StoreError::Crypto(format!("no randomness from the OS: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Crypto(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| StoreError::Crypto(e.to_string()))?
        .to_string())
}

/// [`hash_password`] off the async threads (argon2 takes tens of ms of CPU).
async fn hash_password_off(password: &str) -> Result<String> {
    let password = password.to_string();
    crate::off_async(move || hash_password(&password)).await?
}

/// [`password_matches`] off the async threads.
async fn password_matches_off(password: &str, hash: &str) -> Result<bool> {
    let (password, hash) = (password.to_string(), hash.to_string());
    crate::off_async(move || password_matches(&password, &hash)).await
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password people can be asked to keep: long enough, not only digits
/// or one repeated character, not the user name.
pub fn check_password(username: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(StoreError::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
            format!("至少{MIN_PASSWORD_CHARS}个字符"),
        ));
    }
    if n > 256 {
        return Err(StoreError::invalid(
            "password",
            "must have at most 256 characters",
            "最多256个字符",
        ));
    }
    let first = password.chars().next();
    if password.chars().all(|c| Some(c) == first) || password.chars().all(|c| c.is_ascii_digit()) {
        return Err(StoreError::invalid(
            "password",
            "is too easy to guess",
            "太容易被猜到，请换一个",
        ));
    }
    if password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(StoreError::invalid(
            "password",
            "must not contain the user name",
            "不能包含用户名",
        ));
    }
    Ok(())
}

const ACCOUNT_COLS: &str = "id, username, display_name, role, org_id, unit_id, scope_path";

/// An account as an actor is shown: its name and role.
#[derive(Debug, Clone)]
pub struct ActorName {
    pub display_name: String,
    pub role: Role,
}

impl Store {
    /// The names and roles of the accounts that `actors` (timeline and
    /// audit strings such as `account:wang.fang`, or `account:12` in older
    /// entries) name, keyed by the actor string. Others are left out.
    pub async fn actor_names(&self, actors: &[&str]) -> Result<HashMap<String, ActorName>> {
        let mut keys: Vec<&str> = actors
            .iter()
            .filter_map(|a| a.strip_prefix("account:"))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT id, username, display_name, role FROM account WHERE username IN ({})",
                crate::db::placeholders(1, chunk.len())
            );
            let rows: Vec<(i64, String, String, String)> = with_db!(&self.db, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for k in chunk {
                    q = q.bind(*k);
                }
                q.fetch_all(pool).await?
            });
            let ids: Vec<i64> = chunk.iter().filter_map(|k| k.parse().ok()).collect();
            let by_id: Vec<(i64, String, String, String)> = if ids.is_empty() {
                Vec::new()
            } else {
                let sql = format!(
                    "SELECT id, username, display_name, role FROM account WHERE id IN ({})",
                    crate::db::placeholders(1, ids.len())
                );
                with_db!(&self.db, pool => {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                    for k in &ids {
                        q = q.bind(*k);
                    }
                    q.fetch_all(pool).await?
                })
            };
            // A key is a user name first; as an id (older entries) only when
            // no account has that user name.
            for (_, username, display_name, role) in rows {
                if let Ok(role) = Role::parse(&role) {
                    out.insert(
                        format!("account:{username}"),
                        ActorName { display_name, role },
                    );
                }
            }
            for (id, _, display_name, role) in by_id {
                if let Ok(role) = Role::parse(&role) {
                    out.entry(format!("account:{id}"))
                        .or_insert(ActorName { display_name, role });
                }
            }
        }
        Ok(out)
    }

    /// Makes an account (an administrator's act, or `linli account create`
    /// for the first one). Staff roles need an org unit; unit handlers a
    /// handling unit, whose area becomes their scope.
    pub async fn create_account(&self, actor: &str, a: &NewAccount) -> Result<Account> {
        let username = a.username.trim();
        // Not digits alone: the audit log also names accounts by their id.
        if username.is_empty()
            || username.chars().count() > 64
            || username.chars().all(|c| c.is_ascii_digit())
            || !username
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@".contains(c))
        {
            return Err(StoreError::invalid(
                "username",
                "use 1–64 letters, digits or . _ - @, not digits alone",
                "请用1至64个字母、数字或 . _ - @，不能全是数字",
            ));
        }
        let role = Role::parse(&a.role).map_err(|e| StoreError::invalid_msg("role", e))?;
        check_password(username, &a.password)?;
        let (org_id, unit_id, path) = match role.reach() {
            Reach::UnitCases => {
                let id = a.unit_id.ok_or_else(|| {
                    StoreError::invalid(
                        "unit_id",
                        "a unit handler needs a handling unit",
                        "承办人员须选择承办单位",
                    )
                })?;
                let unit = self
                    .units(&Scope::Everything)
                    .await?
                    .into_iter()
                    .find(|u| u.id == id)
                    .ok_or_else(|| {
                        StoreError::invalid(
                            "unit_id",
                            format!("no handling unit {id}"),
                            "没有这个承办单位",
                        )
                    })?;
                (Some(unit.org_id), Some(unit.id), unit.scope_path)
            }
            _ => match a
                .org_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                Some(code) => {
                    let o = self
                        .org_by_code(&Scope::Everything, code)
                        .await
                        .map_err(|e| {
                            e.when_missing(|| {
                                StoreError::invalid(
                                    "org_code",
                                    format!("no org unit {code}"),
                                    format!("没有编码为 {code} 的组织"),
                                )
                            })
                        })?;
                    (Some(o.id), None, o.path)
                }
                None if role.needs_org()
                    && role != Role::DistrictAdmin
                    && role != Role::Auditor =>
                {
                    return Err(StoreError::invalid(
                        "org_code",
                        format!("a {} account needs the code of its org unit", role.code()),
                        format!("{}账号须填写所属组织的编码", role.label_zh()),
                    ));
                }
                None => (None, None, "/".to_string()),
            },
        };
        let hash = hash_password_off(&a.password).await?;
        let display = if a.display_name.trim().is_empty() {
            username
        } else {
            a.display_name.trim()
        };
        let now = now_ms();
        let id: i64 = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM account WHERE username = $1")
                .bind(username).fetch_optional(&mut *tx).await?;
            if taken.is_some() {
                return Err(StoreError::conflict(
                    format!("the user name {username} is taken"),
                    format!("用户名 {username} 已被使用"),
                ));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO account (username, display_name, role, org_id, unit_id, scope_path, password_hash, created_at, password_changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            )
            .bind(username).bind(display).bind(role.code()).bind(org_id).bind(unit_id).bind(&path).bind(&hash).bind(now)
            .fetch_one(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), actor, "account.create", &format!("account:{id}"), &format!("{username} {} {path}", role.code()));
            tx.commit().await?;
            id
        });
        self.account(id).await
    }

    /// The accounts of a part of the tree (staff of its places, handlers
    /// of its units; residents have the root and are listed only for the
    /// whole tree), newest first.
    pub async fn accounts(&self, scope: &Scope, limit: i64) -> Result<Vec<Account>> {
        let (lo, hi) = scope.bounds();
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, username, display_name, role, org_id, unit_id, scope_path FROM account WHERE scope_path >= $1 AND scope_path < $2 ORDER BY id DESC LIMIT $3")
                .bind(lo).bind(hi).bind(limit.clamp(1, 1000)).fetch_all(pool).await?
        }))
    }

    pub async fn account(&self, id: i64) -> Result<Account> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM account WHERE id = $1");
        let a: Option<Account> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        a.ok_or_else(|| StoreError::NotFound(format!("account {id}")))
    }

    /// Signs in: a new session (its token, shown once, and the session) or
    /// one error that does not tell a wrong name from a wrong password.
    /// Failures are counted on the account and written to the audit log
    /// (`account.locked` at every [`MAX_FAILED_LOGINS`]th in a row). The
    /// account itself is never locked here: a lock anyone could trigger
    /// would lock its owner out, and one that only known names get would
    /// tell which names exist. The web layer holds back a name tried from
    /// one address for [`LOCKOUT_MS`] instead, known or not.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        now: i64,
    ) -> Result<(String, Session)> {
        type Row = (i64, String, i32, Option<i64>);
        let row: Option<Row> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, password_hash, failed_logins, disabled_at FROM account WHERE username = $1")
                .bind(username.trim()).fetch_optional(pool).await?
        });
        let refused = || {
            StoreError::Unauthorized(Msg::new("wrong user name or password", "用户名或密码不对"))
        };
        let Some((id, hash, failed, disabled)) = row else {
            // Spend the same time as a real check, so names cannot be probed by timing.
            let _ = password_matches_off(
                password,
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3mUZuRrnnpgbqVHvG7bp3DcGvfHp4Rk8fwHHI3eh0Ko",
            )
            .await;
            return Err(refused());
        };
        if disabled.is_some() {
            return Err(refused());
        }
        if !password_matches_off(password, &hash).await? {
            let failed = failed + 1;
            let many = failed >= MAX_FAILED_LOGINS;
            with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                sqlx::query("UPDATE account SET failed_logins = $1 WHERE id = $2")
                    .bind(if many { 0 } else { failed }).bind(id).execute(&mut *tx).await?;
                append_in_tx!(tx, self.vault(), &format!("account:{id}"), if many { "account.locked" } else { "account.login_failed" }, &format!("account:{id}"), "");
                tx.commit().await?;
            });
            return Err(refused());
        }
        let token = random_token()?;
        let csrf = random_token()?;
        let expires = now + SESSION_MS;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE account SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO account_session (token_hash, account_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(token_hash(&token)).bind(id).bind(&csrf).bind(now).bind(expires).execute(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), &format!("account:{id}"), "account.login", &format!("account:{id}"), "");
            tx.commit().await?;
        });
        let account = self.account(id).await?;
        Ok((
            token,
            Session {
                account,
                csrf_token: csrf,
                expires_at: expires,
            },
        ))
    }

    /// The live session of a token, if any.
    pub async fn session(&self, token: &str, now: i64) -> Result<Option<Session>> {
        let row: Option<(i64, String, i64)> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT s.account_id, s.csrf_token, s.expires_at FROM account_session s JOIN account a ON a.id = s.account_id
                 WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND a.disabled_at IS NULL",
            )
            .bind(token_hash(token)).bind(now).fetch_optional(pool).await?
        });
        match row {
            None => Ok(None),
            Some((account_id, csrf_token, expires_at)) => Ok(Some(Session {
                account: self.account(account_id).await?,
                csrf_token,
                expires_at,
            })),
        }
    }

    pub async fn logout(&self, token: &str, now: i64) -> Result<()> {
        with_db!(&self.db, pool => {
            sqlx::query("UPDATE account_session SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
                .bind(now).bind(token_hash(token)).execute(pool).await?;
        });
        Ok(())
    }

    /// Changes a password after checking the current one; every session of
    /// the account ends (the caller signs in again).
    pub async fn change_password(&self, account_id: i64, current: &str, new: &str) -> Result<()> {
        let row: Option<(String, String)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT username, password_hash FROM account WHERE id = $1")
                .bind(account_id).fetch_optional(pool).await?
        });
        let (username, hash) =
            row.ok_or_else(|| StoreError::NotFound(format!("account {account_id}")))?;
        if !password_matches_off(current, &hash).await? {
            return Err(StoreError::invalid(
                "current_password",
                "is not the current password",
                "当前密码不对",
            ));
        }
        check_password(&username, new)?;
        let new_hash = hash_password_off(new).await?;
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE account SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(&new_hash).bind(now).bind(account_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE account_session SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
                .bind(now).bind(account_id).execute(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), &format!("account:{account_id}"), "account.password", &format!("account:{account_id}"), "");
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterx", &h));
        assert!(!password_matches("anything", "not a hash"));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn weak_passwords_are_refused_with_the_field_named() {
        for (user, pw) in [
            ("wang", "short"),
            ("wang", "1234567890123"),
            ("wang", "aaaaaaaaaaaa"),
            ("wangli", "my-wangli-2026"),
        ] {
            let e = check_password(user, pw).unwrap_err();
            assert!(
                matches!(&e, StoreError::Invalid { field, .. } if field == "password"),
                "{pw}: {e}"
            );
        }
        check_password("wang", "社区服务-2026-春天").unwrap();
    }
}
