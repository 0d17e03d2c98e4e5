//! The report: one row per scenario and backend, the WASM/native ratio
//! lines, as a plain-text table or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::stats::Stats;
use wasmgate_testkit::Mem;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub scenario: String,
    pub backend: String,
    pub clients: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub throughput: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub errors: u64,
    pub lost: u64,
    pub dropped: u64,
    pub connect_failures: u64,
    pub host_rss_kib: u64,
    pub host_peak_rss_kib: u64,
    /// Scenario-specific figures.
    pub extra: BTreeMap<String, Value>,
    /// Set when the run did not happen (e.g. a backend the host lacks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Row {
    pub fn new(scenario: &str, backend: &str, clients: usize) -> Row {
        Row {
            scenario: scenario.into(),
            backend: backend.into(),
            clients,
            ..Default::default()
        }
    }

    pub fn skipped(scenario: &str, backend: &str, why: String) -> Row {
        Row {
            skipped: Some(why),
            ..Row::new(scenario, backend, 0)
        }
    }

    pub fn fill(&mut self, mut stats: Stats, elapsed: Duration, mem: Mem) {
        let (p50, p99, max) = stats.percentiles_us();
        self.duration_s = elapsed.as_secs_f64();
        self.requests = stats.requests;
        self.throughput = if self.duration_s > 0.0 {
            stats.requests as f64 / self.duration_s
        } else {
            0.0
        };
        self.p50_us = p50;
        self.p99_us = p99;
        self.max_us = max;
        self.extra
            .insert("mean_us".into(), round(stats.mean_us()).into());
        self.errors = stats.errors;
        self.lost = stats.lost;
        self.dropped = stats.dropped;
        self.connect_failures = stats.connect_failures;
        self.host_rss_kib = mem.rss_kib;
        self.host_peak_rss_kib = mem.hwm_kib;
    }

    pub fn set(&mut self, key: &str, v: impl Into<Value>) {
        self.extra.insert(key.into(), v.into());
    }

    /// True when the run counted a failure the smoke test refuses.
    pub fn failed(&self) -> bool {
        self.skipped.is_none()
            && (self.errors > 0 || self.lost > 0 || self.dropped > 0 || self.connect_failures > 0)
    }
}

/// Of several runs of one scenario and backend: the run of median
/// throughput, with the failures of every run added up (so a loss in any
/// run shows) and the throughputs of all runs listed.
pub fn median(mut runs: Vec<Row>) -> Row {
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    let n = runs.len();
    let (errors, lost, dropped, failures) = runs.iter().fold((0, 0, 0, 0), |a, r| {
        (
            a.0 + r.errors,
            a.1 + r.lost,
            a.2 + r.dropped,
            a.3 + r.connect_failures,
        )
    });
    let mut done: Vec<Row> = runs
        .iter()
        .filter(|r| r.skipped.is_none())
        .cloned()
        .collect();
    if done.is_empty() {
        return runs.swap_remove(0);
    }
    done.sort_by(|a, b| a.throughput.total_cmp(&b.throughput));
    let all: Vec<Value> = done
        .iter()
        .map(|r| Value::from(r.throughput.round()))
        .collect();
    let mut m = done.swap_remove(done.len() / 2);
    m.errors = errors;
    m.lost = lost;
    m.dropped = dropped;
    m.connect_failures = failures;
    m.set("runs", n as u64);
    m.set("throughput_runs", Value::Array(all));
    m
}

pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub scenario: String,
    pub of: String,
    pub to: String,
    pub throughput: f64,
    pub p50: f64,
    pub p99: f64,
}

/// `of`/`to` ratios for every scenario that has both backends.
pub fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.skipped.is_none() && r.backend != "native")
    {
        let Some(n) = rows
            .iter()
            .find(|n| n.scenario == r.scenario && n.backend == "native" && n.skipped.is_none())
        else {
            continue;
        };
        let q = |a: f64, b: f64| {
            if b > 0.0 {
                (a / b * 100.0).round() / 100.0
            } else {
                0.0
            }
        };
        out.push(Ratio {
            scenario: r.scenario.clone(),
            of: r.backend.clone(),
            to: "native".into(),
            throughput: q(r.throughput, n.throughput),
            p50: q(r.p50_us, n.p50_us),
            p99: q(r.p99_us, n.p99_us),
        });
    }
    out
}

pub fn print_row(r: &Row) {
    println!("{}", format_row(r));
}

pub fn header() -> String {
    format!(
        "{:<18} {:<14} {:>7} {:>6} {:>9} {:>10} {:>9} {:>9} {:>9} {:>6} {:>5} {:>5} {:>10}",
        "scenario",
        "backend",
        "clients",
        "secs",
        "requests",
        "req/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "errors",
        "lost",
        "drop",
        "peak RSS"
    )
}

pub fn format_row(r: &Row) -> String {
    if let Some(why) = &r.skipped {
        return format!("{:<18} {:<14} skipped: {why}", r.scenario, r.backend);
    }
    let mut s = format!(
        "{:<18} {:<14} {:>7} {:>6.1} {:>9} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>6} {:>5} {:>5} {:>7} MiB",
        r.scenario,
        r.backend,
        r.clients,
        r.duration_s,
        r.requests,
        r.throughput,
        r.p50_us,
        r.p99_us,
        r.max_us,
        r.errors,
        r.lost,
        r.dropped,
        r.host_peak_rss_kib / 1024
    );
    let extra: Vec<String> = r
        .extra
        .iter()
        .filter(|(k, _)| k.as_str() != "mean_us")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect();
    if r.connect_failures > 0 {
        s.push_str(&format!(
            "\n{:<18}   connect failures: {}",
            "", r.connect_failures
        ));
    }
    if !extra.is_empty() {
        s.push_str(&format!("\n{:<18}   {}", "", extra.join("  ")));
    }
    s
}

pub fn print_all(rows: &[Row]) {
    println!();
    println!("{}", header());
    for r in rows {
        print_row(r);
    }
    let ratios = ratios(rows);
    if !ratios.is_empty() {
        println!();
        for q in &ratios {
            println!(
                "ratio {:<18} {}/{}: throughput {:.2}x  p50 {:.2}x  p99 {:.2}x",
                q.scenario, q.of, q.to, q.throughput, q.p50, q.p99
            );
        }
    }
}

pub fn json(rows: &[Row], machine: Value) -> Value {
    serde_json::json!({
        "machine": machine,
        "rows": rows,
        "ratios": ratios(rows),
    })
}
