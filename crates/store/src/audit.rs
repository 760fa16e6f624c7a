//! Append-only audit log, each entry hash-chained to the one before
//! (SHA-256), so that an edited or deleted row breaks the chain.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Result, Store, with_db};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry: SHA-256 over the previous hash and every field,
/// each length-prefixed so that no two entries can serialise alike.
pub fn entry_hash(
    prev_hash: &str,
    id: i64,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash.as_bytes(),
        id.to_string().as_bytes(),
        at.to_string().as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        object.as_bytes(),
        detail.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub id: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
}

/// Appends inside an open transaction: the UPDATE of the single head row
/// serialises concurrent appenders on both databases.
macro_rules! append_in_tx {
    ($tx:expr, $actor:expr, $action:expr, $object:expr, $detail:expr) => {{
        let at = $crate::db::now_ms();
        let (id, prev): (i64, String) = sqlx::query_as(
            "UPDATE audit_head SET last_id = last_id + 1 WHERE id = 1 RETURNING last_id, last_hash",
        )
        .fetch_one(&mut *$tx)
        .await?;
        let hash = $crate::audit::entry_hash(&prev, id, at, $actor, $action, $object, $detail);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, object, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(at)
        .bind($actor)
        .bind($action)
        .bind($object)
        .bind($detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *$tx)
            .await?;
        id
    }};
}
pub(crate) use append_in_tx;

impl Store {
    /// Writes one audit entry in its own transaction; returns its id.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        object: &str,
        detail: &str,
    ) -> Result<i64> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let id = append_in_tx!(tx, actor, action, object, detail);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The newest entries first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        with_db!(&self.db, pool => {
            Ok(sqlx::query_as("SELECT id, at, actor, action, object, detail, prev_hash, hash FROM audit_log ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Walks the whole chain in id order and reports the first broken link:
    /// a gap in the ids, a prev_hash that is not the previous hash, or a
    /// hash that does not match the entry's content; and a head that does
    /// not match the last entry (rows cut off the end).
    pub async fn audit_verify(&self) -> Result<Verification> {
        let mut prev = GENESIS.to_string();
        let mut expected_id = 1;
        let mut last = 0;
        let page = 10_000;
        loop {
            let rows: Vec<AuditEntry> = with_db!(&self.db, pool => {
                sqlx::query_as("SELECT id, at, actor, action, object, detail, prev_hash, hash FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(last)
                    .bind(page)
                    .fetch_all(pool)
                    .await?
            });
            if rows.is_empty() {
                break;
            }
            for e in &rows {
                let broken = |reason: &str| {
                    Ok(Verification {
                        entries: (e.id - 1).max(0) as u64,
                        first_broken: Some(BrokenLink {
                            id: e.id,
                            reason: reason.to_string(),
                        }),
                    })
                };
                if e.id != expected_id {
                    return broken(&format!("entry {expected_id} is missing"));
                }
                if e.prev_hash != prev {
                    return broken("prev_hash does not match the previous entry");
                }
                let h = entry_hash(&prev, e.id, e.at, &e.actor, &e.action, &e.object, &e.detail);
                if h != e.hash {
                    return broken("content does not match its hash (altered)");
                }
                prev = e.hash.clone();
                expected_id += 1;
                last = e.id;
            }
        }
        let (head_id, head_hash): (i64, String) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE id = 1").fetch_one(pool).await?
        });
        if head_id != last || head_hash != prev {
            return Ok(Verification {
                entries: last as u64,
                first_broken: Some(BrokenLink {
                    id: last + 1,
                    reason: format!(
                        "the log ends at {last} but its head says {head_id} (entries removed)"
                    ),
                }),
            });
        }
        Ok(Verification {
            entries: last as u64,
            first_broken: None,
        })
    }
}
