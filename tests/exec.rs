//! The remote-execute relay through the real binary, with a real WebSocket
//! client (tungstenite) on loopback: login with tokens made through the
//! admin API, verbatim relay within a room and never across rooms, refused
//! logins, checkDevice, heartbeats, malformed input, hot reload with an open
//! room, and wss; and what the original server did that old clients rely
//! on: every command relayed, multi-megabyte results, a heartbeat at once,
//! binary frames ignored, paths below /websocket.

mod common;

use std::time::{Duration, Instant};

use common::exec::{Client, HEARTBEAT};
use common::{Host, Variant, WAIT, built};
use serde_json::{Value, json};
use tungstenite::Message;

/// plugins/exec as a component.
const WASM: Variant = Variant {
    label: "wasm",
    world: "exec",
    file: Some("exec.wasm"),
    table: "",
};

/// The same logic compiled into the host.
const NATIVE: Variant = Variant {
    label: "native",
    world: "exec",
    file: None,
    table: "backend = \"native\"",
};

variant_tests!(wasm => WASM, native => NATIVE; [
    relay_is_verbatim_to_the_others_and_never_echoed,
    rooms_of_different_tokens_never_meet,
    refused_logins_get_code_0_and_are_closed,
    check_device_follows_the_room,
    heartbeats_arrive_and_a_client_heartbeat_is_answered,
    malformed_input_after_init_keeps_the_connection,
    wrong_path_is_404,
    wss_init_and_relay,
    oversized_messages_close_and_silent_connections_time_out,
    every_command_after_init_is_relayed_verbatim,
    a_heartbeat_greets_every_new_connection,
    binary_frames_are_ignored_before_and_after_init,
    paths_below_websocket_are_accepted,
    a_4_mib_result_reaches_the_other_member_intact,
]);

fn config(v: &Variant, heartbeat_ms: u64, extra: &str) -> String {
    format!(
        r#"
        [plugins.exec]
        world = "exec"
        {}
        [[listener]]
        name = "exec"
        protocol = "exec"
        listen = "127.0.0.1:0"
        plugin = "exec"
        heartbeat_ms = {heartbeat_ms}
        {extra}
        "#,
        v.table
    )
}

fn start(v: &Variant, heartbeat_ms: u64) -> Host {
    v.start(&config(v, heartbeat_ms, ""), "exec")
}

fn create_token(host: &Host, ttl_s: Option<u64>) -> String {
    let body = match ttl_s {
        Some(t) => json!({"op":"create-token","ttl_s":t}),
        None => json!({"op":"create-token"}),
    };
    let v = host.admin_ok("exec", body);
    v["token"].as_str().unwrap().to_string()
}

/// Two clients logged in with one token.
fn pair(host: &Host, token: &str) -> (Client, Client, String) {
    let mut a = Client::connect(host);
    let mut b = Client::connect(host);
    let ia = a.init(token);
    let ib = b.init(token);
    assert_eq!(ia["cmd"], "init", "{ia}");
    assert_eq!(ia["code"], "1", "{ia}");
    assert_eq!(ib["code"], "1", "{ib}");
    let sid = ia["session_id"].as_str().unwrap().to_string();
    assert_eq!(
        ib["session_id"], ia["session_id"],
        "one session_id per room"
    );
    (a, b, sid)
}

fn assert_not_logged(host: &Host, secrets: &[&str]) {
    let log = host.log();
    for s in secrets {
        assert!(!log.contains(s), "a token is in the host log:\n{log}");
    }
}

