//! Backoff on failed logins, per address and per identity (a chat name, a
//! camera's City/Park, a token's room): what keeps secrets from being
//! guessed at network speed, without letting a guesser lock the owner out.
//!
//! - An address that has failed `login_free_failures` times is refused,
//!   unchecked, for `login_backoff_ms`, doubling with each further failure
//!   up to `login_backoff_max_ms`.
//! - An identity that has failed that often (from anywhere) is refused in
//!   the same way — but only to addresses that have failed themselves: its
//!   owner, logging in from a clean address, is always checked.
//! - A success forgets the identity's and the address's failures; both are
//!   forgotten anyway after `login_backoff_max_ms` without a failure.
//!
//! The table is bounded: past [`MAX_ENTRIES`], the oldest quiet entries go
//! first (an attacker cycling addresses only forgets its own failures
//! sooner).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LimitsConfig;

/// Most entries kept (addresses and identities together).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Addr(IpAddr),
    Identity(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Refused until then.
    until: Instant,
    last: Instant,
}

pub struct Backoff {
    free: u32,
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Backoff {
    pub fn new(limits: &LimitsConfig) -> Backoff {
        Backoff {
            free: limits.login_free_failures,
            base: Duration::from_millis(limits.login_backoff_ms),
            max: Duration::from_millis(limits.login_backoff_max_ms),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login of `identity` from `addr` may be checked now; if
    /// not, how long until it may.
    pub fn check(&self, addr: IpAddr, identity: &str) -> Result<(), Duration> {
        if self.base.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        let entries = self.lock();
        let wait = |key: &Key| {
            entries
                .get(key)
                .and_then(|e| e.until.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        if let Some(d) = wait(&Key::Addr(addr)) {
            return Err(d);
        }
        let addr_failed = entries
            .get(&Key::Addr(addr))
            .is_some_and(|e| e.failures > 0);
        match wait(&Key::Identity(identity.to_string())) {
            Some(d) if addr_failed => Err(d),
            _ => Ok(()),
        }
    }

    /// A login of `identity` from `addr` failed.
    pub fn failed(&self, addr: IpAddr, identity: &str) {
        if self.base.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            self.prune(&mut entries, now);
        }
        for key in [Key::Addr(addr), Key::Identity(identity.to_string())] {
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                until: now,
                last: now,
            });
            if now.duration_since(e.last) > self.max {
                e.failures = 0;
            }
            e.failures += 1;
            e.last = now;
            if e.failures >= self.free {
                let doublings = (e.failures - self.free).min(20);
                e.until = now + (self.base * 2u32.pow(doublings)).min(self.max);
            }
        }
    }

    /// A login of `identity` from `addr` succeeded: both start afresh.
    pub fn succeeded(&self, addr: IpAddr, identity: &str) {
        let mut entries = self.lock();
        entries.remove(&Key::Addr(addr));
        entries.remove(&Key::Identity(identity.to_string()));
    }

    /// Drops what is quiet for longer than the longest backoff, then, if
    /// still full, the oldest half.
    fn prune(&self, entries: &mut HashMap<Key, Entry>, now: Instant) {
        entries.retain(|_, e| now.duration_since(e.last) <= self.max);
        if entries.len() >= MAX_ENTRIES {
            let mut lasts: Vec<Instant> = entries.values().map(|e| e.last).collect();
            lasts.sort();
            let cut = lasts[lasts.len() / 2];
            entries.retain(|_, e| e.last > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(free: u32, base_ms: u64) -> Backoff {
        Backoff::new(&LimitsConfig {
            login_free_failures: free,
            login_backoff_ms: base_ms,
            login_backoff_max_ms: 60_000,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn a_guesser_is_slowed_and_the_owner_is_not() {
        let b = backoff(3, 10_000);
        let (guesser, owner): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(b.check(guesser, "alice").is_ok());
            b.failed(guesser, "alice");
        }
        // The guesser is refused, for any name; the owner is checked.
        assert!(b.check(guesser, "alice").is_err());
        assert!(b.check(guesser, "bob").is_err());
        assert!(b.check(owner, "alice").is_ok());
        // Another address that failed before is refused for that name.
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        b.failed(other, "carol");
        assert!(b.check(other, "alice").is_err());
        assert!(b.check(other, "dave").is_ok());
        // The owner's success clears the name.
        b.succeeded(owner, "alice");
        assert!(b.check(other, "alice").is_ok());
    }

    #[test]
    fn zero_turns_it_off() {
        let b = backoff(1, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10 {
            b.failed(a, "x");
        }
        assert!(b.check(a, "x").is_ok());
    }
}
