//! Hot swap under load: locker devices report at a steady rate while the
//! plugin file is replaced `swaps` times, alternating the real locker and
//! the test variant (whose answers carry cell code 424242, so each answer
//! shows which version made it). Every write also gets a custom section
//! with a counter, so each file is new to the host (another SHA-256, a
//! fresh compile: what a real deployment costs). For each swap the time
//! from the rename to the first answer of the new version is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use wasmgate_testkit::Setup;

use crate::locker::{self, SwapWatch};
use crate::report::{Row, round};
use crate::stats::Stats;
use crate::{Load, backend_body, blocking};

/// A component (or core module) with a custom section appended: id 0,
/// size, name, payload. Custom sections may sit anywhere in a component,
/// and the runtime ignores them.
pub fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    leb128(&mut content, name.len() as u64);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb128(&mut out, content.len() as u64);
    out.extend_from_slice(&content);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

pub struct SwapOpts {
    pub swaps: u32,
    /// Pause after the new version answered, before the next write.
    pub gap: Duration,
}

pub async fn run(setup: &Setup, load: &Load, o: &SwapOpts) -> Row {
    let mut row = Row::new("hotswap", "wasm", load.clients);
    match run_inner(setup, load, o, &mut row).await {
        Ok(()) => row,
        Err(e) => Row::skipped("hotswap", "wasm", format!("{e:#}")),
    }
}

async fn run_inner(setup: &Setup, load: &Load, o: &SwapOpts, row: &mut Row) -> anyhow::Result<()> {
    let real_path = setup
        .component("locker.wasm")
        .ok_or_else(|| anyhow::anyhow!("locker.wasm not found (scripts/build-plugins)"))?;
    let variant_path = setup
        .component("locker_variant.wasm")
        .ok_or_else(|| anyhow::anyhow!("locker_variant.wasm not found (scripts/build-plugins)"))?;
    let real = std::fs::read(&real_path)?;
    let variant = std::fs::read(&variant_path)?;
    let body = backend_body(locker::CONFIG, None, "wasm");
    let host = blocking(|| setup.start("hotswap", &body, &[(real_path, "locker.wasm")]))?;
    let addr = host.addr("locker")?;
    let mut stats = Stats::default();
    let devices = locker::connect_all(addr, load.clients, &mut stats).await;
    let watch = Arc::new(SwapWatch::default());
    let stop = CancellationToken::new();
    let long = Load {
        duration: Duration::from_secs(24 * 3600),
        ..load.clone()
    };
    let runner = {
        let watch = watch.clone();
        let stop = stop.clone();
        tokio::spawn(async move { locker::run(devices, &long, Some(watch), stop).await })
    };
    // Let the load settle before the first swap.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut times: Vec<Duration> = Vec::new();
    let mut unobserved = 0u32;
    let mut write_failures = 0u32;
    for k in 1..=o.swaps {
        let want_variant = k % 2 == 1;
        let base = if want_variant { &variant } else { &real };
        let bytes = with_custom_section(base, "wasmgate-bench", format!("swap {k}").as_bytes());
        watch.arm(want_variant);
        if blocking(|| host.replace_plugin("locker.wasm", &bytes)).is_err() {
            write_failures += 1;
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(d) = watch.seen() {
                times.push(d);
                break;
            }
            if Instant::now() > deadline || runner.is_finished() {
                unobserved += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if runner.is_finished() {
            break;
        }
        tokio::time::sleep(o.gap).await;
    }
    let swapping = started.elapsed();
    // Keep the load on a little after the last swap, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let (s, elapsed) = runner.await?;
    stats.merge(s);
    let info = blocking(|| host.plugin_info("locker"))?;
    let m = blocking(|| host.metrics())?;
    row.fill(stats, elapsed, host.mem()?);
    times.sort();
    let ms = |d: Duration| round(d.as_secs_f64() * 1000.0);
    let pick = |p: f64| {
        times
            .get(((times.len() as f64 * p).ceil() as usize).clamp(1, times.len().max(1)) - 1)
            .map(|d| ms(*d))
            .unwrap_or(0.0)
    };
    row.set("swaps", o.swaps);
    row.set("swaps_answered", times.len() as u64);
    row.set("swaps_unobserved", unobserved);
    row.set("write_failures", write_failures);
    row.set("swap_to_answer_p50_ms", pick(0.5));
    row.set("swap_to_answer_p99_ms", pick(0.99));
    row.set(
        "swap_to_answer_max_ms",
        times.last().map(|d| ms(*d)).unwrap_or(0.0),
    );
    row.set("swapping_s", round(swapping.as_secs_f64()));
    row.set("generation", info["generation"].clone());
    row.set(
        "reloads",
        m.plugin("wasmgate_plugin_reloads_total", "locker"),
    );
    row.set(
        "reload_failures",
        m.plugin("wasmgate_plugin_reload_failures_total", "locker"),
    );
    row.set("debounce_ms", setup.reload_debounce_ms);
    row.set("rate", load.rate);
    if unobserved > 0 || write_failures > 0 {
        row.errors += (unobserved + write_failures) as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_and_section() {
        let mut v = Vec::new();
        leb128(&mut v, 624485);
        assert_eq!(v, [0xE5, 0x8E, 0x26]);
        let s = with_custom_section(b"", "ab", b"xyz");
        assert_eq!(s, [0, 6, 2, b'a', b'b', b'x', b'y', b'z']);
    }
}
