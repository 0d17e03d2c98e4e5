//! The admin API's GET /metrics, parsed.

use std::collections::HashMap;

/// Prometheus samples: `name{labels}` (exactly as the host writes them) →
/// value.
#[derive(Debug, Default, Clone)]
pub struct Metrics(pub HashMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    Some((k.to_string(), v.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sample `key` (`name{labels}`), 0 if absent.
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// The sample `name{plugin="PLUGIN"}`, 0 if absent.
    pub fn plugin(&self, name: &str, plugin: &str) -> f64 {
        self.get(&format!("{name}{{plugin=\"{plugin}\"}}"))
    }

    /// Samples of a plugin whose name mentions memory in bytes (an
    /// instance-memory gauge, if the host has one), sorted by key.
    pub fn plugin_memory(&self, plugin: &str) -> Vec<(String, f64)> {
        let label = format!("plugin=\"{plugin}\"");
        let mut v: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| {
                k.starts_with("wasmgate_")
                    && k.contains("memory")
                    && k.contains("bytes")
                    && k.contains(&label)
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_and_skips_comments() {
        let m = Metrics::parse(
            "# HELP wasmgate_x x\n# TYPE wasmgate_x counter\nwasmgate_x{plugin=\"a\",k=\"v w\"} 3\nwasmgate_up 1.5\nbroken\n",
        );
        assert_eq!(m.get("wasmgate_x{plugin=\"a\",k=\"v w\"}"), 3.0);
        assert_eq!(m.get("wasmgate_up"), 1.5);
        assert_eq!(m.get("wasmgate_absent"), 0.0);
        assert_eq!(m.0.len(), 2);
    }

    #[test]
    fn plugin_memory_picks_byte_gauges_of_the_plugin() {
        let m = Metrics::parse(
            "wasmgate_instance_memory_bytes{plugin=\"a\"} 10\nwasmgate_instance_memory_bytes{plugin=\"b\"} 20\nwasmgate_calls_total{plugin=\"a\"} 5\n",
        );
        assert_eq!(
            m.plugin_memory("a"),
            vec![(
                "wasmgate_instance_memory_bytes{plugin=\"a\"}".to_string(),
                10.0
            )]
        );
        assert_eq!(m.plugin("wasmgate_calls_total", "a"), 5.0);
    }
}
