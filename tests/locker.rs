//! The locker ("ACon") protocol end to end: the real binary, the real
//! locker component, a device on a real TCP socket, operators on the admin API.
//!
//! Every test runs once per implementation of the policy ([`RUST`],
//! [`PYTHON`]; `variant_tests!` at the end), and a live swap from one to the
//! other must keep every device's state and connection.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};

use common::locker::{answer, exchange, report};
use common::{Host, LineClient, Variant, WAIT};
use serde_json::json;

/// plugins/locker (Rust).
const RUST: Variant = Variant {
    label: "rust",
    world: "locker",
    file: Some("locker.wasm"),
    table: "",
};

/// plugins/locker-py (Python, componentize-py).
const PYTHON: Variant = Variant {
    label: "python",
    world: "locker",
    file: Some("locker_py.wasm"),
    table: "",
};

/// The Rust logic compiled into the host (`backend = "native"`).
const NATIVE: Variant = Variant {
    label: "native",
    world: "locker",
    file: None,
    table: "backend = \"native\"",
};

variant_tests!(rust => RUST, python => PYTHON, native => NATIVE; [
    spec_sample_gets_the_exact_answer,
    split_byte_by_byte_and_two_in_one_write,
    ten_parallel_devices,
    ten_original_boards_each_read_their_answer_in_one_recv,
    malformed_and_oversize_get_error_and_connection_lives,
    operator_codes_expiry_box_to_block_and_reset,
    admin_errors_are_4xx_json,
    admin_error_messages_are_word_for_word,
    state_survives_kill_9,
    graceful_shutdown_on_sigterm,
]);

fn config(v: &Variant) -> String {
    format!(
        r#"
[plugins.locker]
world = "locker"
{}
{LISTENER}"#,
        v.table
    )
}

