//! Logging what peers cause, so that they cannot drive the log: strings
//! they send are escaped ([`Esc`]), and an event they can repeat is
//! rate-limited at its call site ([`limited!`]): at most [`BURST`] lines
//! a second each, the rest counted and reported — on the next line the
//! site writes (`suppressed = N`) and, when it falls silent, by
//! [`report_suppressed`] every few seconds (one summary line per site).

use std::fmt;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Lines one call site writes per second before the rest are counted.
pub const BURST: u64 = 10;
/// Longest peer string written whole; longer ones are cut, their length said.
const MAX_SHOWN: usize = 256;

/// A string a peer chose, as a log shows it: control characters (line
/// breaks, escape sequences) escaped Rust-style, and cut after 256
/// characters. `%Esc(s)` in a tracing field.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escaped(f, self.0, MAX_SHOWN)
    }
}

/// [`Esc`] without the cut: a text already bounded (a plugin's log line).
pub struct EscText<'a>(pub &'a str);

impl fmt::Display for EscText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escaped(f, self.0, usize::MAX)
    }
}

fn escaped(f: &mut fmt::Formatter<'_>, s: &str, max: usize) -> fmt::Result {
    for (shown, c) in s.chars().enumerate() {
        if shown == max {
            return write!(f, "…({} bytes)", s.len());
        }
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

/// The rate limit of one call site (made by [`limited!`]).
pub struct Limit {
    site: &'static str,
    /// The second (since the first limited event) being counted.
    second: AtomicU64,
    in_second: AtomicU64,
    suppressed: AtomicU64,
    registered: AtomicBool,
}

fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

fn sites() -> &'static Mutex<Vec<&'static Limit>> {
    static SITES: Mutex<Vec<&'static Limit>> = Mutex::new(Vec::new());
    &SITES
}

impl Limit {
    pub const fn new(site: &'static str) -> Limit {
        Limit {
            site,
            second: AtomicU64::new(0),
            in_second: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            registered: AtomicBool::new(false),
        }
    }

    /// Whether this event is written: `Some(n)` with the events suppressed
    /// since the last line written, or `None` (counted).
    pub fn check(&'static self) -> Option<u64> {
        if !self.registered.swap(true, Relaxed) {
            sites().lock().unwrap_or_else(|p| p.into_inner()).push(self);
        }
        let now = clock();
        let second = self.second.load(Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Relaxed, Relaxed)
                .is_ok()
        {
            self.in_second.store(0, Relaxed);
        }
        if self.in_second.fetch_add(1, Relaxed) < BURST {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// One line per call site with events suppressed since its last line:
/// the summary of a flood that has stopped. The server calls it every few
/// seconds.
pub fn report_suppressed() {
    let sites = sites().lock().unwrap_or_else(|p| p.into_inner()).clone();
    for limit in sites {
        let n = limit.suppressed.swap(0, Relaxed);
        if n > 0 {
            tracing::warn!(
                site = limit.site,
                suppressed = n,
                "repeated log events suppressed"
            );
        }
    }
}

/// `tracing::<level>!(...)` at most [`BURST`] times a second from this
/// call site; the rest are counted, and the count is written with the
/// site's next line (`suppressed = N`) or by [`report_suppressed`].
#[macro_export]
macro_rules! limited {
    ($level:ident, $($arg:tt)+) => {{
        static LIMIT: $crate::logs::Limit = $crate::logs::Limit::new(concat!(file!(), ":", line!()));
        match LIMIT.check() {
            Some(0) => tracing::$level!($($arg)+),
            Some(suppressed) => tracing::$level!(suppressed, $($arg)+),
            None => {}
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_strings_are_escaped_and_cut() {
        assert_eq!(
            Esc("cam\nFORGED\x1b[31m\r\u{2028}京").to_string(),
            "cam\\nFORGED\\u{1b}[31m\\r\\u{2028}京"
        );
        let long = "x".repeat(1000);
        let shown = Esc(&long).to_string();
        assert!(
            shown.ends_with("…(1000 bytes)") && shown.len() < 300,
            "{shown}"
        );
    }

    #[test]
    fn a_site_writes_at_most_its_burst_a_second() {
        static LIMIT: Limit = Limit::new("test");
        let (mut written, mut reported) = (0, 0);
        for _ in 0..1000 {
            if let Some(n) = LIMIT.check() {
                written += 1;
                reported += n;
            }
        }
        // The run may straddle a second: at most two bursts.
        assert!((BURST..=2 * BURST).contains(&written), "{written}");
        // Every event is written or counted.
        assert_eq!(reported + LIMIT.suppressed.load(Relaxed), 1000 - written);
    }
}
