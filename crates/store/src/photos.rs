//! Photos of a case: uploaded bytes, checked to be an image by their
//! signature (not by what the client claims), stored with the case's scope.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::append_in_tx;
use crate::db::{BeginWrite, now_ms};
use crate::{Result, Scope, Store, StoreError, with_db};

/// The largest photo taken: a phone picture, not a video.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// The image type of `bytes` by its signature: JPEG, PNG or WebP.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PhotoRef {
    pub id: i64,
    pub case_id: i64,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub created_at: i64,
}

impl PhotoRef {
    /// Where the API serves it; what a report back lists in `photos`.
    pub fn url(&self) -> String {
        format!("/api/v1/photos/{}", self.id)
    }
}

/// Whether bytes are a photo linli takes (a JPEG, PNG or WebP image of at
/// most [`MAX_PHOTO_BYTES`]); its content type if so. Forms check a photo
/// with this before they write anything else.
pub fn check_photo(bytes: &[u8]) -> Result<&'static str> {
    if bytes.is_empty() {
        return Err(StoreError::invalid("photo", "is empty", "照片文件是空的"));
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(StoreError::invalid(
            "photo",
            format!(
                "is {} bytes; at most {MAX_PHOTO_BYTES} are taken",
                bytes.len()
            ),
            format!(
                "照片有{:.1} MB，最大{} MB",
                bytes.len() as f64 / 1_048_576.0,
                MAX_PHOTO_BYTES / 1_048_576
            ),
        ));
    }
    image_type(bytes).ok_or_else(|| {
        StoreError::invalid(
            "photo",
            "is not a JPEG, PNG or WebP image",
            "照片须为 JPEG、PNG 或 WebP 格式",
        )
    })
}

impl Store {
    /// Stores a photo of a case in scope; refused unless it is a JPEG,
    /// PNG or WebP image of at most [`MAX_PHOTO_BYTES`].
    pub async fn add_photo(
        &self,
        scope: &Scope,
        actor: &str,
        case_id: i64,
        bytes: &[u8],
    ) -> Result<PhotoRef> {
        let case = self.case_plain(scope, case_id).await?;
        let content_type = check_photo(bytes)?;
        let sha = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let now = now_ms();
        let id: i64 = with_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO case_photo (case_id, scope_path, content_type, size_bytes, sha256, bytes, uploaded_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(case_id).bind(&case.row.scope_path).bind(content_type).bind(bytes.len() as i64)
            .bind(&sha).bind(bytes).bind(actor).bind(now)
            .fetch_one(&mut *tx).await?;
            append_in_tx!(tx, self.vault(), actor, "case.photo", &format!("case:{case_id}"), &format!("photo:{id} {content_type} {} bytes", bytes.len()));
            tx.commit().await?;
            id
        });
        Ok(PhotoRef {
            id,
            case_id,
            content_type: content_type.to_string(),
            size_bytes: bytes.len() as i64,
            sha256: sha,
            uploaded_by: actor.to_string(),
            created_at: now,
        })
    }

    /// The photos of a case in scope, oldest first; none for a resident
    /// who only joined it (another resident's photos are theirs).
    pub async fn photos(&self, scope: &Scope, case_id: i64) -> Result<Vec<PhotoRef>> {
        if self.case_seen(scope, case_id).await?.1 {
            return Ok(Vec::new());
        }
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, case_id, content_type, size_bytes, sha256, uploaded_by, created_at FROM case_photo WHERE case_id = $1 ORDER BY id")
                .bind(case_id).fetch_all(pool).await?
        }))
    }

    /// One photo's type and bytes, if its case is in scope.
    pub async fn photo(&self, scope: &Scope, id: i64) -> Result<(String, Vec<u8>)> {
        let not_found = || StoreError::NotFound(format!("photo {id}"));
        let row: Option<(i64, String, String, Vec<u8>)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT case_id, scope_path, content_type, bytes FROM case_photo WHERE id = $1")
                .bind(id).fetch_optional(pool).await?
        });
        let (case_id, path, ty, bytes) = row.ok_or_else(not_found)?;
        let visible = match scope {
            // Record-level scopes see a photo when the case is theirs.
            Scope::Reporter(_) | Scope::Unit(_) => self.case_plain(scope, case_id).await.is_ok(),
            _ => scope.covers(&path),
        };
        if !visible {
            return Err(not_found());
        }
        Ok((ty, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_signature() {
        assert_eq!(
            image_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some("image/jpeg")
        );
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(image_type(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"GIF89a"), None);
        assert_eq!(image_type(b""), None);
        assert_eq!(image_type(b"RIFF\x24\0\0\0WAVEfmt "), None);
    }
}