const LISTENER: &str = r#"
[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"
max_message_bytes = 2048
"#;

/// The spec's sample message, byte for byte as the original device sends it:
/// CRLF line ends, no newline after CLOSE.
const SPEC_SAMPLE: &str = "ACon_V1.0\r\nID=1953\r\nSEND=141349\r\nCONNECTION=1\r\nWIFI_STATE=0\r\nGSM_STATE=0\r\nRESET=1\r\nSTATE=0\r\nCOLS=8\r\nROWS=8\r\nACT_CON=01011011,11111111,10110111,11111111,10011111,11111111,10110111,11111111\r\nBOX_ENG=2,5,8,23,24,25\r\nBOX_TO=33,34\r\nBOX_ACC=1,54,43\r\nCLOSE";

fn start(v: &Variant) -> Host {
    v.start(&config(v), "locker")
}

fn spec_sample_gets_the_exact_answer(v: &Variant) {
    let host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    let got = exchange(&mut dev, SPEC_SAMPLE);
    assert_eq!(
        got,
        "ACon_V1.0\nID=1953\nSEND=141349\nRESET=0\nSTATE=0\nCLOSE\n"
    );
    // The connection stays open for the next report; SEND is echoed.
    let got = exchange(&mut dev, &SPEC_SAMPLE.replace("SEND=141349", "SEND=141350"));
    assert_eq!(
        got,
        "ACon_V1.0\nID=1953\nSEND=141350\nRESET=0\nSTATE=0\nCLOSE\n"
    );
}

fn split_byte_by_byte_and_two_in_one_write(v: &Variant) {
    let host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    for b in SPEC_SAMPLE.as_bytes() {
        dev.send(&[*b]);
    }
    assert!(answer(&mut dev).contains("SEND=141349\n"));

    let two = format!("{}\r\n{}", report("7", 1, &[]), report("7", 2, &[]));
    dev.send(two.as_bytes());
    assert!(answer(&mut dev).contains("ID=7\nSEND=1\n"));
    assert!(answer(&mut dev).contains("ID=7\nSEND=2\n"));

    // LF-only line ends work too.
    let lf = report("7", 3, &[]).replace("\r\n", "\n") + "\n";
    assert!(exchange(&mut dev, &lf).contains("SEND=3\n"));
}

fn ten_parallel_devices(v: &Variant) {
    let host = start(v);
    let addr = host.addr("locker");
    let devices: Vec<_> = (0..10)
        .map(|d| {
            std::thread::spawn(move || {
                let mut dev = LineClient::connect(addr);
                for send in 1..=20u64 {
                    let got = exchange(&mut dev, &report(&format!("dev{d}"), send, &[]));
                    assert!(
                        got.starts_with(&format!("ACon_V1.0\nID=dev{d}\nSEND={send}\n")),
                        "{got}"
                    );
                }
            })
        })
        .collect();
    for d in devices {
        d.join().unwrap();
    }
    host.wait_metric(
        "wasmgate_messages_out_total{listener=\"locker\",protocol=\"locker\"}",
        200.0,
    );
    // Every board is listed once, in id order (the console's board list).
    let boards = host.admin_ok("locker", json!({"op":"boards"}));
    let ids: Vec<&str> = boards["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["device"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..10).map(|d| format!("dev{d}")).collect();
    assert_eq!(ids, want, "{boards}");
}

/// The original board client: ten boards connect at once, each sends its
/// 8 x 8 report (CRLF, no line end after CLOSE) and reads its answer with
/// one `recv(1024)`. Every answer, with the codes of a busy board, must be
/// whole in that one read: it goes out in one write and ends `CLOSE\n`.
fn ten_original_boards_each_read_their_answer_in_one_recv(v: &Variant) {
    let host = start(v);
    let addr = host.addr("locker");
    // Each board makes itself known (8 x 8 cells), then gets 12 codes.
    for d in 0..10 {
        let mut dev = LineClient::connect(addr);
        exchange(
            &mut dev,
            &SPEC_SAMPLE.replace("ID=1953", &format!("ID=board{d}")),
        );
        for cell in 1..=12 {
            host.admin_ok(
                "locker",
                json!({"op":"assign","device":format!("board{d}"),"cell":cell,
                       "code":format!("{:06}", 100_000 + cell),"minutes":4800}),
            );
        }
    }
    let all_connected = Arc::new(Barrier::new(10));
    let boards: Vec<_> = (0..10)
        .map(|d| {
            let all_connected = all_connected.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(WAIT)).unwrap();
                all_connected.wait();
                let report = SPEC_SAMPLE
                    .replace("ID=1953", &format!("ID=board{d}"))
                    .replace("BOX_TO=33,34\r\n", "");
                s.write_all(report.as_bytes()).unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                String::from_utf8(buf[..n].to_vec()).unwrap()
            })
        })
        .collect();
    for (d, board) in boards.into_iter().enumerate() {
        let got = board.join().unwrap();
        assert!(
            got.starts_with(&format!("ACon_V1.0\nID=board{d}\nSEND=141349\n")),
            "{got}"
        );
        assert!(got.ends_with("\nCLOSE\n"), "not whole in one read: {got:?}");
        assert_eq!(got.matches("BOX_ENG=(").count(), 12, "{got}");
    }
}

/// What a technician types into a terminal on site, as the original server
/// answered it: the connection's two addresses, and exit/quit.
#[test]
fn technician_commands_answer_addresses_and_exit_closes() {
    let host = start(&RUST);
    let addr = host.addr("locker");
    for (command, closes) in [("exit\r\n", "exit"), ("quit", "quit")] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let want = format!(
            "('127.0.0.1', {})=>('127.0.0.1', {})\r\n",
            s.local_addr().unwrap().port(),
            addr.port()
        );
        for ask in ["ip\r\n", "server\n", "client\r\n", "info"] {
            s.write_all(ask.as_bytes()).unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert_eq!(String::from_utf8_lossy(&buf[..n]), want, "{ask:?}");
        }
        // A board's report on the same connection is still answered.
        let mut dev = LineClient::on(s.try_clone().unwrap());
        assert!(exchange(&mut dev, &report("tech", 1, &[])).contains("ID=tech\n"));
        s.write_all(command.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "{closes} closes the connection"
        );
    }
}

