//! The plugin runtime through the real binary: hot reload without dropping a
//! connection, refused reloads, faulty components (trap, endless loop,
//! unbounded allocation), `wasmgate check`, and the admin API (with and
//! without its token).

mod common;

use std::process::Command;

use common::{Host, LineClient, WAIT, built};

const REPORT: &str = "ACon_V1.0\r\nID=1\r\nSEND=1\r\nCOLS=2\r\nROWS=2\r\nCLOSE\r\n";

fn answer(c: &mut LineClient, msg: &str) -> String {
    c.send(msg.as_bytes());
    c.read_until(|l| l == "CLOSE" || l.starts_with("ERROR:"))
}

const VARIANT_MARK: &str = "BOX_ENG=(1,424242,1)";

#[test]
fn hot_reload_keeps_the_connection_and_refuses_bad_files() {
    let host = Host::start(
        r#"
        [plugins.locker]
        world = "locker"
        [[listener]]
        name = "locker"
        protocol = "locker"
        listen = "127.0.0.1:0"
        plugin = "locker"
        "#,
        &[("locker.wasm", "locker.wasm")],
    );
    let first = host.plugin_info("locker");
    assert_eq!(first["loaded"], true, "{first}");
    assert_eq!(first["world"], "locker");

    let mut dev = LineClient::connect(host.addr("locker"));
    let got = answer(&mut dev, REPORT);
    assert!(!got.contains(VARIANT_MARK), "{got}");

    // A build with different behaviour is renamed over the file: the next
    // answer on the same connection follows it.
    let variant = std::fs::read(built("locker_variant.wasm")).unwrap();
    host.replace_plugin("locker.wasm", &variant);
    let swapped = host.wait_plugin("locker", "swap to the variant", |p| {
        p["sha256"] != first["sha256"]
    });
    assert_eq!(swapped["generation"], 2);
    let got = answer(&mut dev, REPORT);
    assert!(
        got.contains(VARIANT_MARK) && got.contains("STATE=3"),
        "{got}"
    );

    // A corrupt file, written in place: refused, reported, the variant keeps serving.
    std::fs::write(
        host.plugin_dir().join("locker.wasm"),
        b"\0asm garbage that is not a component",
    )
    .unwrap();
    let failed = host.wait_plugin("locker", "report the corrupt file", |p| {
        p["last_reload_error"].is_string()
    });
    assert_eq!(failed["sha256"], swapped["sha256"], "{failed}");
    assert!(answer(&mut dev, REPORT).contains(VARIANT_MARK));

    // A valid component of another world: refused with the reason.
    host.replace_plugin(
        "locker.wasm",
        &std::fs::read(built("echo_raw.wasm")).unwrap(),
    );
    let failed = host.wait_plugin("locker", "refuse the wrong world", |p| {
        p["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("world"))
    });
    assert_eq!(failed["sha256"], swapped["sha256"], "{failed}");
    assert!(answer(&mut dev, REPORT).contains(VARIANT_MARK));
    assert!(host.metric("wasmgate_plugin_reload_failures_total{plugin=\"locker\"}") >= 2.0);

    // The original comes back, written in place this time (truncate + write).
    std::fs::write(
        host.plugin_dir().join("locker.wasm"),
        std::fs::read(built("locker.wasm")).unwrap(),
    )
    .unwrap();
    host.wait_plugin("locker", "swap back", |p| {
        p["sha256"] == first["sha256"] && p["last_reload_error"].is_null()
    });
    assert!(!answer(&mut dev, REPORT).contains(VARIANT_MARK));
    host.wait_metric("wasmgate_plugin_reloads_total{plugin=\"locker\"}", 3.0);

    // Reload through the admin API: the file did not change, so nothing is swapped.
    let (status, text) = host.post("/plugins/locker/reload", "");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("unchanged"), "{text}");

    // Reloading a file that is now broken answers 422 with the reason.
    std::fs::write(host.plugin_dir().join("locker.wasm"), b"junk").unwrap();
    let (status, text) = host.post("/plugins/locker/reload", "");
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("component"), "{text}");
    let (status, _) = host.post("/plugins/nosuch/reload", "");
    assert_eq!(status, 404);
}

