//! Sign-in throttling by client address. The per-account lock-out (five
//! failures lock one account for 15 minutes) stops guessing one account's
//! password; this stops one address from trying many accounts (password
//! spraying): after [`FAILURES_PER_WINDOW`] failed sign-ins within
//! [`WINDOW_MS`], the address is refused until its window ends.
//!
//! Behind a reverse proxy every request comes from the proxy's address,
//! so the limit then applies to all sign-ins together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub const FAILURES_PER_WINDOW: u32 = 30;
pub const WINDOW_MS: i64 = 10 * 60 * 1000;

/// Failed sign-ins per address in the current window.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl LoginThrottle {
    /// `Err(ms)` when the address must wait `ms` before trying again.
    pub fn check(&self, ip: IpAddr, now: i64) -> Result<(), i64> {
        let Ok(map) = self.failures.lock() else {
            return Ok(());
        };
        match map.get(&ip) {
            Some((start, n)) if *n >= FAILURES_PER_WINDOW && now - start < WINDOW_MS => {
                Err(WINDOW_MS - (now - start))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in; a window that has ended starts afresh.
    pub fn failed(&self, ip: IpAddr, now: i64) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        // Forget ended windows so the map cannot grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now - *start < WINDOW_MS);
        }
        let e = map.entry(ip).or_insert((now, 0));
        if now - e.0 >= WINDOW_MS {
            *e = (now, 0);
        }
        e.1 += 1;
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
            assert!(t.check(a, 1_000 + i as i64).is_ok());
            t.failed(a, 1_000 + i as i64);
        }
        assert_eq!(t.check(a, 2_000), Err(WINDOW_MS - 1_000));
        assert!(
            t.check(b, 2_000).is_ok(),
            "other addresses are not held back"
        );
        assert!(t.check(a, 1_000 + WINDOW_MS).is_ok(), "the window ends");
        t.failed(a, 1_000 + WINDOW_MS);
        assert!(
            t.check(a, 1_001 + WINDOW_MS).is_ok(),
            "and counting starts afresh"
        );
    }
}