fn malformed_and_oversize_get_error_and_connection_lives(v: &Variant) {
    let host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    let bad = [
        ("ACon_V1.0\r\nSEND=1\r\nCLOSE\r\n".to_string(), "ID"),
        ("ACon_V1.0\r\nID=5\r\nCLOSE\r\n".to_string(), "SEND"),
        (
            "ACon_V1.0\r\nID=5\r\nSEND=12x\r\nCLOSE\r\n".to_string(),
            "SEND",
        ),
        (report("5", 1, &["ACT_CON=1111"]), "ACT_CON"),
        ("HELLO\r\n".to_string(), "ACon_V1.0"),
    ];
    for (msg, mentions) in bad {
        let got = exchange(&mut dev, &msg);
        assert!(
            got.starts_with("ERROR: ") && got.contains(mentions),
            "{msg:?} -> {got:?}"
        );
        assert!(exchange(&mut dev, &report("5", 2, &[])).contains("ID=5\nSEND=2\n"));
    }
    // Larger than max_message_bytes (2048): one ERROR, then the next message works.
    let huge = report("5", 3, &[&format!("BOX_ACC={}", vec!["1"; 2000].join(","))]);
    let got = exchange(&mut dev, &huge);
    assert!(
        got.starts_with("ERROR: ") && got.contains("exceeds"),
        "{got}"
    );
    assert!(exchange(&mut dev, &report("5", 4, &[])).contains("SEND=4\n"));

    // Nothing of the malformed reports was stored: device 5's status shows
    // only good reports, and no history from the oversize BOX_ACC.
    let status = host.admin_ok("locker", json!({"op": "status", "device": "5"}));
    assert_eq!(status["history"], json!([]), "{status}");
}

fn operator_codes_expiry_box_to_block_and_reset(v: &Variant) {
    let host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    exchange(&mut dev, &report("42", 1, &[])); // the device makes itself known (4x2 cells)

    // Assign → the next answer carries it with its minutes.
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"42","cell":3,"code":"1492","minutes":4800}),
    );
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"42","cell":5,"code":"77","minutes":2}),
    );
    let got = exchange(&mut dev, &report("42", 2, &[]));
    assert_eq!(
        got,
        "ACon_V1.0\nID=42\nSEND=2\nRESET=0\nSTATE=0\nBOX_ENG=(3,1492,4800)\nBOX_ENG=(5,77,2)\nCLOSE\n"
    );

    // Outside COLS×ROWS (8 cells) → refused with a clear error.
    let (status, text) = host.post(
        "/admin/locker",
        &json!({"op":"assign","device":"42","cell":9,"code":"1","minutes":1}).to_string(),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("error"), "{text}");

    // The device reports cell 5 expired (BOX_TO) → cleared; cell 3 opened (BOX_ACC) → history.
    let got = exchange(&mut dev, &report("42", 3, &["BOX_TO=5", "BOX_ACC=3"]));
    assert!(
        got.contains("BOX_ENG=(3,1492,4800)") && !got.contains("BOX_ENG=(5,"),
        "{got}"
    );
    let status = host.admin_ok("locker", json!({"op":"status","device":"42"}));
    assert_eq!(status["history"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["history"][0]["cell"], 3);
    assert_eq!(status["cols"], 4);
    assert_eq!(status["connected_locks"], 7);

    // A code past its time disappears by itself.
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"42","cell":6,"code":"55","seconds":1}),
    );
    let got = exchange(&mut dev, &report("42", 4, &[]));
    assert!(got.contains("BOX_ENG=(6,55,1)"), "{got}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let got = exchange(&mut dev, &report("42", 5, &[]));
    assert!(!got.contains("BOX_ENG=(6,"), "{got}");

    // Revoke.
    host.admin_ok("locker", json!({"op":"revoke","device":"42","cell":3}));
    let got = exchange(&mut dev, &report("42", 6, &[]));
    assert!(!got.contains("BOX_ENG="), "{got}");

    // Block: STATE=3 in every answer until unblocked.
    host.admin_ok("locker", json!({"op":"block","device":"42"}));
    assert!(exchange(&mut dev, &report("42", 7, &[])).contains("STATE=3\n"));
    assert!(exchange(&mut dev, &report("42", 8, &[])).contains("STATE=3\n"));
    host.admin_ok("locker", json!({"op":"unblock","device":"42"}));
    assert!(exchange(&mut dev, &report("42", 9, &[])).contains("STATE=0\n"));

    // Reset: RESET=1 in the next answer only.
    host.admin_ok("locker", json!({"op":"reset","device":"42"}));
    assert!(exchange(&mut dev, &report("42", 10, &[])).contains("RESET=1\n"));
    assert!(exchange(&mut dev, &report("42", 11, &[])).contains("RESET=0\n"));
}

