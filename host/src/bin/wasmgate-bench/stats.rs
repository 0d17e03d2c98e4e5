//! What one load run counts: answered requests with their latencies,
//! wrong answers (errors), requests that got no answer in time (lost), and
//! connections that ended under the client (dropped).

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests answered correctly (the latencies below are theirs).
    pub requests: u64,
    /// Answers that came but were wrong or an error of the protocol.
    pub errors: u64,
    /// Requests that never got their answer (timeout or the end of the run).
    pub lost: u64,
    /// Connections closed or reset under a client.
    pub dropped: u64,
    /// Connections that could not be opened or logged in.
    pub connect_failures: u64,
    lat_ns: Vec<u64>,
}

impl Stats {
    pub fn ok(&mut self, d: Duration) {
        self.requests += 1;
        self.lat_ns.push(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, o: Stats) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.lost += o.lost;
        self.dropped += o.dropped;
        self.connect_failures += o.connect_failures;
        self.lat_ns.extend(o.lat_ns);
    }

    /// (p50, p99, max) in microseconds; zeros when nothing was answered.
    pub fn percentiles_us(&mut self) -> (f64, f64, f64) {
        if self.lat_ns.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        self.lat_ns.sort_unstable();
        let at = |p: f64| {
            let i = ((self.lat_ns.len() as f64 * p).ceil() as usize).clamp(1, self.lat_ns.len());
            self.lat_ns[i - 1] as f64 / 1000.0
        };
        (
            at(0.50),
            at(0.99),
            *self.lat_ns.last().unwrap() as f64 / 1000.0,
        )
    }

    pub fn mean_us(&self) -> f64 {
        if self.lat_ns.is_empty() {
            return 0.0;
        }
        self.lat_ns.iter().map(|x| *x as f64).sum::<f64>() / self.lat_ns.len() as f64 / 1000.0
    }
}

/// Paces one closed-loop client at `per_client_rate` requests per second
/// (0 = as fast as answers come), starting at `offset` so the clients of a
/// run do not all fire at the same instant.
pub struct Pacer {
    start: tokio::time::Instant,
    interval: Option<Duration>,
    n: u32,
}

impl Pacer {
    pub fn new(per_client_rate: f64, offset_fraction: f64) -> Pacer {
        let interval =
            (per_client_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / per_client_rate));
        let start = tokio::time::Instant::now()
            + interval
                .map(|i| i.mul_f64(offset_fraction.clamp(0.0, 1.0)))
                .unwrap_or_default();
        Pacer {
            start,
            interval,
            n: 0,
        }
    }

    pub async fn tick(&mut self) {
        if let Some(i) = self.interval {
            let at = self.start + i * self.n;
            self.n = self.n.saturating_add(1);
            tokio::time::sleep_until(at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut s = Stats::default();
        for us in 1..=100 {
            s.ok(Duration::from_micros(us));
        }
        assert_eq!(s.percentiles_us(), (50.0, 99.0, 100.0));
    }
}

/// The clock of one closed-loop run of `n` clients: each client's share of
/// the total `rate` (0 = unpaced), when the run started and when it ends.
#[derive(Clone, Copy)]
pub struct Schedule {
    n: usize,
    per_client: f64,
    pub started: Instant,
    pub end: Instant,
}

impl Schedule {
    pub fn new(n: usize, rate: f64, duration: Duration) -> Schedule {
        let n = n.max(1);
        let started = Instant::now();
        Schedule {
            n,
            per_client: if rate > 0.0 { rate / n as f64 } else { 0.0 },
            started,
            end: started + duration,
        }
    }

    /// The pacer of client `i`, its requests offset from the others'.
    pub fn pacer(&self, i: usize) -> Pacer {
        Pacer::new(self.per_client, i as f64 / self.n as f64)
    }
}

/// Waits for every client task and merges what each counted; a task that
/// panicked counts as an error.
pub async fn merge_all(tasks: Vec<JoinHandle<Stats>>) -> Stats {
    let mut total = Stats::default();
    for t in tasks {
        match t.await {
            Ok(s) => total.merge(s),
            Err(_) => total.errors += 1,
        }
    }
    total
}
