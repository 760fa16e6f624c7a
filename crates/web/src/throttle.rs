//! Sign-in throttling by client address. The per-account lock-out (five
//! failures lock one account for 15 minutes) stops guessing one account's
//! password; this stops one address from trying many accounts (password
//! spraying): after [`FAILURES_PER_WINDOW`] failed sign-ins within
//! [`WINDOW_MS`], the address is refused until its window ends.
//!
//! Behind a reverse proxy every request comes from the proxy's address,
//! so the limit then applies to all sign-ins together.
//!
//! The same counter limits look-ups of people by ID number or phone per
//! account ([`LOOKUPS_PER_WINDOW`]): each one confirms or denies a guess.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

pub const FAILURES_PER_WINDOW: u32 = 30;
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Look-ups by ID number or phone per account per window: enough for a
/// counter's queue, far too few to walk the hidden digits of a phone.
pub const LOOKUPS_PER_WINDOW: u32 = 20;

/// The refusal of a held-back attempt: 429 with how long to wait (also
/// as Retry-After).
pub fn held_back(what: &str, what_zh: &str, wait_ms: i64) -> linli_store::StoreError {
    let minutes = wait_ms / 60_000 + 1;
    linli_store::StoreError::Locked {
        message: linli_store::Msg::new(
            format!("{what}; try again in {minutes} minutes"),
            format!("{what_zh}，请{minutes}分钟后再试"),
        ),
        retry_after_s: u64::try_from(wait_ms / 1000 + 1).unwrap_or(1),
    }
}

/// A registry preview tells how many of a file's ID numbers are on
/// record: a look-up by count. Previews share the look-up allowance under
/// their own key, so guessing by preview is as slow as guessing by search
/// (and each preview is audited by the store).
pub fn admit_preview(
    throttle: &LookupThrottle,
    actor: &str,
    now: i64,
) -> Result<(), linli_store::StoreError> {
    take_lookup(
        throttle,
        &format!("preview:{actor}"),
        now,
        ("too many import previews", "导入预览次数过多"),
    )
}

/// Takes one from `key`'s look-up allowance; past it, 429 saying `what`
/// (English, Chinese) and how long to wait.
pub fn take_lookup(
    throttle: &LookupThrottle,
    key: &str,
    now: i64,
    (what, what_zh): (&str, &str),
) -> Result<(), linli_store::StoreError> {
    throttle
        .take(&key.to_string(), now)
        .map_err(|wait_ms| held_back(what, what_zh, wait_ms))
}

/// ID numbers a registry import (preview or not) may check per account per
/// day. An import tells which of its ID numbers are on record (a row is
/// updated or unchanged instead of new), so a file of guesses is a bulk
/// look-up: this budget holds such guessing to a pace no one could use,
/// while a community's ledger (a few thousand rows, previewed, remapped
/// and confirmed: one charge) goes in several times a day. Roles that may
/// unmask (and look up one number at a time anyway) get ten times more,
/// for a subdistrict's or district's ledgers. A city's first load goes
/// through `linli import`, which is not an account's.
pub const ID_NUMBERS_PER_DAY: u32 = 20_000;
pub const ID_NUMBERS_PER_DAY_UNMASK: u32 = 200_000;
pub const DAY_MS: i64 = 86_400_000;

/// The ID-number budget of registry imports, per account.
#[derive(Debug)]
pub struct ImportBudget {
    ids: Throttle<String>,
    ids_unmask: Throttle<String>,
    /// Files already charged (account, digest of the cells) and when: the
    /// same file previewed, remapped and confirmed is charged once a day.
    charged: Mutex<HashMap<(String, u64), i64>>,
    /// The digest's key, random for each server: nobody can make two files
    /// digest alike to pass a big one off as a small one already charged.
    digest_key: std::collections::hash_map::RandomState,
}