fn admin_errors_are_4xx_json(v: &Variant) {
    let host = start(v);
    for (body, want) in [
        (json!({"op":"status","device":"nobody"}), 404),
        (
            json!({"op":"assign","device":"nobody","cell":1,"code":"1","minutes":1}),
            409,
        ),
        (json!({"op":"frobnicate","device":"1"}), 400),
        (json!({"op":"assign","device":"1"}), 400),
        (json!([1, 2]), 400),
    ] {
        let (status, text) = host.post("/admin/locker", &body.to_string());
        assert_eq!(status, want, "{body} -> {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{text}");
    }
    let (status, _) = host.post("/admin/locker", "not json");
    assert_eq!(status, 400);
    let (status, _) = host.post("/admin/nosuch", "{}");
    assert_eq!(status, 404);
}

/// The operator sees the same words whichever implementation answers.
fn admin_error_messages_are_word_for_word(v: &Variant) {
    let host = start(v);
    for (body, status, message) in [
        (
            json!({"op":"status","device":"nobody"}),
            404,
            r#"unknown device "nobody": nothing stored for it"#,
        ),
        (
            json!({"op":"assign","device":"nobody","cell":1,"code":"1","minutes":1}),
            409,
            r#"device "nobody" has not reported its COLS/ROWS yet; cannot check cell 1"#,
        ),
        (
            json!({"op":"a\"\n\u{200b}é"}),
            400,
            r#"unknown op "a\"\n\u{200b}é": expected assign, revoke, block, unblock, reset, status or boards"#,
        ),
        (json!([1, 2]), 400, "request must be a JSON object"),
        (json!({"op":5}), 400, r#""op" must be a string"#),
        (
            json!({"op":"assign","device":"1"}),
            400,
            r#"missing field "cell""#,
        ),
        (
            json!({"op":"block","device":"ü"}),
            400,
            r#"invalid "device": expected 1-64 letters, digits, '-' or '_'"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":"1","code":"1","minutes":1}),
            400,
            r#""cell" must be an integer"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":70000,"code":"1","minutes":1}),
            400,
            r#""cell" 70000 is out of range"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":1,"code":"12a","minutes":1}),
            400,
            r#""code" must be 1-16 ASCII digits"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":1,"code":"1","minutes":1.5}),
            400,
            r#""minutes" must be a non-negative integer"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":1,"code":"1","seconds":0}),
            400,
            r#""seconds" must be between 1 and 315360000"#,
        ),
        (
            json!({"op":"assign","device":"d","cell":1,"code":"1","seconds":1,"minutes":1}),
            400,
            r#"give "minutes" or "seconds", not both"#,
        ),
    ] {
        let (got, text) = host.post("/admin/locker", &body.to_string());
        assert_eq!(
            (
                got,
                serde_json::from_str::<serde_json::Value>(&text).unwrap()
            ),
            (status, json!({ "error": message })),
            "{body}"
        );
    }
}

fn state_survives_kill_9(v: &Variant) {
    let mut host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    exchange(&mut dev, &report("9", 1, &[]));
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"9","cell":2,"code":"4321","minutes":60}),
    );
    host.admin_ok("locker", json!({"op":"block","device":"9"}));
    // The component writes the opening to history before the answer is sent.
    exchange(&mut dev, &report("9", 2, &["BOX_ACC=2"]));
    host.kill9();

    host.restart();
    let mut dev = LineClient::connect(host.addr("locker"));
    let got = exchange(&mut dev, &report("9", 3, &[]));
    assert_eq!(
        got,
        "ACon_V1.0\nID=9\nSEND=3\nRESET=0\nSTATE=3\nBOX_ENG=(2,4321,60)\nCLOSE\n"
    );
    let status = host.admin_ok("locker", json!({"op":"status","device":"9"}));
    assert_eq!(status["history"].as_array().unwrap().len(), 1, "{status}");
}

fn graceful_shutdown_on_sigterm(v: &Variant) {
    let mut host = start(v);
    let mut dev = LineClient::connect(host.addr("locker"));
    exchange(&mut dev, &report("1", 1, &[]));
    let status = host.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(dev.is_closed(std::time::Duration::from_secs(5)));
    assert!(host.log().contains("shutting down"));
}

/// Which implementation the host serves (their answers are the same by
/// design, down to the error messages, so only the file tells).
fn serving(host: &Host) -> &'static str {
    common::serving(host, "locker", &[&RUST, &PYTHON])
}

