//! API keys of integrations (12345 hotline bridge, Open311 clients): a key
//! is shown once when made; only its SHA-256 is kept.

use sha2::{Digest, Sha256};

use crate::db::now_ms;
use crate::vault::Vault;
use crate::{Result, Scope, Store, StoreError, with_db};

fn hash(key: &str) -> String {
    Sha256::digest(key.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Makes a key for `name`, limited to the subtree of `org_code` (or
    /// the whole tree). Returns the key; it cannot be shown again.
    pub async fn create_api_key(&self, name: &str, org_code: Option<&str>) -> Result<String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "must not be empty", "不能为空"));
        }
        let path = match org_code {
            Some(code) => self.org_by_code(&Scope::Everything, code).await?.path,
            None => "/".to_string(),
        };
        let key = format!("lk_{}", Vault::generate_key()?.replace(['/', '+', '='], ""));
        with_db!(&self.db, pool => {
            sqlx::query("INSERT INTO api_key (name, key_hash, scope_path, created_at) VALUES ($1, $2, $3, $4)")
                .bind(name).bind(hash(&key)).bind(&path).bind(now_ms()).execute(pool).await?;
        });
        self.audit("system", "apikey.create", name, &path).await?;
        Ok(key)
    }

    /// The holder and scope of a valid key.
    pub async fn check_api_key(&self, key: &str) -> Result<Option<(String, Scope)>> {
        let row: Option<(String, String)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT name, scope_path FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL")
                .bind(hash(key)).fetch_optional(pool).await?
        });
        Ok(match row {
            None => None,
            Some((name, path)) if path == "/" => Some((name, Scope::Everything)),
            Some((name, path)) => Some((
                name,
                Scope::Subtree(
                    linli_core::org::OrgPath::parse(&path).map_err(|e| StoreError::Config(e.en))?,
                ),
            )),
        })
    }
}
