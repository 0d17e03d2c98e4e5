//! Smoke test of `wasmgate-bench`: each scenario runs for a second or two
//! against the real host on loopback, with both backends, and must finish
//! with every request answered (no errors, no lost messages, no dropped
//! connections). Timings are never asserted: speed is for BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the bench with `args`; the JSON report.
fn bench(args: &[&str]) -> Value {
    for file in [
        "target/plugins/locker.wasm",
        "target/test-plugins/locker_variant.wasm",
    ] {
        assert!(
            root().join(file).exists(),
            "{file} is not built: run scripts/build-plugins (scripts/test does)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmgate-bench"))
        .args(args)
        .arg("--wasmgate")
        .arg(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("--json")
        .arg(&json)
        .args(["--timeout", "30"])
        .output()
        .expect("starting wasmgate-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wasmgate-bench {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no report ({e}):\n{stdout}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    println!("{stdout}");
    v
}

fn row<'a>(report: &'a Value, scenario: &str, backend: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == scenario && r["backend"] == backend)
        .unwrap_or_else(|| panic!("no row {scenario}/{backend}: {report:#}"))
}

/// The run happened, answered something, and lost nothing.
fn clean(report: &Value, scenario: &str, backend: &str) -> Value {
    let r = row(report, scenario, backend);
    assert!(
        r.get("skipped").is_none(),
        "{scenario}/{backend} skipped: {r:#}"
    );
    assert!(
        r["requests"].as_u64().unwrap() > 0,
        "{scenario}/{backend} answered nothing: {r:#}"
    );
    for k in ["errors", "lost", "dropped", "connect_failures"] {
        assert_eq!(r[k], 0, "{scenario}/{backend}: {k}: {r:#}");
    }
    r.clone()
}

#[test]
fn every_protocol_with_both_backends_loses_nothing() {
    let photo = root().join("tests/data/plate-浙C58306.jpg");
    let report = bench(&[
        "locker",
        "chat",
        "exec",
        "smarthome",
        "plate",
        "--duration",
        "1",
        "--clients",
        "6",
        "--photo",
        photo.to_str().unwrap(),
    ]);
    for scenario in ["locker", "chat", "exec", "smarthome", "plate"] {
        for backend in ["wasm", "native"] {
            clean(&report, scenario, backend);
        }
        assert!(
            report["ratios"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["scenario"] == scenario && q["of"] == "wasm" && q["to"] == "native"),
            "no WASM/native ratio for {scenario}: {report:#}"
        );
    }
}

#[test]
fn hot_swap_under_load_loses_nothing() {
    let report = bench(&[
        "hotswap",
        "--swaps",
        "6",
        "--swap-rate",
        "200",
        "--swap-clients",
        "4",
    ]);
    let r = clean(&report, "hotswap", "wasm");
    assert_eq!(r["extra"]["swaps_answered"], 6, "{r:#}");
    assert_eq!(r["extra"]["reload_failures"], 0.0, "{r:#}");
    assert_eq!(r["extra"]["generation"], 7, "{r:#}");
}

#[test]
fn idle_connections_are_held_and_languages_run() {
    let report = bench(&[
        "connections",
        "languages",
        "--connections",
        "300",
        "--conn-workers",
        "2",
        "--duration",
        "1",
        "--clients",
        "4",
    ]);
    let r = row(&report, "connections", "wasm");
    assert!(r.get("skipped").is_none(), "{r:#}");
    assert_eq!(r["extra"]["opened_by_clients"], 300, "{r:#}");
    assert_eq!(r["extra"]["open_in_host"], 300.0, "{r:#}");
    assert_eq!(r["connect_failures"], 0, "{r:#}");
    clean(&report, "lang-locker", "rust-wasm");
    clean(&report, "lang-locker", "native");
    clean(&report, "lang-chat", "rust-wasm");
    clean(&report, "lang-chat", "native");
    // Python and JavaScript run where their components are built.
    for (scenario, backend, file) in [
        ("lang-locker", "python-wasm", "locker_py.wasm"),
        ("lang-chat", "js-wasm", "chat_js.wasm"),
    ] {
        if root().join("target/plugins").join(file).exists() {
            clean(&report, scenario, backend);
        }
    }
}

/// The cluster scenario (a NATS server, two and three hosts): every row
/// answers, and nothing a surviving host acknowledged is lost across the
/// kill of another.
#[test]
fn the_cluster_scenario_loses_nothing_acknowledged() {
    let report = bench(&["cluster", "--duration", "2", "--clients", "12"]);
    for (scenario, layout) in [
        ("cluster-chat", "one-host"),
        ("cluster-chat", "two-hosts"),
        ("cluster-exec", "one-host"),
        ("cluster-exec", "two-hosts"),
        ("cluster-chat", "host-kill"),
    ] {
        clean(&report, scenario, layout);
    }
    assert!(
        row(&report, "cluster-chat", "two-hosts")["extra"]["sent_to_other_host"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{report:#}"
    );
}

/// The soak scenario, shortened: every protocol at once with hot swaps
/// and hostile clients; every legitimate request answered, every hostile
/// client refused or closed, a sample per interval.
#[test]
fn the_soak_scenario_serves_everyone_through_swaps_and_attacks() {
    let report = bench(&[
        "soak",
        "--soak-seconds",
        "18",
        "--soak-interval",
        "6",
        "--soak-swap-every",
        "4",
    ]);
    let r = clean(&report, "soak", "wasm");
    let x = &r["extra"];
    for proto in ["locker", "chat", "exec", "smarthome", "plate"] {
        assert!(x[proto]["requests"].as_u64().unwrap() > 0, "{proto}: {r:#}");
    }
    assert!(x["samples"].as_array().unwrap().len() >= 3, "{r:#}");
    assert!(x["swaps"].as_u64().unwrap() >= 3, "{r:#}");
    // Each swap is a new generation (the first load is generation 1).
    assert!(x["locker_generation"].as_u64().unwrap() >= 3, "{r:#}");
    for kind in ["drip", "bomb", "guess", "garbage"] {
        let h = &x[format!("hostile_{kind}")];
        assert!(h["refused"].as_u64().unwrap() > 0, "{kind}: {r:#}");
    }
}
