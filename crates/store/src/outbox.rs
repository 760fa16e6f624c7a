//! The outbox of webhook deliveries. Rows are written in the transaction
//! of the event they announce; a worker sends them and retries with
//! back-off until the receiver answers 2xx, so none is lost on restart.
//! Every write to the outbox goes through this module: [`enqueue_in_tx`]
//! for the event's transaction, the claim and the outcome for the sender.
//!
//! Several servers may send at once: a delivery is claimed (its next
//! attempt pushed past the send's time-out by one conditional UPDATE)
//! before it is sent, so each attempt is made by one instance only.

use serde::Serialize;

use crate::{Result, Store, with_db};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub topic: String,
    pub target_url: String,
    pub payload: String,
    pub attempts: i32,
    /// When it was due as the sender saw it: the claim checks it.
    pub next_attempt_at: i64,
}

/// How long a claim keeps a delivery from other senders: longer than a
/// send's time-out, so a claim runs out only when its sender died.
pub const CLAIM_MS: i64 = 60_000;

/// Queues a webhook in the transaction of the event it announces.
macro_rules! enqueue_in_tx {
    ($tx:expr, $topic:expr, $url:expr, $payload:expr, $at:expr) => {{
        sqlx::query("INSERT INTO outbox (topic, target_url, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $4)")
            .bind($topic)
            .bind($url)
            .bind($payload)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use enqueue_in_tx;

/// Wait before the next try after `attempts` failures: 30 s doubling, at most 6 h.
pub fn backoff_ms(attempts: i32) -> i64 {
    let step = 30_000i64.saturating_mul(1i64 << attempts.clamp(0, 20));
    step.min(6 * 3600 * 1000)
}

impl Store {
    /// Deliveries due at `now`, oldest first.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, topic, target_url, payload, attempts, next_attempt_at FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2")
                .bind(now).bind(limit).fetch_all(pool).await?
        }))
    }

    /// Claims a due delivery for this sender until `now + CLAIM_MS`; the
    /// claim (its end) is the token the outcome is recorded with. None when
    /// another sender claimed or sent it first.
    pub async fn claim_delivery(&self, d: &Delivery, now: i64) -> Result<Option<i64>> {
        let until = now.saturating_add(CLAIM_MS);
        let changed = with_db!(&self.db, pool => {
            sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at = $3")
                .bind(until).bind(d.id).bind(d.next_attempt_at)
                .execute(pool).await?.rows_affected()
        });
        Ok((changed == 1).then_some(until))
    }

    pub async fn delivery_succeeded(&self, id: i64, now: i64) -> Result<()> {
        with_db!(&self.db, pool => {
            sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
                .bind(now).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// A failed attempt under the claim `claim`: the next one after the
    /// back-off. Nothing is written when the claim ran out and another
    /// sender holds the delivery now.
    pub async fn delivery_failed(
        &self,
        d: &Delivery,
        claim: i64,
        now: i64,
        error: &str,
    ) -> Result<()> {
        let next = now + backoff_ms(d.attempts);
        with_db!(&self.db, pool => {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3 AND next_attempt_at = $4 AND delivered_at IS NULL")
                .bind(next).bind(error.chars().take(500).collect::<String>()).bind(d.id).bind(claim).execute(pool).await?;
        });
        Ok(())
    }

    /// (pending, delivered) counts, for health pages and tests.
    pub async fn outbox_counts(&self) -> Result<(i64, i64)> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query_as("SELECT COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END), 0) FROM outbox")
                .fetch_one(pool).await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(0), 30_000);
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(30), 6 * 3600 * 1000);
    }
}
