//! Counters and histograms, rendered in the Prometheus text format by the
//! admin API. Each listener and plugin owns its atomics; rendering walks them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Metrics {
    listeners: Mutex<Vec<Arc<ListenerMetrics>>>,
    plugins: Mutex<Vec<Arc<PluginMetrics>>>,
    /// Rendered once `clustered` is set.
    pub cluster: ClusterMetrics,
}

/// A clustered host's link to NATS and the other hosts.
#[derive(Default)]
pub struct ClusterMetrics {
    pub clustered: std::sync::atomic::AtomicBool,
    /// 1 while connected to NATS.
    pub connected: AtomicI64,
    pub disconnects: AtomicU64,
    /// Messages sent to sessions on other hosts.
    pub sent: AtomicU64,
    /// Messages from other hosts queued for sessions here.
    pub received: AtomicU64,
    /// Messages from other hosts dropped: the inbox was full (this host is
    /// a slow consumer) or NATS reported a slow consumer.
    pub dropped: AtomicU64,
    /// Store and directory operations refused because NATS did not answer.
    pub unavailable: AtomicU64,
    /// Sessions of dead hosts released by this host.
    pub reaped: AtomicU64,
    /// Plugin files taken from the cluster's plugin bucket.
    pub deploys: AtomicU64,
}

#[derive(Default)]
pub struct ListenerMetrics {
    pub name: String,
    pub protocol: String,
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub malformed: AtomicU64,
    /// Saved images removed to keep a plate listener's image quota.
    pub images_removed: AtomicU64,
    /// Logins refused unchecked because of earlier failures (backoff).
    pub logins_throttled: AtomicU64,
}

#[derive(Default)]
pub struct PluginMetrics {
    pub name: String,
    pub calls: AtomicU64,
    /// The component answered with an error of its own.
    pub errors: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub memory_exceeded: AtomicU64,
    /// Calls refused because every slot was busy.
    pub busy: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    pub latency: Histogram,
    /// Largest linear memory (all memories of one instance) seen so far.
    pub instance_memory_peak: AtomicU64,
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    5.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }
}