fn relay_is_verbatim_to_the_others_and_never_echoed(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let (mut a, mut b, sid) = pair(&host, &token);
    assert_eq!(sid.len(), 36, "uuid-like: {sid}");

    // The documented form (data inside extra), with odd spacing and
    // escapes that a re-serialisation would change.
    let documented = "{ \"cmd\" :\"execute\", \"extra\": {\"command\": \"ls -l /tmp\", \"data\": \"caf\\u00e9 é\\n\"}, \"n\": 1.50 }";
    a.send(documented);
    assert_eq!(b.recv(), documented);
    // The original's form: data at the top level.
    let top_level = r#"{"cmd":"execute","data":"uname -a"}"#;
    a.send(top_level);
    assert_eq!(b.recv(), top_level);
    // Nothing came back to A: its next message is the answer to this.
    assert_eq!(a.check_device(), "1");

    let result = "{\"cmd\":\"execute_result\",\"extra\":{\"data\":\"Linux\\tx86_64\"}}";
    b.send(result);
    assert_eq!(a.recv(), result);
    let result_top = r#"{"cmd":"execute_result","data":"ok","extra":{}}"#;
    b.send(result_top);
    assert_eq!(a.recv(), result_top);
    assert_eq!(b.check_device(), "1");

    // Operators see tokens without their secret.
    let list = host.admin_ok("exec", json!({"op":"list-tokens"}));
    assert!(!list.to_string().contains(&token), "{list}");
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{list}");
    assert_eq!(tokens[0]["connected"], 2);
    assert_eq!(tokens[0]["session_id"], sid.as_str());
    assert_not_logged(&host, &[&token]);
}

fn rooms_of_different_tokens_never_meet(v: &Variant) {
    let host = start(v, 600_000);
    let (t1, t2) = (create_token(&host, None), create_token(&host, None));
    let (mut a1, mut b1, s1) = pair(&host, &t1);
    let (mut a2, mut b2, s2) = pair(&host, &t2);
    assert_ne!(s1, s2);

    let m1 = r#"{"cmd":"execute","extra":{"data":"room one"}}"#;
    let m2 = r#"{"cmd":"execute","extra":{"data":"room two"}}"#;
    a1.send(m1);
    a2.send(m2);
    assert_eq!(b1.recv(), m1);
    assert_eq!(b2.recv(), m2);
    let r2 = r#"{"cmd":"execute_result","data":"two"}"#;
    b2.send(r2);
    assert_eq!(a2.recv(), r2);
    // Had anything crossed over, it would come before these answers.
    assert_eq!(a1.check_device(), "1");
    assert_eq!(b1.check_device(), "1");
    assert_eq!(a2.check_device(), "1");
    assert_eq!(b2.check_device(), "1");
}