impl Default for ImportBudget {
    fn default() -> Self {
        ImportBudget {
            ids: Throttle::new(ID_NUMBERS_PER_DAY, DAY_MS),
            ids_unmask: Throttle::new(ID_NUMBERS_PER_DAY_UNMASK, DAY_MS),
            charged: Mutex::default(),
            digest_key: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// What a registry import (API or page) must pass before it runs: a
/// preview takes from the look-up allowance, and the file's ID numbers
/// from the caller's daily budget.
pub fn admit_registry_import(
    state: &crate::AppState,
    caller: &crate::Caller,
    dry_run: bool,
    table: &linli_store::import::Table,
) -> Result<(), linli_store::StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    if dry_run {
        admit_preview(&state.lookup_throttle, &caller.actor, now)?;
    }
    admit_id_numbers(
        &state.import_budget,
        &caller.actor,
        linli_core::access::allows(caller.role, linli_core::access::Permission::Unmask),
        table,
        now,
    )
}

/// Charges the distinct ID numbers of a registry file (its column
/// recognised as `id_number`) to the caller's budget, or refuses the
/// import (429, with how long to wait) when they do not fit.
pub fn admit_id_numbers(
    budget: &ImportBudget,
    actor: &str,
    may_unmask: bool,
    table: &linli_store::import::Table,
    now: i64,
) -> Result<(), linli_store::StoreError> {
    use std::hash::{BuildHasher, Hasher};
    let Some(col) = table.headers.iter().position(|h| h == "id_number") else {
        return Ok(());
    };
    let mut ids: Vec<&str> = table
        .rows
        .iter()
        .filter_map(|(_, cells)| cells.get(col).map(|c| c.trim()))
        .filter(|c| !c.is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // Keyed and unambiguous (each ID length-prefixed, the count last), so
    // no file digests like another.
    let mut digest = budget.digest_key.build_hasher();
    for id in &ids {
        digest.write_usize(id.len());
        digest.write(id.as_bytes());
    }
    digest.write_usize(ids.len());
    let key = (actor.to_string(), digest.finish());
    let throttle = if may_unmask {
        &budget.ids_unmask
    } else {
        &budget.ids
    };
    let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let Ok(mut charged) = budget.charged.lock() else {
        return Ok(());
    };
    charged.retain(|_, at| now - *at < DAY_MS);
    // A file too big for any day is refused even if charged before.
    if n <= throttle.limit && charged.contains_key(&key) {
        return Ok(());
    }
    throttle.take_n(&key.0, n, now).map_err(|wait_ms| {
        let limit = throttle.limit;
        let minutes = wait_ms / 60_000 + 1;
        linli_store::StoreError::Locked {
            message: linli_store::Msg::new(
                format!(
                    "this file's {n} ID numbers exceed what one account may check by import in a day ({limit}); try again in {minutes} minutes or ask the district administrator"
                ),
                format!(
                    "本文件含{n}个身份证号，超出每个账号每天通过导入核对的上限（{limit}个）；请{minutes}分钟后再试，或请区管理员导入"
                ),
            ),
            retry_after_s: u64::try_from(wait_ms / 1000 + 1).unwrap_or(1),
        }
    })?;
    charged.insert(key, now);
    Ok(())
}

/// Events per key in the current window, refused past a limit.
#[derive(Debug)]
pub struct Throttle<K> {
    limit: u32,
    window_ms: i64,
    counts: Mutex<HashMap<K, (i64, u32)>>,
}

/// Failed sign-ins per client address.
pub type LoginThrottle = Throttle<IpAddr>;

impl Default for Throttle<IpAddr> {
    fn default() -> Self {
        Throttle::new(FAILURES_PER_WINDOW, WINDOW_MS)
    }
}

/// Look-ups by ID number or phone per account.
pub type LookupThrottle = Throttle<String>;

/// Failed sign-ins per (user name, client address): five lock that name
/// from that address for 15 minutes, whether or not the name exists, and
/// its owner elsewhere can still sign in.
pub type NameThrottle = Throttle<(String, Option<IpAddr>)>;

impl Default for Throttle<(String, Option<IpAddr>)> {
    fn default() -> Self {
        Throttle::new(
            linli_store::accounts::MAX_FAILED_LOGINS as u32,
            linli_store::accounts::LOCKOUT_MS,
        )
    }
}

impl Default for Throttle<String> {
    fn default() -> Self {
        Throttle::new(LOOKUPS_PER_WINDOW, WINDOW_MS)
    }
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(limit: u32, window_ms: i64) -> Self {
        Throttle {
            limit,
            window_ms,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(ms)` when the key must wait `ms` before trying again.
    pub fn check(&self, key: &K, now: i64) -> Result<(), i64> {
        let Ok(map) = self.counts.lock() else {
            return Ok(());
        };
        match map.get(key) {
            Some((start, n)) if *n >= self.limit && now - start < self.window_ms => {
                Err(self.window_ms - (now - start))
            }
            _ => Ok(()),
        }
    }

    /// Counts one event; a window that has ended starts afresh.
    pub fn count(&self, key: &K, now: i64) {
        let Ok(mut map) = self.counts.lock() else {
            return;
        };
        // Forget ended windows so the map cannot grow without bound.
        if map.len() > 10_000 {
            let w = self.window_ms;
            map.retain(|_, (start, _)| now - *start < w);
        }
        let e = map.entry(key.clone()).or_insert((now, 0));
        if now - e.0 >= self.window_ms {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    /// Forgets a key's count (a successful sign-in ends a run of failures).
    pub fn reset(&self, key: &K) {
        if let Ok(mut map) = self.counts.lock() {
            map.remove(key);
        }
    }

    /// Counts `n` events at once, if they fit within the limit of the
    /// current window: `Err(ms)` until they would (the window's end, or a
    /// whole window when `n` alone is over the limit).
    pub fn take_n(&self, key: &K, n: u32, now: i64) -> Result<(), i64> {
        let Ok(mut map) = self.counts.lock() else {
            return Ok(());
        };
        if n > self.limit {
            return Err(self.window_ms);
        }
        let e = map.entry(key.clone()).or_insert((now, 0));
        if now - e.0 >= self.window_ms {
            *e = (now, 0);
        }
        if e.1.saturating_add(n) > self.limit {
            return Err(self.window_ms - (now - e.0));
        }
        e.1 += n;
        Ok(())
    }

    /// Checks, then counts: `Err(ms)` when over the limit (not counted).
    pub fn take(&self, key: &K, now: i64) -> Result<(), i64> {
        self.check(key, now)?;
        self.count(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(ids: std::ops::Range<u32>) -> linli_store::import::Table {
        linli_store::import::Table {
            headers: vec!["name".into(), "id_number".into()],
            rows: ids
                .map(|i| (i as usize, vec!["某".into(), format!("id{i}")]))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_account_checks_a_days_worth_of_id_numbers_by_import_and_no_more() {
        let b = ImportBudget::default();
        let day = ledger(0..ID_NUMBERS_PER_DAY - 100);
        assert!(admit_id_numbers(&b, "w", false, &day, 0).is_ok());
        // The same file again (preview, remap, confirm): not charged again.
        assert!(admit_id_numbers(&b, "w", false, &day, 1_000).is_ok());
        // Another file that does not fit: refused until the day is over.
        let more = ledger(50_000..50_200);
        assert!(admit_id_numbers(&b, "w", false, &more, 2_000).is_err());
        assert!(admit_id_numbers(&b, "w", false, &ledger(60_000..60_100), 2_000).is_ok());
        assert!(admit_id_numbers(&b, "w", false, &more, DAY_MS + 1).is_ok());
        // A file whose one cell holds many ID numbers is not the same file
        // as those numbers in rows (its digest differs), and a file over the
        // limit is never let through as "charged before".
        let b2 = ImportBudget::default();
        let mut joined = ledger(0..1);
        joined.rows[0].1[1] = (0..30_000)
            .map(|i| format!("id{i}"))
            .collect::<Vec<_>>()
            .join("\u{1f}");
        assert!(admit_id_numbers(&b2, "w", false, &joined, 0).is_ok());
        assert!(admit_id_numbers(&b2, "w", false, &ledger(0..30_000), 0).is_err());
        // Others have their own; a role that may unmask has more.
        assert!(admit_id_numbers(&b, "x", false, &more, 2_000).is_ok());
        let big = ledger(0..ID_NUMBERS_PER_DAY + 1);
        assert!(admit_id_numbers(&b, "y", false, &big, 0).is_err());
        assert!(admit_id_numbers(&b, "z", true, &big, 0).is_ok());
    }

    #[test]
    fn an_address_is_held_back_after_too_many_failures_until_the_window_ends() {
        let t = LoginThrottle::default();
        let a: IpAddr = "10.0.0.7".parse().unwrap();
        let b: IpAddr = "10.0.0.8".parse().unwrap();
        for i in 0..FAILURES_PER_WINDOW {
            assert!(t.check(&a, 1_000 + i as i64).is_ok());
            t.count(&a, 1_000 + i as i64);
        }
        assert_eq!(t.check(&a, 2_000), Err(WINDOW_MS - 1_000));
        assert!(
            t.check(&b, 2_000).is_ok(),
            "other addresses are not held back"
        );
        assert!(t.check(&a, 1_000 + WINDOW_MS).is_ok(), "the window ends");
        t.count(&a, 1_000 + WINDOW_MS);
        assert!(
            t.check(&a, 1_001 + WINDOW_MS).is_ok(),
            "and counting starts afresh"
        );
    }
}
