//! Append-only audit log, each entry chained to the one before by
//! HMAC-SHA256 under the audit key, so that an edited or deleted row breaks
//! the chain and, without the key, cannot be made whole again. Exported
//! checkpoints ([`Store::audit_checkpoint`]), kept outside the database,
//! catch what a chain alone cannot: a log cut short, rolled back to an
//! older copy, or emptied. Entries written before the chain was keyed keep
//! their plain SHA-256 links (`audit_head.keyed_from`).
//!
//! Writers record an entry in `audit_pending` inside their own transaction:
//! it is as durable as the change it describes, and writers never wait for
//! each other. The chainer ([`Store::chain_audit`]) moves pending entries
//! into `audit_log` in batches, giving each the next `seq` and its hash.
//! Readers and the verifier chain first, so they always see every entry.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::BeginWrite;
use crate::vault::Vault;
use crate::{Backend, Msg, Result, Store, StoreError, with_db};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
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

/// The link of an entry: over the previous link and every field, each
/// length-prefixed so that no two entries can serialise alike. Keyed
/// (HMAC-SHA256 under the audit key) unless `key` is `None`, the plain
/// SHA-256 of entries from before the chain was keyed.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    key: Option<&Vault>,
    prev_hash: &str,
    seq: i64,
    id: i64,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> String {
    let (seq, id, at) = (seq.to_string(), id.to_string(), at.to_string());
    let parts: [&[u8]; 8] = [
        prev_hash.as_bytes(),
        seq.as_bytes(),
        id.as_bytes(),
        at.as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        object.as_bytes(),
        detail.as_bytes(),
    ];
    if let Some(v) = key {
        return v.audit_mac(&parts);
    }
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature of where the keyed chain starts (entries up to
/// `keyed_from` have plain SHA-256 links, from before the chain was keyed).
pub fn keyed_from_mac(v: &Vault, keyed_from: i64) -> String {
    v.audit_mac(&[b"keyed_from", keyed_from.to_string().as_bytes()])
}

/// The head of the chain at one moment, signed with the audit key: kept
/// outside the database (a file, another system), it lets
/// [`Store::audit_verify`] tell a log cut short or rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub keyed_from: i64,
    /// When it was taken (ms since the epoch).
    pub at: i64,
    pub mac: String,
}

impl Checkpoint {
    fn mac_of(v: &Vault, seq: i64, hash: &str, keyed_from: i64, at: i64) -> String {
        let (seq, keyed_from, at) = (seq.to_string(), keyed_from.to_string(), at.to_string());
        v.audit_mac(&[
            b"checkpoint",
            seq.as_bytes(),
            hash.as_bytes(),
            keyed_from.as_bytes(),
            at.as_bytes(),
        ])
    }

    fn signed_by(&self, v: &Vault) -> bool {
        Checkpoint::mac_of(v, self.seq, &self.hash, self.keyed_from, self.at) == self.mac
    }
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BrokenLink {
    /// The chain position (seq) of the first bad entry.
    pub id: i64,
    pub reason: String,
    /// The same in Chinese, for the audit page.
    pub reason_zh: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verification {
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
    /// Entries from before the chain was keyed (plain SHA-256 links).
    pub unkeyed: u64,
    /// Whether a checkpoint was compared (and matched, if nothing broke).
    pub checkpoint_seq: Option<i64>,
}

impl Verification {
    fn broken(entries: i64, unkeyed: i64, at: i64, reason: Msg, cp: Option<&Checkpoint>) -> Self {
        Verification {
            entries: entries.max(0) as u64,
            first_broken: Some(BrokenLink {
                id: at,
                reason: reason.en,
                reason_zh: reason.zh,
            }),
            unkeyed: unkeyed.max(0) as u64,
            checkpoint_seq: cp.map(|c| c.seq),
        }
    }
}

/// The signature a recorded entry carries while it waits to be chained:
/// the chainer links only entries whose signature holds, so rows put into
/// `audit_pending` by hand (to be signed into the chain) are caught.
pub fn pending_mac(
    v: &Vault,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    detail: &str,
) -> String {
    v.audit_mac(&[
        b"pending",
        at.to_string().as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        object.as_bytes(),
        detail.as_bytes(),
    ])
}

/// How many counters number the entries recorded on PostgreSQL (see
/// migration 18): a writer takes its connection's, so writers seldom wait
/// for each other and a transaction holds one counter at most.
pub const COUNTERS: i64 = 16;

/// The entry after which entries recorded on PostgreSQL are numbered by
/// the counters: `id = number * COUNTERS + counter`.
pub const COUNTED: &str = "audit.counted_ids";
pub const COUNTED_DETAIL: &str = "entries after this one are numbered by 16 gapless counters";

/// The number every counter starts from, after the marker entry's id.
pub fn first_counter_no(marker: i64) -> i64 {
    marker / COUNTERS + 1
}

/// The id of a counter's first entry.
fn first_counted_id(marker: i64, counter: i64) -> i64 {
    (first_counter_no(marker) + 1) * COUNTERS + counter
}

/// The statement that records one entry. On PostgreSQL its id is the next
/// number of the writer's counter, taken in the writer's transaction.
pub(crate) trait RecordSql {
    const RECORD_ONE: &'static str;
}

impl RecordSql for sqlx::SqliteConnection {
    const RECORD_ONE: &'static str = "INSERT INTO audit_pending (at, actor, action, object, detail, mac) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
}

impl RecordSql for sqlx::PgConnection {
    const RECORD_ONE: &'static str = "WITH n AS (UPDATE audit_counter SET next_no = next_no + 1 WHERE shard = pg_backend_pid() % 16 RETURNING next_no * 16 + shard AS id) \
        INSERT INTO audit_pending (id, at, actor, action, object, detail, mac) SELECT id, $1, $2, $3, $4, $5, $6 FROM n RETURNING id";
}

pub(crate) fn record_sql<C: RecordSql>(_: &C) -> &'static str {
    C::RECORD_ONE
}

/// On PostgreSQL, takes `n` numbers of the writer's counter in its
/// transaction and returns the ids they give, in order; None on SQLite
/// (AUTOINCREMENT numbers the entries).
macro_rules! counted_ids {
    ($tx:expr, $backend:expr, $n:expr) => {{
        let n: i64 = $n;
        if $backend == $crate::Backend::Postgres && n > 0 {
            let (counter, last): (i32, i64) = sqlx::query_as(
                "UPDATE audit_counter SET next_no = next_no + $1 WHERE shard = pg_backend_pid() % 16 RETURNING shard, next_no",
            )
            .bind(n)
            .fetch_one(&mut *$tx)
            .await?;
            Some(
                (last - n + 1..=last)
                    .map(|no| no * $crate::audit::COUNTERS + i64::from(counter))
                    .collect::<Vec<i64>>(),
            )
        } else {
            None
        }
    }};
}
pub(crate) use counted_ids;

/// Records an audit entry inside an open transaction; evaluates to its id.
macro_rules! append_in_tx {
    ($tx:expr, $vault:expr, $actor:expr, $action:expr, $object:expr, $detail:expr) => {{
        let at = $crate::db::now_ms();
        let (actor, action, object, detail): (&str, &str, &str, &str) =
            ($actor, $action, $object, $detail);
        let id: i64 = sqlx::query_scalar($crate::audit::record_sql(&*$tx))
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(object)
            .bind(detail)
            .bind($crate::audit::pending_mac(
                $vault, at, actor, action, object, detail,
            ))
            .fetch_one(&mut *$tx)
            .await?;
        id
    }};
}
pub(crate) use append_in_tx;

type Pending = (i64, i64, String, String, String, String, Option<String>);

/// What a forged pending entry is chained as: the fact, with what it said.
pub const FORGED: &str = "audit.forged_entry";

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
            let id = append_in_tx!(tx, self.vault(), actor, action, object, detail);
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
                let head: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE audit_head SET last_seq = last_seq WHERE id = 1 RETURNING last_seq, last_hash",
                )
                .fetch_optional(&mut *tx)
                .await?;
                let Some((mut seq, mut prev)) = head else {
                    // Verification reports it; nothing can be chained to a
                    // head that is gone.
                    return Err(StoreError::Config("the audit log's head row is missing".into()));
                };
                // In the order written: by id on SQLite (AUTOINCREMENT under
                // its one write lock), by time on PostgreSQL (whose counters
                // number each writer's connection apart).
                let rows: Vec<Pending> = sqlx::query_as(if self.backend() == Backend::Sqlite {
                    "SELECT id, at, actor, action, object, detail, mac FROM audit_pending ORDER BY id LIMIT 2000"
                } else {
                    "SELECT id, at, actor, action, object, detail, mac FROM audit_pending ORDER BY at, id LIMIT 2000"
                })
                .fetch_all(&mut *tx)
                .await?;
                let last_pending = rows.last().map(|r| r.0);
                // A row put in by hand with the id of an entry already
                // chained: a forgery too (and never a jammed chainer).
                let taken: std::collections::HashSet<i64> = if rows.is_empty() {
                    Default::default()
                } else {
                    let ids: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
                    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT id FROM audit_log WHERE id IN ({})", ids.join(","))))
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .collect()
                };
                for (id, at, actor, action, object, detail, mac) in &rows {
                    seq += 1;
                    // An entry without its writer's signature was put there
                    // by hand: it is chained as a forgery, with what it said.
                    let signed = mac.as_deref()
                        == Some(pending_mac(self.vault(), *at, actor, action, object, detail).as_str());
                    let reused = taken.contains(id);
                    let forged;
                    let (actor, action, object, detail) = if signed && !reused {
                        (actor.as_str(), action.as_str(), object.as_str(), detail.as_str())
                    } else {
                        forged = serde_json::json!({"id": id, "actor": actor, "action": action, "object": object, "detail": detail}).to_string();
                        ("linli", FORGED, "audit_pending", forged.as_str())
                    };
                    // (A reused id is recorded under a negative one of its
                    // own: ids of real entries are positive.)
                    let id = &if reused { -seq } else { *id };
                    let hash = entry_hash(Some(self.vault()), &prev, seq, *id, *at, actor, action, object, detail);
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

    /// The head of the chain now (after chaining what is pending), signed
    /// with the audit key: write it somewhere outside the database.
    pub async fn audit_checkpoint(&self) -> Result<Checkpoint> {
        self.chain_audit().await?;
        let (seq, hash, keyed_from): (i64, String, i64) = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT last_seq, last_hash, keyed_from FROM audit_head WHERE id = 1")
                .fetch_one(pool).await?
        });
        let at = crate::db::now_ms();
        Ok(Checkpoint {
            mac: Checkpoint::mac_of(self.vault(), seq, &hash, keyed_from, at),
            seq,
            hash,
            keyed_from,
            at,
        })
    }

    /// Chains what is pending, then walks the whole chain in order and
    /// reports the first broken link: a gap in the sequence, a prev_hash
    /// that is not the previous link, a link that does not match the
    /// entry's content under the audit key, entries recorded but deleted
    /// before they were chained (SQLite, whose ids have no gaps otherwise),
    /// a head that does not match the last entry; and, given a checkpoint,
    /// a log that is shorter than it or differs at its entry (cut short,
    /// rolled back, emptied). Damage is a verdict, never an error.
    pub async fn audit_verify(&self, checkpoint: Option<&Checkpoint>) -> Result<Verification> {
        match self.audit_verify_as_stored(checkpoint).await {
            // Tables dropped, columns of another type, bytes that are not
            // text: the log was altered, which is a verdict, not a failure.
            // (A database that cannot be reached stays an error.)
            Err(StoreError::Db(
                e @ (sqlx::Error::Database(_)
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::ColumnNotFound(_)),
            )) => Ok(Verification::broken(
                0,
                0,
                0,
                Msg::new(
                    format!("the audit tables cannot be read as linli wrote them (altered): {e}"),
                    "审计表无法按 linli 写入的格式读取（已被改动），详情见英文说明".to_string(),
                ),
                checkpoint,
            )),
            other => other,
        }
    }

    async fn audit_verify_as_stored(
        &self,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<Verification> {
        if let Some(cp) = checkpoint
            && !cp.signed_by(self.vault())
        {
            return Ok(Verification::broken(
                0,
                0,
                0,
                Msg::new(
                    "the checkpoint is not signed with this audit key",
                    "检查点不是用本审计密钥签名的",
                ),
                checkpoint,
            ));
        }
        let head: Option<(i64, Option<String>)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT keyed_from, keyed_mac FROM audit_head WHERE id = 1")
                .fetch_optional(pool).await?
        });
        let Some((keyed_from, keyed_mac)) = head else {
            return Ok(Verification::broken(
                0,
                0,
                1,
                Msg::new(
                    "the head of the log is missing (deleted)",
                    "日志头缺失（已被删除）",
                ),
                checkpoint,
            ));
        };
        if keyed_mac.as_deref() != Some(keyed_from_mac(self.vault(), keyed_from).as_str()) {
            return Ok(Verification::broken(
                0,
                0,
                1,
                Msg::new(
                    format!(
                        "the start of the keyed chain (after entry {keyed_from}) is not the one signed when the chain was keyed (moved, to pass entries off as unkeyed ones)"
                    ),
                    format!(
                        "加密链的起点（第{keyed_from}条之后）与启用密钥时签名的不符（被挪动，想把条目冒充为未加密的旧条目）"
                    ),
                ),
                checkpoint,
            ));
        }
        if let Some(cp) = checkpoint
            && cp.keyed_from != keyed_from
        {
            return Ok(Verification::broken(
                0,
                keyed_from,
                1,
                Msg::new(
                    format!(
                        "the log says its keyed chain starts after entry {keyed_from}, the checkpoint says after {}",
                        cp.keyed_from
                    ),
                    format!(
                        "日志称加密链从第{keyed_from}条之后开始，检查点记录的是第{}条之后",
                        cp.keyed_from
                    ),
                ),
                checkpoint,
            ));
        }
        self.chain_audit().await?;
        let gapless_ids = self.backend() == Backend::Sqlite;
        // On PostgreSQL, entries after the marker are numbered by gapless
        // counters: no number of a counter may be missing from the chain.
        // The marker is found first (entries may be chained out of their
        // counters' order); the scan below checks it belongs to the chain.
        let counted = self.backend() == Backend::Postgres;
        let marker: Option<i64> = if counted {
            with_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT id FROM audit_log WHERE action = $1 AND actor = 'linli' ORDER BY seq LIMIT 1")
                    .bind(COUNTED)
                    .fetch_optional(pool)
                    .await?
            })
        } else {
            None
        };
        // Per counter: how many of its entries are chained, and the highest.
        let mut seen_of: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        let mut prev = GENESIS.to_string();
        let mut prev_id: Option<i64> = None;
        let mut expected = 1;
        let mut last = 0;
        let mut at_checkpoint: Option<String> = None;
        let unkeyed = |last: i64| last.min(keyed_from);
        let sql = format!("SELECT {COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        loop {
            let rows: Vec<AuditEntry> = with_db!(&self.db, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(last).bind(10_000i64).fetch_all(pool).await?
            });
            if rows.is_empty() {
                break;
            }
            for e in &rows {
                let broken = |reason: Msg| {
                    Ok(Verification::broken(
                        e.seq - 1,
                        unkeyed(e.seq - 1),
                        e.seq,
                        reason,
                        checkpoint,
                    ))
                };
                if e.seq != expected {
                    return Ok(Verification::broken(
                        expected - 1,
                        unkeyed(expected - 1),
                        expected,
                        Msg::new(
                            format!("entry {expected} is missing"),
                            format!("第{expected}条缺失"),
                        ),
                        checkpoint,
                    ));
                }
                if e.prev_hash != prev {
                    return broken(Msg::new(
                        "prev_hash does not match the previous entry",
                        "前一哈希与上一条不符",
                    ));
                }
                let key = (e.seq > keyed_from).then_some(self.vault());
                let h = entry_hash(
                    key, &prev, e.seq, e.id, e.at, &e.actor, &e.action, &e.object, &e.detail,
                );
                if h != e.hash {
                    return broken(Msg::new(
                        "content does not match its link (altered, or written without the audit key)",
                        "内容与其哈希不符（被改动，或不是用审计密钥写入的）",
                    ));
                }
                if e.action == FORGED {
                    return broken(Msg::new(
                        format!(
                            "entry {} was put among the recorded entries by hand (no writer's signature, or the id of an entry already chained): {}",
                            e.seq, e.detail
                        ),
                        format!(
                            "第{}条是手工塞进待记条目的（没有写入方签名，或用了已入链条目的编号）：{}",
                            e.seq, e.detail
                        ),
                    ));
                }
                if gapless_ids
                    && let Some(p) = prev_id
                    && e.id != p + 1
                {
                    return broken(Msg::new(
                        format!(
                            "recorded entries {}..{} were deleted before they were chained",
                            p + 1,
                            e.id - 1
                        ),
                        format!("已记录的第{}至{}条在入链前被删除", p + 1, e.id - 1),
                    ));
                }
                if counted
                    && let Some(m) = marker
                    && e.id > m
                {
                    let counter = e.id.rem_euclid(COUNTERS);
                    if e.id < first_counted_id(m, counter) {
                        return broken(Msg::new(
                            format!(
                                "entry {} has an id its counter never gave (put in by hand)",
                                e.seq
                            ),
                            format!("第{}条的编号不是计数器发出的（手工塞入）", e.seq),
                        ));
                    }
                    let seen = seen_of.entry(counter).or_insert((0, 0));
                    seen.0 += 1;
                    seen.1 = seen.1.max(e.id);
                }
                if checkpoint.is_some_and(|cp| cp.seq == e.seq) {
                    at_checkpoint = Some(e.hash.clone());
                }
                prev = e.hash.clone();
                prev_id = Some(e.id);
                expected += 1;
                last = e.seq;
            }
        }
        let (head_seq, head_hash): (i64, String) = match with_db!(&self.db, pool => {
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetch_optional(pool).await?
        }) {
            Some(h) => h,
            None => {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    Msg::new(
                        "the head of the log is missing (deleted)",
                        "日志头缺失（已被删除）",
                    ),
                    checkpoint,
                ));
            }
        };
        if head_seq != last || head_hash != prev {
            return Ok(Verification::broken(
                last,
                unkeyed(last),
                last + 1,
                Msg::new(
                    format!(
                        "the log ends at {last} but its head says {head_seq} (entries removed)"
                    ),
                    format!("日志止于第{last}条，日志头却记为第{head_seq}条（有条目被删除）"),
                ),
                checkpoint,
            ));
        }
        if let Some(cp) = checkpoint {
            if cp.seq > last {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    Msg::new(
                        format!(
                            "the log ends at {last} but a checkpoint of {} saw {} entries (cut short, rolled back or emptied)",
                            crate::db::beijing_time(cp.at),
                            cp.seq
                        ),
                        format!(
                            "日志止于第{last}条，而{}的检查点已见{}条（被截短、回滚或清空）",
                            crate::db::beijing_time(cp.at),
                            cp.seq
                        ),
                    ),
                    checkpoint,
                ));
            }
            if cp.seq > 0 && at_checkpoint.as_deref() != Some(cp.hash.as_str()) {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    cp.seq,
                    Msg::new(
                        format!(
                            "entry {} differs from the checkpoint of {} (the log was rewritten)",
                            cp.seq,
                            crate::db::beijing_time(cp.at)
                        ),
                        format!(
                            "第{}条与{}的检查点不符（日志被改写）",
                            cp.seq,
                            crate::db::beijing_time(cp.at)
                        ),
                    ),
                    checkpoint,
                ));
            }
        }
        // SQLite counts every id it hands out (sqlite_sequence, written in
        // the writer's own transaction): recorded entries beyond the last
        // one chained or pending were cut off the end.
        if gapless_ids {
            let (allocated, pending, chained): (Option<i64>, Option<i64>, Option<i64>) = with_db!(&self.db, pool => {
                sqlx::query_as(
                    "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit_pending'),
                            (SELECT MAX(id) FROM audit_pending), (SELECT MAX(id) FROM audit_log)",
                ).fetch_one(pool).await?
            });
            let seen = pending.max(chained).unwrap_or(0);
            if allocated.unwrap_or(0) < seen {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    Msg::new(
                        "SQLite's id counter of the audit log is behind the entries it numbered (set back by hand)",
                        "审计日志的 SQLite 编号计数器落后于已编号的条目（被手工调回）",
                    ),
                    checkpoint,
                ));
            }
            if let Some(allocated) = allocated
                && allocated > seen
            {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    Msg::new(
                        format!(
                            "recorded entries {}..{allocated} are missing from the end of the log (cut off, head rolled back)",
                            seen + 1
                        ),
                        format!(
                            "日志末尾缺少已记录的第{}至{allocated}条（被截掉，日志头被回滚）",
                            seen + 1
                        ),
                    ),
                    checkpoint,
                ));
            }
        }
        // Ids are unique, so a counter's entries are whole when there are as
        // many as numbers from its first to its highest (chained in the
        // order they were written, which need not be the counter's order).
        for (counter, (count, highest)) in &seen_of {
            let first = first_counted_id(marker.unwrap_or_default(), *counter);
            let given = (highest - first) / COUNTERS + 1;
            if *count != given {
                return Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    Msg::new(
                        format!(
                            "{} recorded entries numbered by counter {counter} up to {highest} were deleted before they were chained",
                            given - count
                        ),
                        format!(
                            "计数器{counter}编号至{highest}的条目中有{}条在入链前被删除",
                            given - count
                        ),
                    ),
                    checkpoint,
                ));
            }
        }
        // PostgreSQL's counters likewise: numbers a counter gave beyond the
        // last entry of it chained or pending were cut off the end. Read in
        // one statement, so a chainer running meanwhile cannot fool it.
        if counted {
            let counters: Vec<(i32, i64, Option<i64>)> = with_db!(&self.db, pool => {
                sqlx::query_as(
                    "SELECT c.shard, c.next_no, GREATEST(
                        (SELECT MAX(p.id) FROM audit_pending p WHERE p.id > $1 AND p.id % 16 = c.shard),
                        (SELECT MAX(l.id) FROM audit_log l WHERE l.id > $1 AND l.id % 16 = c.shard))
                     FROM audit_counter c ORDER BY c.shard",
                )
                .bind(marker.unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await?
            });
            let broken_end = |reason: Msg| {
                Ok(Verification::broken(
                    last,
                    unkeyed(last),
                    last + 1,
                    reason,
                    checkpoint,
                ))
            };
            match marker {
                None if !counters.is_empty() => {
                    return broken_end(Msg::new(
                        format!(
                            "the entry that starts the counted numbering ({COUNTED}) is missing from the log"
                        ),
                        format!("日志中缺少开始计数编号的条目（{COUNTED}）"),
                    ));
                }
                None => {}
                Some(m) => {
                    for (counter, next_no, seen) in counters {
                        let seen_no =
                            seen.map_or(first_counter_no(m), |id| id.div_euclid(COUNTERS));
                        if next_no < seen_no {
                            return broken_end(Msg::new(
                                format!(
                                    "counter {counter} is behind the entries it numbered (set back by hand)"
                                ),
                                format!("计数器{counter}落后于它已编号的条目（被手工调回）"),
                            ));
                        }
                        if next_no > seen_no {
                            let (from, to) = (
                                (seen_no + 1) * COUNTERS + i64::from(counter),
                                next_no * COUNTERS + i64::from(counter),
                            );
                            return broken_end(Msg::new(
                                format!(
                                    "recorded entries {from}..{to} (counter {counter}) are missing from the end of the log (cut off, head rolled back)"
                                ),
                                format!(
                                    "日志末尾缺少已记录的第{from}至{to}条（计数器{counter}；被截掉，日志头被回滚）"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(Verification {
            entries: last.max(0) as u64,
            first_broken: None,
            unkeyed: unkeyed(last).max(0) as u64,
            checkpoint_seq: checkpoint.map(|c| c.seq),
        })
    }
}

/// The longest reason for a full view or an unmasked export.
pub const MAX_REASON_CHARS: usize = 200;

/// A reason for viewing personal data in full: required, and short (it is
/// written to the audit log).
pub fn check_reason(reason: &str) -> Result<&str> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(StoreError::invalid(
            "reason",
            "a reason is required to view personal data in full",
            "查看完整个人信息须填写理由",
        ));
    }
    if r.chars().count() > MAX_REASON_CHARS {
        return Err(StoreError::invalid(
            "reason",
            format!("is longer than {MAX_REASON_CHARS} characters"),
            format!("不能超过{MAX_REASON_CHARS}个字"),
        ));
    }
    Ok(r)
}

/// Appends a checkpoint to a file of checkpoints, one JSON object a line,
/// and flushes it to disk.
pub fn append_checkpoint(path: &std::path::Path, cp: &Checkpoint) -> Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(cp)
        .map_err(|e| StoreError::file(e.to_string(), format!("审计检查点写入失败：{e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            StoreError::file(
                format!("{}: {e}", path.display()),
                format!("审计检查点文件 {} 无法读写：{e}", path.display()),
            )
        })?;
    writeln!(f, "{line}")
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            StoreError::file(
                format!("{}: {e}", path.display()),
                format!("审计检查点文件 {} 无法读写：{e}", path.display()),
            )
        })
}

/// The last checkpoint of a file written by [`append_checkpoint`] (none
/// for an absent or empty file). A line that is not a checkpoint is an
/// error that names it.
pub fn last_checkpoint(path: &std::path::Path) -> Result<Option<Checkpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::file(
                format!("{}: {e}", path.display()),
                format!("审计检查点文件 {} 无法读写：{e}", path.display()),
            ));
        }
    };
    let Some((n, line)) = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .last()
    else {
        return Ok(None);
    };
    serde_json::from_str(line).map(Some).map_err(|e| {
        StoreError::file(
            format!("{} line {}: not a checkpoint ({e})", path.display(), n + 1),
            format!("审计检查点文件 {} 第{}行不是检查点", path.display(), n + 1),
        )
    })
}
