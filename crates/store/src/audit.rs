//! Append-only audit log, each entry hash-chained to the one before
//! (SHA-256), so that an edited or deleted row breaks the chain.
//!
//! Writers record an entry in `audit_pending` inside their own transaction:
//! it is as durable as the change it describes, and writers never wait for
//! each other. The chainer ([`Store::chain_audit`]) moves pending entries
//! into `audit_log` in batches, giving each the next `seq` and its hash.
//! Readers and the verifier chain first, so they always see every entry.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::BeginWrite;
use crate::{Result, Store, with_db};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the chain.
    pub seq: i64,
    /// The id given when the entry was recorded (returned to the writer).
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
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
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
        seq.to_string().as_bytes(),
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
    /// The chain position (seq) of the first bad entry.
    pub id: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
}

/// Records an audit entry inside an open transaction; evaluates to its id.
macro_rules! append_in_tx {
    ($tx:expr, $actor:expr, $action:expr, $object:expr, $detail:expr) => {{
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_pending (at, actor, action, object, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind($crate::db::now_ms())
        .bind($actor)
        .bind($action)
        .bind($object)
        .bind($detail)
        .fetch_one(&mut *$tx)
        .await?;
        id
    }};
}
pub(crate) use append_in_tx;

type Pending = (i64, i64, String, String, String, String);

const COLS: &str = "seq, id, at, actor, action, object, detail, prev_hash, hash";

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
            let mut tx = pool.begin_write().await?;
            let id = append_in_tx!(tx, actor, action, object, detail);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Chains pending entries into the log, a batch per transaction.
    /// Returns how many were chained.
    pub async fn chain_audit(&self) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let n: u64 = with_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                // Taking the head row first serialises chainers.
                let (mut seq, mut prev): (i64, String) = sqlx::query_as(
                    "UPDATE audit_head SET last_seq = last_seq WHERE id = 1 RETURNING last_seq, last_hash",
                )
                .fetch_one(&mut *tx)
                .await?;
                let rows: Vec<Pending> = sqlx::query_as(
                    "SELECT id, at, actor, action, object, detail FROM audit_pending ORDER BY id LIMIT 2000",
                )
                .fetch_all(&mut *tx)
                .await?;
                let last_pending = rows.last().map(|r| r.0);
                for (id, at, actor, action, object, detail) in &rows {
                    seq += 1;
                    let hash = entry_hash(&prev, seq, *id, *at, actor, action, object, detail);
                    sqlx::query("INSERT INTO audit_log (seq, id, at, actor, action, object, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                        .bind(seq).bind(id).bind(at).bind(actor).bind(action).bind(object).bind(detail).bind(&prev).bind(&hash)
                        .execute(&mut *tx)
                        .await?;
                    prev = hash;
                }
                if last_pending.is_some() {
                    // Exactly the rows chained: a writer whose lower id commits
                    // late is chained in the next round.
                    let ids: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM audit_pending WHERE id IN ({})", ids.join(","))))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
                        .bind(seq).bind(&prev).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                rows.len() as u64
            });
            total += n;
            if n < 2000 {
                return Ok(total);
            }
        }
    }

    /// The newest entries first (after chaining what is pending).
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        self.chain_audit().await?;
        let sql = format!("SELECT {COLS} FROM audit_log ORDER BY seq DESC LIMIT $1");
        with_db!(&self.db, pool => {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await?)
        })
    }

    /// Chains what is pending, then walks the whole chain in order and
    /// reports the first broken link: a gap in the sequence, a prev_hash
    /// that is not the previous hash, or a hash that does not match the
    /// entry's content; and a head that does not match the last entry
    /// (entries cut off the end).
    pub async fn audit_verify(&self) -> Result<Verification> {
        self.chain_audit().await?;
        let mut prev = GENESIS.to_string();
        let mut expected = 1;
        let mut last = 0;
        let sql = format!("SELECT {COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        loop {
            let rows: Vec<AuditEntry> = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(last).bind(10_000i64).fetch_all(pool).await?
            });
            if rows.is_empty() {
                break;
            }
            for e in &rows {
                let broken = |reason: &str| {
                    Ok(Verification {
                        entries: (e.seq - 1).max(0) as u64,
                        first_broken: Some(BrokenLink {
                            id: e.seq,
                            reason: reason.to_string(),
                        }),
                    })
                };
                if e.seq != expected {
                    return broken(&format!("entry {expected} is missing"));
                }
                if e.prev_hash != prev {
                    return broken("prev_hash does not match the previous entry");
                }
                let h = entry_hash(
                    &prev, e.seq, e.id, e.at, &e.actor, &e.action, &e.object, &e.detail,
                );
                if h != e.hash {
                    return broken("content does not match its hash (altered)");
                }
                prev = e.hash.clone();
                expected += 1;
                last = e.seq;
            }
        }
        let (head_seq, head_hash): (i64, String) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetch_one(pool).await?
        });
        if head_seq != last || head_hash != prev {
            return Ok(Verification {
                entries: last as u64,
                first_broken: Some(BrokenLink {
                    id: last + 1,
                    reason: format!(
                        "the log ends at {last} but its head says {head_seq} (entries removed)"
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