impl ClusterMetrics {
    fn render(&self, out: &mut String) {
        let c = self;
        let fields: [(&str, &str, &str, i64); 9] = [
            (
                "wasmgate_cluster_connected",
                "gauge",
                "1 while connected to NATS",
                c.connected.load(Relaxed),
            ),
            (
                "wasmgate_cluster_disconnects_total",
                "counter",
                "Times the NATS connection was lost",
                c.disconnects.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_sent_total",
                "counter",
                "Messages sent to sessions on other hosts",
                c.sent.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_received_total",
                "counter",
                "Messages from other hosts queued here",
                c.received.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_dropped_total",
                "counter",
                "Messages from other hosts dropped (slow consumer)",
                c.dropped.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_unavailable_total",
                "counter",
                "Operations refused because NATS did not answer",
                c.unavailable.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_reaped_total",
                "counter",
                "Sessions of dead hosts released by this host",
                c.reaped.load(Relaxed) as i64,
            ),
            (
                "wasmgate_cluster_deploys_total",
                "counter",
                "Plugin files taken from the cluster's bucket",
                c.deploys.load(Relaxed) as i64,
            ),
            ("wasmgate_cluster_info", "gauge", "Clustered host", 1),
        ];
        for (name, kind, help, value) in fields {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}

impl Metrics {
    pub fn listener(&self, name: &str, protocol: &str) -> Arc<ListenerMetrics> {
        let m = Arc::new(ListenerMetrics {
            name: name.into(),
            protocol: protocol.into(),
            ..Default::default()
        });
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(m.clone());
        m
    }

    pub fn plugin(&self, name: &str) -> Arc<PluginMetrics> {
        let m = Arc::new(PluginMetrics {
            name: name.into(),
            ..Default::default()
        });
        self.plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(m.clone());
        m
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let plugins = self
            .plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();

        type LField = fn(&ListenerMetrics) -> i64;
        let lfields: [(&str, &str, &str, LField); 8] = [
            (
                "wasmgate_connections_open",
                "gauge",
                "Connections open now",
                |m| m.connections_open.load(Relaxed),
            ),
            (
                "wasmgate_connections_total",
                "counter",
                "Connections accepted",
                |m| m.connections_total.load(Relaxed) as i64,
            ),
            (
                "wasmgate_connections_refused_total",
                "counter",
                "Connections refused at the connection limit",
                |m| m.connections_refused.load(Relaxed) as i64,
            ),
            (
                "wasmgate_messages_in_total",
                "counter",
                "Messages decoded from clients",
                |m| m.messages_in.load(Relaxed) as i64,
            ),
            (
                "wasmgate_messages_out_total",
                "counter",
                "Messages written to clients",
                |m| m.messages_out.load(Relaxed) as i64,
            ),
            (
                "wasmgate_malformed_total",
                "counter",
                "Malformed client messages refused",
                |m| m.malformed.load(Relaxed) as i64,
            ),
            (
                "wasmgate_images_removed_total",
                "counter",
                "Saved images removed, oldest first, to keep the image quota",
                |m| m.images_removed.load(Relaxed) as i64,
            ),
            (
                "wasmgate_logins_throttled_total",
                "counter",
                "Logins (and chat registrations) refused unchecked: backoff after failures, registration rate",
                |m| m.logins_throttled.load(Relaxed) as i64,
            ),
        ];
        for (name, kind, help, get) in lfields {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for m in &listeners {
                let _ = writeln!(
                    out,
                    "{name}{{listener=\"{}\",protocol=\"{}\"}} {}",
                    m.name,
                    m.protocol,
                    get(m)
                );
            }
        }

        type PField = fn(&PluginMetrics) -> u64;
        let pfields: [(&str, &str, PField); 8] = [
            (
                "wasmgate_plugin_calls_total",
                "Calls into the component",
                |m| m.calls.load(Relaxed),
            ),
            (
                "wasmgate_plugin_errors_total",
                "Calls the component answered with an error",
                |m| m.errors.load(Relaxed),
            ),
            (
                "wasmgate_plugin_traps_total",
                "Calls that trapped (instance discarded)",
                |m| m.traps.load(Relaxed),
            ),
            (
                "wasmgate_plugin_timeouts_total",
                "Calls past their deadline (instance discarded)",
                |m| m.timeouts.load(Relaxed),
            ),
            (
                "wasmgate_plugin_memory_exceeded_total",
                "Calls that hit the memory cap (instance discarded)",
                |m| m.memory_exceeded.load(Relaxed),
            ),
            (
                "wasmgate_plugin_busy_total",
                "Calls refused because every slot was busy",
                |m| m.busy.load(Relaxed),
            ),
            (
                "wasmgate_plugin_reloads_total",
                "Successful (re)loads of the component",
                |m| m.reloads.load(Relaxed),
            ),
            (
                "wasmgate_plugin_reload_failures_total",
                "Loads refused (compile error, wrong world)",
                |m| m.reload_failures.load(Relaxed),
            ),
        ];
        for (name, help, get) in pfields {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for m in &plugins {
                let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", m.name, get(m));
            }
        }

        if self.cluster.clustered.load(Relaxed) {
            self.cluster.render(&mut out);
        }

        let name = "wasmgate_plugin_instance_memory_peak_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Largest linear memory of one instance of the component so far\n# TYPE {name} gauge"
        );
        for m in &plugins {
            let peak = m.instance_memory_peak.load(Relaxed);
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {peak}", m.name);
        }

        let name = "wasmgate_plugin_call_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Latency of calls into the component\n# TYPE {name} histogram"
        );
        for m in &plugins {
            let h = &m.latency;
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{plugin=\"{}\",le=\"{bound}\"}} {cumulative}",
                    m.name
                );
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{plugin=\"{}\",le=\"+Inf\"}} {count}",
                m.name
            );
            let _ = writeln!(
                out,
                "{name}_sum{{plugin=\"{}\"}} {}",
                m.name,
                h.sum_ns.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(out, "{name}_count{{plugin=\"{}\"}} {count}", m.name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        let l = m.listener("locker", "locker");
        l.messages_in.fetch_add(3, Relaxed);
        let p = m.plugin("locker");
        p.latency.observe(Duration::from_micros(30));
        p.latency.observe(Duration::from_millis(3));
        p.latency.observe(Duration::from_secs(60));
        let text = m.render();
        assert!(
            text.contains("wasmgate_messages_in_total{listener=\"locker\",protocol=\"locker\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "wasmgate_plugin_call_seconds_bucket{plugin=\"locker\",le=\"0.00005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("wasmgate_plugin_call_seconds_bucket{plugin=\"locker\",le=\"0.005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("wasmgate_plugin_call_seconds_bucket{plugin=\"locker\",le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("wasmgate_plugin_call_seconds_count{plugin=\"locker\"} 3"),
            "{text}"
        );
    }
}