#[test]
fn faulty_components_get_errors_and_the_host_serves_on() {
    let mut body = String::from(
        r#"
        [plugins.locker]
        world = "locker"
        [[listener]]
        name = "good"
        protocol = "locker"
        listen = "127.0.0.1:0"
        plugin = "locker"
        "#,
    );
    for mode in ["trap", "loop", "alloc"] {
        body += &format!(
            r#"
            [plugins.{mode}]
            world = "locker"
            file = "locker_variant.wasm"
            deadline_ms = 300
            memory_mb = 32
            config = {{ mode = "{mode}" }}
            [[listener]]
            name = "{mode}"
            protocol = "locker"
            listen = "127.0.0.1:0"
            plugin = "{mode}"
            "#
        );
    }
    let host = Host::start(
        &body,
        &[
            ("locker.wasm", "locker.wasm"),
            ("locker_variant.wasm", "locker_variant.wasm"),
        ],
    );
    let mut good = LineClient::connect(host.addr("good"));
    for (mode, says, counter) in [
        ("trap", "trapped", "wasmgate_plugin_traps_total"),
        ("loop", "deadline", "wasmgate_plugin_timeouts_total"),
        ("alloc", "memory", "wasmgate_plugin_memory_exceeded_total"),
    ] {
        let mut dev = LineClient::connect(host.addr(mode));
        for _ in 0..2 {
            // Twice: the failed instance was replaced and fails the same way,
            // on the same open connection.
            let got = answer(&mut dev, REPORT);
            assert!(
                got.starts_with("ERROR: ") && got.contains(says),
                "{mode}: {got}"
            );
            assert!(
                answer(&mut good, REPORT).starts_with("ACon_V1.0\nID=1\n"),
                "the good listener still serves"
            );
        }
        assert_eq!(
            host.metric(&format!("{counter}{{plugin=\"{mode}\"}}")),
            2.0,
            "{mode}"
        );
    }
}

#[test]
fn check_command_says_whether_a_file_implements_a_world() {
    let check = |file: &str, world: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .args(["check", built(file).to_str().unwrap(), "--world", world])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = check("locker.wasm", "locker");
    assert!(ok, "{text}");
    let (ok, text) = check("echo_raw.wasm", "raw");
    assert!(ok, "{text}");
    let (ok, text) = check("echo_raw.wasm", "locker");
    assert!(!ok && text.contains("locker-handler"), "{text}");
    let (ok, text) = check("locker.wasm", "nosuchworld");
    assert!(!ok && text.contains("unknown world"), "{text}");
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not wasm").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(["check", junk.path().to_str().unwrap(), "--world", "locker"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("not a valid WebAssembly component"));
}

#[test]
fn health_metrics_and_a_missing_plugin() {
    let host = Host::start(
        r#"
        [plugins.locker]
        world = "locker"
        [plugins.absent]
        world = "locker"
        [[listener]]
        name = "absent"
        protocol = "locker"
        listen = "127.0.0.1:0"
        plugin = "absent"
        "#,
        &[("locker.wasm", "locker.wasm")],
    );
    // A plugin whose file is missing: the host starts, says so, and the
    // listener answers with the protocol's error.
    let (status, text) = host.get("/health");
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("degraded"));
    let mut dev = LineClient::connect(host.addr("absent"));
    let got = answer(&mut dev, REPORT);
    assert!(
        got.starts_with("ERROR: ") && got.contains("not loaded"),
        "{got}"
    );
    assert!(host.plugin_info("absent")["last_reload_error"].is_string());

    // The file appears: the watcher loads it and the same connection is served.
    std::fs::copy(built("locker.wasm"), host.plugin_dir().join(".tmp")).unwrap();
    std::fs::rename(
        host.plugin_dir().join(".tmp"),
        host.plugin_dir().join("absent.wasm"),
    )
    .unwrap();
    host.wait_plugin("absent", "load", |p| p["loaded"] == true);
    assert!(answer(&mut dev, REPORT).starts_with("ACon_V1.0\n"));
    let (status, _) = host.get("/health");
    assert_eq!(status, 200);

    host.wait_metric(
        "wasmgate_messages_out_total{listener=\"absent\",protocol=\"locker\"}",
        2.0,
    );
    let (status, metrics) = host.get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "wasmgate_connections_open{listener=\"absent\",protocol=\"locker\"} 1",
        "wasmgate_messages_in_total{listener=\"absent\",protocol=\"locker\"} 2",
        "wasmgate_plugin_calls_total{plugin=\"absent\"}",
        "wasmgate_plugin_call_seconds_bucket{plugin=\"absent\",le=\"+Inf\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[test]