/// Installs `bytes` as locker.wasm (temporary name, then rename) and waits
/// until the host serves them.
fn swap_to(host: &Host, bytes: &[u8]) {
    let before = host.plugin_info("locker");
    host.replace_plugin("locker.wasm", bytes);
    let after = host.wait_plugin("locker", "swap", |p| p["sha256"] != before["sha256"]);
    assert_eq!(
        after["generation"],
        before["generation"].as_u64().unwrap() + 1,
        "{after}"
    );
}

/// Rust → Python → Rust under a connected device: the connection stays up,
/// the answers after each swap come from the new version, and what either
/// version stored (codes, block, reset, history, board size) is the other's
/// to read.
#[test]
fn live_swap_rust_to_python_and_back_keeps_every_device() {
    PYTHON.warm();
    let host = Host::start(&config(&PYTHON), &[(RUST.file.unwrap(), "locker.wasm")]);
    let mut dev = LineClient::connect(host.addr("locker"));
    exchange(&mut dev, &report("77", 1, &[]));
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"77","cell":2,"code":"2468","minutes":60}),
    );
    host.admin_ok("locker", json!({"op":"block","device":"77"}));
    host.admin_ok("locker", json!({"op":"reset","device":"77"}));
    assert_eq!(
        exchange(&mut dev, &report("77", 2, &["BOX_ACC=3"])),
        "ACon_V1.0\nID=77\nSEND=2\nRESET=1\nSTATE=3\nBOX_ENG=(2,2468,60)\nCLOSE\n"
    );
    assert_eq!(serving(&host), "rust");
    let rust_status = host.admin_ok("locker", json!({"op":"status","device":"77"}));

    swap_to(&host, &PYTHON.bytes());
    assert_eq!(serving(&host), "python");
    // The same connection, answered by Python from what Rust stored (the
    // reset was taken by the answer before the swap).
    assert_eq!(
        exchange(&mut dev, &report("77", 3, &[])),
        "ACon_V1.0\nID=77\nSEND=3\nRESET=0\nSTATE=3\nBOX_ENG=(2,2468,60)\nCLOSE\n"
    );
    let python_status = host.admin_ok("locker", json!({"op":"status","device":"77"}));
    assert_same_state(&python_status, &rust_status);
    // Python writes; the cell must be inside the 4x2 board Rust recorded.
    host.admin_ok(
        "locker",
        json!({"op":"assign","device":"77","cell":8,"code":"1357","seconds":3600}),
    );
    let (status, text) = host.post(
        "/admin/locker",
        &json!({"op":"assign","device":"77","cell":9,"code":"1","minutes":1}).to_string(),
    );
    assert_eq!(status, 400, "{text}");
    host.admin_ok("locker", json!({"op":"unblock","device":"77"}));
    assert_eq!(
        exchange(&mut dev, &report("77", 4, &["BOX_ACC=8"])),
        "ACon_V1.0\nID=77\nSEND=4\nRESET=0\nSTATE=0\nBOX_ENG=(2,2468,60)\nBOX_ENG=(8,1357,60)\nCLOSE\n"
    );
    let python_status = host.admin_ok("locker", json!({"op":"status","device":"77"}));
    assert_eq!(
        python_status["history"].as_array().unwrap().len(),
        2,
        "{python_status}"
    );

    // And back: Rust reads what Python wrote.
    swap_to(&host, &RUST.bytes());
    assert_eq!(serving(&host), "rust");
    assert_eq!(
        exchange(&mut dev, &report("77", 5, &[])),
        "ACon_V1.0\nID=77\nSEND=5\nRESET=0\nSTATE=0\nBOX_ENG=(2,2468,60)\nBOX_ENG=(8,1357,60)\nCLOSE\n"
    );
    let rust_status = host.admin_ok("locker", json!({"op":"status","device":"77"}));
    assert_same_state(&rust_status, &python_status);
    // One connection throughout.
    host.wait_metric(
        "wasmgate_connections_total{listener=\"locker\",protocol=\"locker\"}",
        1.0,
    );
}

/// Two implementations' `status` answers for one device agree on all the
/// state it stores (cells, history, board size, connection, blocking).
fn assert_same_state(a: &serde_json::Value, b: &serde_json::Value) {
    for key in [
        "cells",
        "history",
        "cols",
        "rows",
        "act_con",
        "connected_locks",
        "blocked",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
}
