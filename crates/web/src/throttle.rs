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