fn refused_logins_get_code_0_and_are_closed(v: &Variant) {
    let host = start(v, 600_000);
    let expiring = create_token(&host, Some(1));
    let revoked = create_token(&host, None);
    let good = create_token(&host, None);

    // A connection already in the room of the token being revoked is closed.
    let mut member = Client::connect(&host);
    assert_eq!(member.init(&revoked)["code"], "1");
    let r = host.admin_ok("exec", json!({"op":"revoke-token","token":revoked}));
    assert_eq!(r["closed"], 1, "{r}");
    assert!(member.is_closed());
    let (status, _) = host.post(
        "/admin/exec",
        &json!({"op":"revoke-token","token":revoked}).to_string(),
    );
    assert_eq!(status, 404);

    std::thread::sleep(Duration::from_millis(1500));
    for (what, first) in [
        (
            "bad token",
            json!({"cmd":"init","token":"not-a-token"}).to_string(),
        ),
        ("no token", r#"{"cmd":"init"}"#.to_string()),
        (
            "expired token",
            json!({"cmd":"init","token":expiring}).to_string(),
        ),
        (
            "revoked token",
            json!({"cmd":"init","token":revoked}).to_string(),
        ),
        ("not init first", r#"{"cmd":"checkDevice"}"#.to_string()),
        (
            "execute first",
            r#"{"cmd":"execute","extra":{"data":"x"}}"#.to_string(),
        ),
        (
            "invalid JSON first",
            format!("{{\"cmd\":\"init\",\"token\":\"{good}"),
        ),
    ] {
        let mut c = Client::connect(&host);
        c.send(&first);
        let v = c.recv_json();
        assert_eq!(v["cmd"], "init", "{what}: {v}");
        assert_eq!(v["code"], "0", "{what}: {v}");
        assert!(v["extra"]["msg"].is_string(), "{what}: {v}");
        assert!(c.is_closed(), "{what}: still open");
    }
    // The good token still works, and no token reached the log.
    let mut c = Client::connect(&host);
    assert_eq!(c.init(&good)["code"], "1");
    assert_not_logged(&host, &[&expiring, &revoked, &good]);
}

fn check_device_follows_the_room(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let mut a = Client::connect(&host);
    assert_eq!(a.init(&token)["code"], "1");
    assert_eq!(a.check_device(), "0");

    let wait_for = |a: &mut Client, want: &str| {
        let started = Instant::now();
        loop {
            if a.check_device() == want {
                return;
            }
            assert!(started.elapsed() < WAIT, "checkDevice never became {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // B joins, then leaves with a close frame.
    let mut b = Client::connect(&host);
    assert_eq!(b.init(&token)["code"], "1");
    assert_eq!(a.check_device(), "1");
    b.ws.close(None).unwrap();
    let _ = b.ws.flush();
    wait_for(&mut a, "0");

    // C joins, then its TCP connection is dropped without a close frame.
    let mut c = Client::connect(&host);
    assert_eq!(c.init(&token)["code"], "1");
    assert_eq!(a.check_device(), "1");
    drop(c);
    wait_for(&mut a, "0");
}

fn heartbeats_arrive_and_a_client_heartbeat_is_answered(v: &Variant) {
    let host = start(v, 150);
    let token = create_token(&host, None);
    let mut a = Client::connect(&host);
    assert_eq!(a.init(&token)["code"], "1");
    let mut seen = 0;
    while seen < 3 {
        assert_eq!(a.recv_any(), HEARTBEAT);
        seen += 1;
    }
    // The client's own heartbeat gets the same message back; server
    // heartbeats may interleave, so count replies by asking on a quiet host.
    drop(a);
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let mut a = Client::connect(&host);
    assert_eq!(a.init(&token)["code"], "1");
    a.send(r#"{"cmd":"Heartbeat"}"#);
    assert_eq!(a.recv_any(), HEARTBEAT);
}

fn malformed_input_after_init_keeps_the_connection(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let (mut a, mut b, _) = pair(&host, &token);
    a.send("{this is not json");
    a.send("[1,2,3]");
    // A binary frame is ignored and the connection lives on.
    a.ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(a.check_device(), "1");
    let m = r#"{"cmd":"execute","extra":{"data":"still here"}}"#;
    a.send(m);
    assert_eq!(b.recv(), m, "nothing of the bad input was relayed");
    // Two bad texts and the binary frame.
    host.wait_metric(
        "wasmgate_malformed_total{listener=\"exec\",protocol=\"exec\"}",
        3.0,
    );
}

fn wrong_path_is_404(v: &Variant) {
    let host = start(v, 600_000);
    match Client::connect_path(host.addr("exec"), "/other") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a WebSocket on /other was accepted"),
    }
}

/// `wasm` with a custom section appended: a different file (new sha256)
/// with the same behaviour.
fn with_custom_section(mut wasm: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let name = b"wasmgate-test";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    wasm.push(0);
    let mut n = body.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            wasm.push(byte);
            break;
        }
        wasm.push(byte | 0x80);
    }
    wasm.extend_from_slice(&body);
    wasm
}

#[test]
fn hot_reload_keeps_the_room_and_the_relay() {
    let host = start(&WASM, 600_000);
    let token = create_token(&host, None);
    let (mut a, mut b, sid) = pair(&host, &token);
    let first = host.plugin_info("exec");
    assert_eq!(first["loaded"], true, "{first}");

    let bytes = with_custom_section(std::fs::read(built("exec.wasm")).unwrap(), b"reload");
    host.replace_plugin("exec.wasm", &bytes);
    let swapped = host.wait_plugin("exec", "swap to the new file", |p| {
        p["sha256"] != first["sha256"] && p["last_reload_error"].is_null()
    });
    assert_eq!(swapped["generation"], 2, "{swapped}");

    let m = r#"{"cmd":"execute","extra":{"data":"after reload"}}"#;
    a.send(m);
    assert_eq!(b.recv(), m);
    let r = r#"{"cmd":"execute_result","data":"done"}"#;
    b.send(r);
    assert_eq!(a.recv(), r);
    assert_eq!(a.check_device(), "1");
    let mut c = Client::connect(&host);
    assert_eq!(c.init(&token)["session_id"], sid.as_str());
}

fn wss_init_and_relay(v: &Variant) {
    let host = v.start(
        &config(v, 600_000, "[listener.tls]\nhandshake_timeout_ms = 5000"),
        "exec",
    );
    let cert = host.dir().join("tls/self-signed.crt");
    assert!(cert.exists(), "no self-signed certificate at {cert:?}");
    let token = create_token(&host, None);
    let mut a = Client::connect_tls(host.addr("exec"), &cert);
    let mut b = Client::connect_tls(host.addr("exec"), &cert);
    let ia = a.init(&token);
    assert_eq!(ia["code"], "1", "{ia}");
    assert_eq!(b.init(&token)["session_id"], ia["session_id"]);
    let m = r#"{"cmd":"execute","extra":{"data":"over tls"}}"#;
    a.send(m);
    assert_eq!(b.recv(), m);
    let r = r#"{"cmd":"execute_result","extra":{"data":"ok"}}"#;
    b.send(r);
    assert_eq!(a.recv(), r);
    assert_eq!(a.check_device(), "1");
}

fn oversized_messages_close_and_silent_connections_time_out(v: &Variant) {
    let host = v.start(
        &config(v, 600_000, "max_message_bytes = 1024\nidle_timeout_s = 1"),
        "exec",
    );
    let token = create_token(&host, None);
    let (mut a, mut b, _) = pair(&host, &token);
    let big = format!(
        r#"{{"cmd":"execute","extra":{{"data":"{}"}}}}"#,
        "x".repeat(2000)
    );
    a.send(&big);
    assert!(a.is_closed(), "an oversized message closes the connection");
    assert_eq!(b.check_device(), "0", "and its room forgets it");

    // A connection that never says anything is closed after idle_timeout_s;
    // one that logged in is not (B has been silent for as long).
    let mut silent = Client::connect(&host);
    assert!(silent.is_closed());
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(b.check_device(), "0");

    // Without a heartbeat, the idle timeout counts after login too.
    let host = v.start(&config(v, 0, "idle_timeout_s = 1"), "exec");
    let token = create_token(&host, None);
    let mut a = Client::connect(&host);
    assert_eq!(a.init(&token)["code"], "1");
    assert!(
        a.is_closed(),
        "silent past idle_timeout_s with heartbeat_ms = 0"
    );
}

/// The commands of a client of the original relay: its own ones (progress,
/// a file in pieces, cancel) go to the rest of the room exactly as sent,
/// like execute and execute_result; only init, checkDevice and Heartbeat
/// are answered to the sender.
fn every_command_after_init_is_relayed_verbatim(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let (mut a, mut b, _) = pair(&host, &token);
    let mut c = Client::connect(&host);
    assert_eq!(c.init(&token)["code"], "1");
    for text in [
        r#"{"cmd":"execute","extra":{"command":"tar czf - /var/log"}}"#,
        r#"{"cmd":"progress","extra":{"pct":40}}"#,
        r#"{ "cmd" : "file_chunk", "extra": {"seq": 1, "data": "AAEC\u0041"} }"#,
        r#"{"cmd":"cancel"}"#,
        r#"{"cmd":"","note":"an empty cmd is a command too"}"#,
    ] {
        a.send(text);
        assert_eq!(b.recv(), text);
        assert_eq!(c.recv(), text);
    }
    b.send(r#"{"cmd":"file_done","extra":{"sha256":"ab"}}"#);
    assert_eq!(a.recv(), r#"{"cmd":"file_done","extra":{"sha256":"ab"}}"#);
    assert_eq!(c.recv(), r#"{"cmd":"file_done","extra":{"sha256":"ab"}}"#);
    // Nothing came back to the senders: their next message answers this.
    assert_eq!(a.check_device(), "1");
    assert_eq!(b.check_device(), "1");
    assert_eq!(c.check_device(), "1");
}

fn a_heartbeat_greets_every_new_connection(v: &Variant) {
    // An hour between heartbeats: the one that comes is the greeting.
    let host = start(v, 3_600_000);
    let mut a = Client::connect(&host);
    assert_eq!(a.recv_any(), HEARTBEAT, "before anything was sent");
    let parsed: Value = serde_json::from_str(HEARTBEAT).unwrap();
    assert_eq!(
        parsed,
        json!({"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}})
    );
}

fn binary_frames_are_ignored_before_and_after_init(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let mut a = Client::connect(&host);
    a.ws.send(Message::binary(vec![0u8; 100])).unwrap();
    assert_eq!(
        a.init(&token)["code"],
        "1",
        "the binary frame changed nothing"
    );
    let mut b = Client::connect(&host);
    assert_eq!(b.init(&token)["code"], "1");
    a.ws.send(Message::binary(b"\x00\xff".to_vec())).unwrap();
    let m = r#"{"cmd":"execute","extra":{"data":"after binary"}}"#;
    a.send(m);
    assert_eq!(b.recv(), m, "the binary frame was not relayed");
    assert_eq!(a.check_device(), "1");
    host.wait_metric(
        "wasmgate_malformed_total{listener=\"exec\",protocol=\"exec\"}",
        2.0,
    );
}

fn paths_below_websocket_are_accepted(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let mut a = Client::connect_path(host.addr("exec"), "/websocket/device-7").unwrap();
    let mut b = Client::connect_path(host.addr("exec"), "/websocket/?x=1").unwrap();
    assert_eq!(a.init(&token)["code"], "1");
    assert_eq!(b.init(&token)["code"], "1");
    assert_eq!(a.check_device(), "1");
    match Client::connect_path(host.addr("exec"), "/websocketx") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a WebSocket on /websocketx was accepted"),
    }
}

/// A command's output of several megabytes, under the listener's default
/// limit (16 MiB), byte for byte.
fn a_4_mib_result_reaches_the_other_member_intact(v: &Variant) {
    let host = start(v, 600_000);
    let token = create_token(&host, None);
    let (mut a, mut b, _) = pair(&host, &token);
    let output: String = (0..4 << 20)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let result = json!({"cmd":"execute_result","extra":{"data":output}}).to_string();
    assert!(result.len() > 4 << 20);
    b.send(&result);
    let got = a.recv();
    assert!(
        got == result,
        "{} bytes came, {} sent",
        got.len(),
        result.len()
    );
    assert_eq!(b.check_device(), "1", "the sender is still connected");
}

/// A member that never reads what its room relays is closed as a slow
/// consumer once `outbox_bytes` wait for it, long before the write timeout,
/// and the host's memory stays bounded while the room goes on.
#[test]
fn a_member_that_never_reads_is_closed_and_memory_stays_bounded() {
    let host = WASM.start(
        &config(
            &WASM,
            600_000,
            "outbox_bytes = 8388608\nwrite_timeout_ms = 120000",
        ),
        "exec",
    );
    let token = create_token(&host, None);
    let (mut a, mut b, _) = pair(&host, &token);
    let mut sleeper = Client::connect(&host);
    assert_eq!(sleeper.init(&token)["code"], "1");
    let chunk = json!({"cmd":"execute_result","extra":{"data":"z".repeat(4 << 20)}}).to_string();
    // Warm up: one relay, so the component's memory and the buffers have
    // their working size before the peak is measured.
    a.send(&chunk);
    assert_eq!(b.recv().len(), chunk.len());
    let before = host.peak_rss_kib();
    // 50 x 4 MiB = 200 MiB relayed, which the sleeper never reads.
    for _ in 0..50 {
        a.send(&chunk);
        assert_eq!(b.recv().len(), chunk.len());
    }
    let connected =
        || host.admin_ok("exec", json!({"op":"list-tokens"}))["tokens"][0]["connected"].clone();
    let started = Instant::now();
    while connected() != 2 {
        assert!(started.elapsed() < WAIT, "the sleeper was never closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(host.log().contains("slow consumer"), "{}", host.log());
    assert_eq!(a.check_device(), "1", "A and B go on");
    let grown = host.peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 96 * 1024,
        "peak RSS grew by {grown} KiB while 200 MiB were relayed past a sleeper"
    );
    drop(sleeper);
}
