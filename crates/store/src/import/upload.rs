//! An uploaded ledger kept, sealed, between its preview and the worker's
//! confirmation, so that what is imported is exactly the file previewed
//! and the browser need not send it twice.

use serde::{Deserialize, Serialize};

use crate::db::{BeginWrite, now_ms};
use crate::vault::Field;
use crate::{Result, Store, StoreError, with_db};

/// How long a preview can wait for its confirmation.
const KEEP_MS: i64 = 60 * 60 * 1000;

/// What an upload was previewed with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadChoices {
    pub grid: Option<String>,
    pub sheet: Option<String>,
    /// Column choices over the dictionary's: header as written → field
    /// key, "" for not imported (see [`super::Table::remap`]).
    #[serde(default)]
    pub mapping: std::collections::BTreeMap<String, String>,
}

/// An upload taken back for its import.
#[derive(Debug, Clone)]
pub struct KeptUpload {
    pub kind: String,
    pub choices: UploadChoices,
    pub body: Vec<u8>,
}

impl Store {
    /// Keeps an upload for its uploader; returns the token that confirms
    /// it. Uploads older than an hour are removed on the way.
    pub async fn keep_upload(
        &self,
        actor: &str,
        kind: &str,
        choices: &UploadChoices,
        body: &[u8],
    ) -> Result<String> {
        let token = crate::accounts::random_token()?;
        let sealed = self.vault().seal_bytes(Field::Upload, body);
        let choices = serde_json::to_string(choices)
            .map_err(|e| StoreError::Config(format!("upload choices: {e}")))?;
        let now = now_ms();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM import_upload WHERE created_at < $1")
                .bind(now - KEEP_MS).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO import_upload (token, actor, kind, options, body_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&token).bind(actor).bind(kind).bind(&choices).bind(&sealed).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(token)
    }

    /// The upload of this token, if it is the caller's and not expired.
    pub async fn kept_upload(&self, actor: &str, token: &str) -> Result<KeptUpload> {
        let row: Option<(String, String, Vec<u8>)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT kind, options, body_enc FROM import_upload WHERE token = $1 AND actor = $2 AND created_at >= $3")
                .bind(token).bind(actor).bind(now_ms() - KEEP_MS)
                .fetch_optional(pool).await?
        });
        let Some((kind, choices, sealed)) = row else {
            return Err(StoreError::invalid(
                "token",
                "this preview has expired (after an hour) or was already imported: upload the file again",
                "预览已过期（保留一小时）或已经导入，请重新上传文件",
            ));
        };
        Ok(KeptUpload {
            kind,
            choices: serde_json::from_str(&choices).unwrap_or_default(),
            body: self.vault().open_bytes(Field::Upload, &sealed)?,
        })
    }

    /// Removes an upload once it has been imported.
    pub async fn drop_upload(&self, token: &str) -> Result<()> {
        with_db!(&self.db, pool => {
            sqlx::query("DELETE FROM import_upload WHERE token = $1").bind(token).execute(pool).await?;
        });
        Ok(())
    }
}