fn a_saturated_plugin_answers_busy_at_once() {
    // One slot, no queue: while a call runs (this one loops until its
    // deadline), another message is refused with the busy answer.
    let host = Host::start(
        r#"
        [plugins.slow]
        world = "locker"
        file = "locker_variant.wasm"
        deadline_ms = 1500
        max_concurrency = 1
        queue_timeout_ms = 0
        config = { mode = "loop" }
        [[listener]]
        name = "slow"
        protocol = "locker"
        listen = "127.0.0.1:0"
        plugin = "slow"
        "#,
        &[("locker_variant.wasm", "locker_variant.wasm")],
    );
    let mut first = LineClient::connect(host.addr("slow"));
    let mut second = LineClient::connect(host.addr("slow"));
    first.send(REPORT.as_bytes());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got = answer(&mut second, REPORT);
    assert!(got.starts_with("ERROR: busy"), "{got}");
    let got = first.read_until(|l| l.starts_with("ERROR:"));
    assert!(got.contains("deadline"), "{got}");
    assert_eq!(
        host.metric("wasmgate_plugin_busy_total{plugin=\"slow\"}"),
        1.0
    );
}

/// With a token (from the file, or from `WASMGATE_ADMIN_TOKEN`, which wins),
/// every admin request but the health probe needs `Authorization: Bearer`.
#[test]
fn the_admin_token_guards_all_but_health() {
    let body = r#"
        [plugins.locker]
        world = "locker"
        "#;
    let plugins = [("locker.wasm", "locker.wasm")];
    let from_file = Host::start_custom(body, &plugins, "token = \"file-secret\"", &[], WAIT);
    let from_env = Host::start_custom(
        body,
        &plugins,
        "token = \"file-secret\"",
        &[("WASMGATE_ADMIN_TOKEN", "env-secret")],
        WAIT,
    );
    for (host, secret, other) in [
        (&from_file, "file-secret", "env-secret"),
        (&from_env, "env-secret", "file-secret"),
    ] {
        let call = |method: &str, path: &str, auth: Option<&str>, body: &str| {
            let header = auth.map(|a| format!("Bearer {a}"));
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| vec![("Authorization", h)])
                .unwrap_or_default();
            host.request_with(method, path, &headers, body).unwrap()
        };
        // the probe stays open
        assert_eq!(call("GET", "/health", None, "").0, 200);
        for (method, path, body) in [
            ("GET", "/metrics", ""),
            ("GET", "/plugins", ""),
            ("POST", "/plugins/locker/reload", ""),
            ("POST", "/admin/locker", r#"{"op":"status","device":"5"}"#),
        ] {
            for auth in [None, Some(other), Some("")] {
                let (status, text) = call(method, path, auth, body);
                assert_eq!(status, 401, "{method} {path} with {auth:?}: {text}");
                assert!(text.contains("Bearer"), "{text}");
            }
        }
        let (status, text) = call("GET", "/plugins", Some(secret), "");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"locker\""), "{text}");
        let (status, text) = call("GET", "/metrics", Some(secret), "");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("wasmgate_"), "{text}");
        let (status, text) = call("POST", "/plugins/locker/reload", Some(secret), "");
        assert_eq!(status, 200, "{text}");
        let (status, text) = call(
            "POST",
            "/admin/locker",
            Some(secret),
            r#"{"op":"status","device":"5"}"#,
        );
        // through to the component, which knows no such device
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("unknown device"), "{text}");
        assert!(host.log().contains("without a valid token refused"));
        assert!(!host.log().contains(secret), "the secret is in the log");
    }
}
