//! The chat protocol end to end: the real binary, the real chat component,
//! clients on real TCP and TLS sockets on loopback.
//!
//! Every test runs once per implementation of the chat rules ([`RUST`],
//! [`JS`]; `variant_tests!` below), and a live swap from one to the other
//! must keep everyone online.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::chat::Client;
use common::{Host, Variant, WAIT};
use serde_json::{Value, json};

/// plugins/chat (Rust).
const RUST: Variant = Variant {
    label: "rust",
    world: "chat",
    file: Some("chat.wasm"),
    table: "",
};

/// plugins/chat-js (JavaScript, componentize-qjs).
const JS: Variant = Variant {
    label: "js",
    world: "chat",
    file: Some("chat_js.wasm"),
    table: "",
};

/// The Rust logic compiled into the host (`backend = "native"`).
const NATIVE: Variant = Variant {
    label: "native",
    world: "chat",
    file: None,
    table: "backend = \"native\"",
};

variant_tests!(rust => RUST, js => JS, native => NATIVE; [
    guest_login_lists_who_is_online_and_tells_the_others,
    registered_users_log_in_with_their_password_and_survive_a_restart,
    private_message_and_receipt,
    group_message_reaches_everyone_online_sender_included,
    logout_and_a_dropped_connection_each_announce_once,
    users_on_tls_and_plain_tcp_talk_to_each_other,
    framing_split_batched_and_malformed,
    heartbeat_arrives,
    a_client_that_stops_reading_is_dropped_and_announced_once,
    two_hundred_clients_lose_no_message,
    refusals_are_word_for_word,
]);

// What only a component file has: reloading it, and its absence.
variant_tests!(rust_file => RUST, js_file => JS; [
    hot_reload_keeps_everyone_online,
    a_missing_plugin_answers_errors_and_the_connection_lives,
]);

fn config(v: &Variant, extra_listener_keys: &str) -> String {
    format!(
        r#"
[plugins.chat]
world = "chat"
queue_timeout_ms = 5000
{}

[[listener]]
name = "chat"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
max_message_bytes = 4096
{extra_listener_keys}

[[listener]]
name = "chat-tls"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
max_message_bytes = 4096
{extra_listener_keys}
[listener.tls]
"#,
        v.table
    )
}

fn start(v: &Variant) -> Host {
    v.start(&config(v, ""), "chat")
}

fn cert(host: &Host) -> std::path::PathBuf {
    host.dir().join("tls/self-signed.crt")
}

fn assert_refused(got: &Value) {
    assert_eq!(got["Command"], "11", "{got}");
    assert_eq!(got["Flag"], 0, "{got}");
    assert_eq!(got["Friends"], json!([]), "{got}");
}

fn group(msg: &str) -> Value {
    json!({"Command":"05","Message":msg})
}

fn private(to: &str, msg: &str) -> Value {
    json!({"Command":"04","FriendName":to,"Message":msg})
}

fn guest_login_lists_who_is_online_and_tells_the_others(v: &Variant) {
    let host = start(v);
    let addr = host.addr("chat");
    let mut a = Client::tcp(addr);
    assert_eq!(
        a.login("alice"),
        json!({"Command":"11","Flag":1,"Friends":[["alice",1]]})
    );
    let mut b = Client::tcp(addr);
    assert_eq!(
        b.login("Bob42"),
        json!({"Command":"11","Flag":1,"Friends":[["alice",1],["Bob42",1]]})
    );
    assert_eq!(
        a.recv(),
        json!({"Command":"30","LogOnUserName":"Bob42","IsUserGuest":1})
    );

    // Refused logins: Flag 0, an empty list, a reason; nobody is told.
    let mut c = Client::tcp(addr);
    for name in [
        "alice", "ALICE", "admin", "Table", "abc", "al-ice", "al ice",
    ] {
        let got = c.login(name);
        assert_refused(&got);
        assert!(got["Message"].is_string(), "{got}");
    }
    // A name made of digits, exactly 4 long, is fine.
    c.login_ok("1234");
    assert_eq!(a.recv()["LogOnUserName"], "1234");
    assert_eq!(b.recv()["LogOnUserName"], "1234");

    // A second login on a logged-in connection is refused; it stays "1234".
    let got = c.login("other1");
    assert_refused(&got);
    assert!(
        got["Message"]
            .as_str()
            .unwrap()
            .contains("already logged in as 1234"),
        "{got}"
    );

    // Anything but login and register needs a login first.
    let mut d = Client::tcp(addr);
    d.send(group("hi"));
    let got = d.recv();
    assert_eq!(got["Command"], "99", "{got}");
    assert_eq!(got["Flag"], 0, "{got}");
    assert!(
        got["Message"].as_str().unwrap().contains("not logged in"),
        "{got}"
    );
    a.expect_nothing(Duration::from_millis(200));
}

fn registered_users_log_in_with_their_password_and_survive_a_restart(v: &Variant) {
    let mut host = start(v);
    let mut a = Client::tcp(host.addr("chat"));
    a.send(json!({"Command":"02","Name":"Carol","Password":"s3cretPW"}));
    assert_eq!(a.recv(), json!({"Command":"12","Flag":1}));
    a.send(json!({"Command":"02","Name":"carol","Password":"other"}));
    let got = a.recv();
    assert_eq!(got["Command"], "12");
    assert_eq!(got["Flag"], 0);
    assert!(
        got["Message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{got}"
    );
    a.send(json!({"Command":"02","Name":"admin","Password":"x1"}));
    let got = a.recv();
    assert_eq!(
        (got["Flag"].clone(), got["Message"].is_string()),
        (json!(0), true)
    );

    a.send(json!({"Command":"01","Name":"carol","Password":"wrong"}));
    assert_refused(&a.recv());
    // A guest cannot take a registered name.
    a.send(json!({"Command":"01","Name":"carol"}));
    assert_refused(&a.recv());
    a.send(json!({"Command":"01","Name":"carol","Password":"s3cretPW"}));
    assert_eq!(
        a.recv(),
        json!({"Command":"11","Flag":1,"Friends":[["Carol",0]]})
    );
    let mut b = Client::tcp(host.addr("chat"));
    b.login_ok("guest1");
    assert_eq!(
        a.recv(),
        json!({"Command":"30","LogOnUserName":"guest1","IsUserGuest":1})
    );

    // The password is nowhere in the store in clear.
    for entry in std::fs::read_dir(host.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(8).any(|w| w == b"s3cretPW"),
                "password in clear in {}",
                path.display()
            );
        }
    }

    host.restart();
    let mut a = Client::tls(host.addr("chat-tls"), &cert(&host));
    a.send(json!({"Command":"01","Name":"CAROL","Password":"s3cretPW"}));
    assert_eq!(
        a.recv(),
        json!({"Command":"11","Flag":1,"Friends":[["Carol",0]]})
    );
    let mut b = Client::tcp(host.addr("chat"));
    b.send(json!({"Command":"01","Name":"carol","Password":"nope"}));
    assert_refused(&b.recv());
}

/// Every refusal says the same words whichever implementation answers.
fn refusals_are_word_for_word(v: &Variant) {
    let host = start(v);
    let addr = host.addr("chat");
    let (mut a, mut b) = (Client::tcp(addr), Client::tcp(addr));
    let refused = |c: &mut Client, req: Value, why: &str| {
        c.send(req.clone());
        assert_eq!(
            c.recv(),
            json!({"Command":"11","Flag":0,"Friends":[],"Message":why}),
            "{req}"
        );
    };
    let login = |name: &str| json!({"Command":"01","Name":name});
    let login_pw = |name: &str, pw: &str| json!({"Command":"01","Name":name,"Password":pw});
    let register = |name: &str, pw: &str| json!({"Command":"02","Name":name,"Password":pw});
    refused(&mut b, login("abc"), "a name has more than 3 characters");
    refused(
        &mut b,
        login("al-ice"),
        "a name has only letters and digits",
    );
    refused(&mut b, login("Admin"), "Admin is a reserved word");
    refused(
        &mut b,
        login(&"a".repeat(33)),
        "a name has at most 32 characters",
    );
    a.login_ok("alice");
    refused(&mut b, login("ALICE"), "ALICE is already online");
    refused(
        &mut a,
        login("other1"),
        "already logged in as alice; log out (03) first",
    );
    for (name, pw, why) in [
        ("dave1", "", "a password is required"),
        ("dave1", "p w", "a password has only letters and digits"),
        (
            "dave1",
            &"p".repeat(129),
            "a password has at most 128 characters",
        ),
        ("alice", "pw", "alice is in use by a user online"),
    ] {
        b.send(register(name, pw));
        assert_eq!(
            b.recv(),
            json!({"Command":"12","Flag":0,"Message":why}),
            "{name}"
        );
    }
    b.send(register("Carol", "pw"));
    assert_eq!(b.recv(), json!({"Command":"12","Flag":1}));
    b.send(register("carol", "pw"));
    assert_eq!(
        b.recv(),
        json!({"Command":"12","Flag":0,"Message":"carol is already registered"})
    );
    refused(
        &mut b,
        login("carol"),
        "carol is a registered name: log in with its password",
    );
    refused(&mut b, login_pw("carol", "wrong"), "wrong password");
    refused(
        &mut b,
        login_pw("dave1", "pw"),
        "dave1 is not registered (log in without a password as a guest)",
    );
    b.send(group("hi"));
    let got = b.recv();
    assert_eq!(
        (got["Command"].as_str(), got["Flag"].as_i64()),
        (Some("99"), Some(0))
    );
    assert_eq!(got["Message"], "not logged in: send 01 (login) first");
}

fn private_message_and_receipt(v: &Variant) {
    let host = start(v);
    let mut a = Client::tcp(host.addr("chat"));
    let mut b = Client::tcp(host.addr("chat"));
    a.login_ok("alice");
    b.login_ok("bobby");
    a.recv(); // 30 bobby
    a.send(private("bobby", "hi \"bob\" 你好\nsecond line"));
    assert_eq!(
        b.recv(),
        json!({"Command":"13","FriendName":"alice","Message":"hi \"bob\" 你好\nsecond line"})
    );
    assert_eq!(a.recv(), json!({"Command":"14","Flag":1}));
    b.send(private("ALICE", "back"));
    assert_eq!(
        a.recv(),
        json!({"Command":"13","FriendName":"bobby","Message":"back"})
    );
    assert_eq!(b.recv(), json!({"Command":"14","Flag":1}));
    a.send(private("nobody", "lost"));
    assert_eq!(a.recv(), json!({"Command":"14","Flag":0}));
    b.expect_nothing(Duration::from_millis(200));
}

fn group_message_reaches_everyone_online_sender_included(v: &Variant) {
    let host = start(v);
    let mut users: Vec<Client> = (0..3).map(|_| Client::tcp(host.addr("chat"))).collect();
    for (i, u) in users.iter_mut().enumerate() {
        u.login_ok(&format!("user{i}"));
    }
    let mut outsider = Client::tcp(host.addr("chat"));
    users[0].recv(); // 30 user1
    users[0].recv(); // 30 user2
    users[1].recv(); // 30 user2
    users[1].send(group("hello all"));
    for u in &mut users {
        assert_eq!(
            u.recv(),
            json!({"Command":"32","Speaker":"user1","Message":"hello all"})
        );
    }
    outsider.expect_nothing(Duration::from_millis(200));
}

fn logout_and_a_dropped_connection_each_announce_once(v: &Variant) {
    let host = start(v);
    let addr = host.addr("chat");
    let mut a = Client::tcp(addr);
    let mut b = Client::tcp(addr);
    let mut c = Client::tcp(addr);
    a.login_ok("alice");
    b.login_ok("bobby");
    c.login_ok("carol");
    a.recv();
    a.recv(); // 30 bobby, 30 carol
    b.recv(); // 30 carol

    // Explicit logout: the others get one 31, the one who left nothing.
    b.send(json!({"Command":"03"}));
    let bye = json!({"Command":"31","LogOutUserName":"bobby"});
    assert_eq!(a.recv(), bye);
    assert_eq!(c.recv(), bye);
    c.send(group("marker1"));
    assert_eq!(a.recv()["Message"], "marker1", "no second 31");
    assert_eq!(c.recv()["Message"], "marker1");
    // The connection is still open, logged out.
    b.send(group("still here?"));
    let got = b.recv();
    assert_eq!(got["Command"], "99", "{got}");
    // Closing it now announces nothing.
    drop(b);
    c.send(group("marker2"));
    assert_eq!(a.recv()["Message"], "marker2", "nothing after the logout");
    assert_eq!(c.recv()["Message"], "marker2");

    // A killed client: one 31, then nothing more.
    c.sock.shutdown(std::net::Shutdown::Both).unwrap();
    drop(c);
    assert_eq!(a.recv(), json!({"Command":"31","LogOutUserName":"carol"}));
    a.send(group("marker3"));
    assert_eq!(a.recv()["Message"], "marker3", "no second 31");
    // Its name is free again.
    let mut c2 = Client::tcp(addr);
    c2.login_ok("carol");
}

fn users_on_tls_and_plain_tcp_talk_to_each_other(v: &Variant) {
    let host = start(v);
    let mut t = Client::tls(host.addr("chat-tls"), &cert(&host));
    let mut p = Client::tcp(host.addr("chat"));
    t.login_ok("tlsuser");
    assert_eq!(
        p.login("plain1"),
        json!({"Command":"11","Flag":1,"Friends":[["tlsuser",1],["plain1",1]]})
    );
    assert_eq!(t.recv()["LogOnUserName"], "plain1");
    t.send(private("plain1", "over tls"));
    assert_eq!(
        p.recv(),
        json!({"Command":"13","FriendName":"tlsuser","Message":"over tls"})
    );
    assert_eq!(t.recv(), json!({"Command":"14","Flag":1}));
    p.send(private("tlsuser", "over tcp"));
    assert_eq!(
        t.recv(),
        json!({"Command":"13","FriendName":"plain1","Message":"over tcp"})
    );
    assert_eq!(p.recv(), json!({"Command":"14","Flag":1}));
    p.send(group("both"));
    assert_eq!(t.recv()["Message"], "both");
    assert_eq!(p.recv()["Message"], "both");
    // A name online on one port is taken on the other.
    let mut t2 = Client::tls(host.addr("chat-tls"), &cert(&host));
    assert_refused(&t2.login("plain1"));
}

fn framing_split_batched_and_malformed(v: &Variant) {
    let host = start(v);
    let mut a = Client::tcp(host.addr("chat"));
    // Split byte by byte.
    for byte in br#"{"Command":"01","Name":"alice"}"# {
        a.send_raw(&[*byte]);
    }
    assert_eq!(a.recv()["Flag"], 1);

    // Several in one write, with and without separators; a bare number.
    a.send_raw(
        br#"{"Command":"05","Message":"one"}{"Command":"05","Message":"two"}
  {"Command":5,"Message":"three"}"#,
    );
    for want in ["one", "two", "three"] {
        assert_eq!(a.recv()["Message"], want);
    }

    // Invalid JSON, a non-object and an unknown command between valid ones:
    // each gets an error object, and the stream goes on.
    a.send_raw(
        b"{\"Command\":\"05\",\"Message\":\"a\"}{oops}[1,2]\n{\"Command\":\"07\"}{\"Command\":\"05\",\"Message\":\"b\"}\n",
    );
    assert_eq!(a.recv()["Message"], "a");
    for want in [
        "invalid JSON",
        "expected a JSON object",
        "unknown Command \"07\"",
    ] {
        let got = a.recv();
        assert_eq!(got["Command"], "99", "{got}");
        assert_eq!(got["Flag"], 0, "{got}");
        assert!(got["Message"].as_str().unwrap().contains(want), "{got}");
    }
    assert_eq!(a.recv()["Message"], "b");

    // Oversize (the limit is 4096 here): one error, the object is skipped.
    let big = format!(r#"{{"Command":"05","Message":"{}"}}"#, "x".repeat(10_000));
    a.send_raw(big.as_bytes());
    a.send(group("after"));
    let got = a.recv();
    assert!(
        got["Message"]
            .as_str()
            .unwrap()
            .contains("larger than 4096"),
        "{got}"
    );
    assert_eq!(a.recv()["Message"], "after");
    host.wait_metric(
        "wasmgate_malformed_total{listener=\"chat\",protocol=\"chat\"}",
        4.0,
    );
}

fn heartbeat_arrives(v: &Variant) {
    let host = v.start(&config(v, "heartbeat_ms = 200"), "chat");
    let mut idle = Client::tcp(host.addr("chat"));
    let mut t = Client::tls(host.addr("chat-tls"), &cert(&host));
    t.login_ok("tlsuser");
    for c in [&mut idle, &mut t] {
        for _ in 0..3 {
            let got = c.recv_within(Duration::from_secs(5)).expect("a heartbeat");
            assert_eq!(got, json!({"Command":"14"}));
        }
    }
    // Heartbeats do not disturb the conversation.
    t.send(group("between beats"));
    assert_eq!(t.recv()["Message"], "between beats");
}

fn a_client_that_stops_reading_is_dropped_and_announced_once(v: &Variant) {
    let host = v.start(
        &config(v, "outbox_capacity = 16\nwrite_timeout_ms = 1000"),
        "chat",
    );
    let addr = host.addr("chat");
    let mut observer = Client::tcp(addr);
    let mut sender = Client::tcp(addr);
    let mut stuck = Client::tcp(addr);
    observer.login_ok("observer");
    sender.login_ok("sender");
    stuck.login_ok("stuck");
    assert_eq!(observer.recv()["LogOnUserName"], "sender");
    assert_eq!(observer.recv()["LogOnUserName"], "stuck");
    // `stuck` never reads again; the sender floods it (its own receipts
    // are small and pile up unread in its socket buffer meanwhile).
    let body = "z".repeat(3900);
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.extend_from_slice(private("stuck", &body).to_string().as_bytes());
    }
    let started = Instant::now();
    let mut announced = None;
    while announced.is_none() {
        assert!(
            started.elapsed() < WAIT,
            "the stuck client was never dropped"
        );
        sender.send_raw(&flood);
        announced = observer.recv_within(Duration::from_millis(50));
    }
    assert_eq!(
        announced.unwrap(),
        json!({"Command":"31","LogOutUserName":"stuck"})
    );
    observer.send(group("marker"));
    assert_eq!(observer.recv()["Message"], "marker", "no second 31");
    drop(stuck);
}

/// A component file with the same code and different bytes: an extra
/// custom section at the end.
fn with_custom_section(mut wasm: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"wasmgate-test";
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    wasm.push(0);
    leb(body.len(), &mut wasm);
    wasm.extend_from_slice(&body);
    wasm
}

fn hot_reload_keeps_everyone_online(v: &Variant) {
    let host = start(v);
    let first = host.plugin_info("chat");
    let mut users: Vec<Client> = (0..3).map(|_| Client::tcp(host.addr("chat"))).collect();
    for (i, u) in users.iter_mut().enumerate() {
        u.login_ok(&format!("user{i}"));
    }
    users[0].recv();
    users[0].recv();
    users[1].recv();

    host.replace_plugin("chat.wasm", &with_custom_section(v.bytes(), b"v2"));
    let swapped = host.wait_plugin("chat", "swap", |p| p["sha256"] != first["sha256"]);
    assert_eq!(swapped["generation"], 2, "{swapped}");

    // Nobody was logged out: the next thing each sees is the new message.
    users[2].send(group("after the swap"));
    for u in &mut users {
        assert_eq!(
            u.recv(),
            json!({"Command":"32","Speaker":"user2","Message":"after the swap"})
        );
    }
    users[0].send(private("user1", "still there?"));
    assert_eq!(users[1].recv()["FriendName"], "user0");
    assert_eq!(users[0].recv(), json!({"Command":"14","Flag":1}));
    let online = host.admin_ok("chat", json!({"op":"online"}));
    assert_eq!(online["online"].as_array().unwrap().len(), 3, "{online}");
    // A new login after the swap sees all three.
    let mut late = Client::tcp(host.addr("chat"));
    let got = late.login_ok("late1");
    assert_eq!(got["Friends"].as_array().unwrap().len(), 4, "{got}");
}

fn a_missing_plugin_answers_errors_and_the_connection_lives(v: &Variant) {
    v.warm();
    let host = Host::start(&config(v, ""), &[]);
    assert_eq!(host.plugin_info("chat")["loaded"], false);
    let mut a = Client::tcp(host.addr("chat"));
    a.send(json!({"Command":"01","Name":"alice"}));
    let got = a.recv();
    assert_eq!(got["Command"], "99", "{got}");
    assert!(
        got["Message"].as_str().unwrap().contains("not loaded"),
        "{got}"
    );
    host.replace_plugin("chat.wasm", &v.bytes());
    host.wait_plugin("chat", "load", |p| p["loaded"] == true);
    a.login_ok("alice");
}

/// Counts arrivals and waits, with a deadline, for all `n`.
fn rendezvous(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, Ordering::SeqCst);
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < n {
        assert!(started.elapsed() < WAIT * 3, "not everyone arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn two_hundred_clients_lose_no_message(v: &Variant) {
    const CLIENTS: usize = 200;
    const EACH: usize = 20;
    let host = start(v);
    let (plain, secure) = (host.addr("chat"), host.addr("chat-tls"));
    let cert = cert(&host);
    let logged_in = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (logged_in, finished, cert) = (logged_in.clone(), finished.clone(), cert.clone());
            std::thread::spawn(move || {
                // Every tenth client over TLS.
                let mut c = if i % 10 == 0 {
                    Client::tls(secure, &cert)
                } else {
                    Client::tcp(plain)
                };
                c.login_ok(&format!("peer{i}"));
                rendezvous(&logged_in, CLIENTS);
                let to = format!("peer{}", (i + 1) % CLIENTS);
                let from = format!("peer{}", (i + CLIENTS - 1) % CLIENTS);
                for k in 0..EACH {
                    c.send(private(&to, &format!("{i}:{k}")));
                }
                let (mut got, mut receipts) = (0, 0);
                while got < EACH || receipts < EACH {
                    let m = c.recv();
                    match m["Command"].as_str().unwrap() {
                        "13" => {
                            assert_eq!(m["FriendName"], from.as_str());
                            let want = format!("{}:{got}", (i + CLIENTS - 1) % CLIENTS);
                            assert_eq!(m["Message"], want.as_str(), "in order");
                            got += 1;
                        }
                        "14" => {
                            assert_eq!(m["Flag"], 1, "{m}");
                            receipts += 1;
                        }
                        "30" => {}
                        other => panic!("unexpected {other}: {m}"),
                    }
                }
                // Stay online until everyone has everything.
                rendezvous(&finished, CLIENTS);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Which implementation the host serves (the file it loaded).
fn serving(host: &Host) -> &'static str {
    common::serving(host, "chat", &[&RUST, &JS])
}

/// Installs `bytes` as chat.wasm (temporary name, then rename) and waits
/// until the host serves them.
fn swap_to(host: &Host, bytes: &[u8]) {
    let before = host.plugin_info("chat");
    host.replace_plugin("chat.wasm", bytes);
    let after = host.wait_plugin("chat", "swap", |p| p["sha256"] != before["sha256"]);
    assert_eq!(
        after["generation"],
        before["generation"].as_u64().unwrap() + 1,
        "{after}"
    );
}

/// Rust → JavaScript → Rust with users online: nobody is logged out, the new
/// version serves them at once, and users registered by either version log
/// in under the other.
#[test]
fn live_swap_rust_to_js_and_back_keeps_everyone_online() {
    JS.warm();
    let host = Host::start(&config(&JS, ""), &[(RUST.file.unwrap(), "chat.wasm")]);
    let addr = host.addr("chat");
    let mut a = Client::tcp(addr);
    a.send(json!({"Command":"02","Name":"Carol","Password":"s3cretPW"}));
    assert_eq!(a.recv(), json!({"Command":"12","Flag":1}));
    a.send(json!({"Command":"01","Name":"carol","Password":"s3cretPW"}));
    assert_eq!(
        a.recv(),
        json!({"Command":"11","Flag":1,"Friends":[["Carol",0]]})
    );
    let mut b = Client::tcp(addr);
    b.login_ok("bobby");
    assert_eq!(a.recv()["LogOnUserName"], "bobby");
    assert_eq!(serving(&host), "rust");

    swap_to(&host, &JS.bytes());
    assert_eq!(serving(&host), "js");
    // Both still online, served by JavaScript.
    b.send(group("after the swap"));
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.recv(),
            json!({"Command":"32","Speaker":"bobby","Message":"after the swap"})
        );
    }
    a.send(private("BOBBY", "still there?"));
    assert_eq!(
        b.recv(),
        json!({"Command":"13","FriendName":"Carol","Message":"still there?"})
    );
    assert_eq!(a.recv(), json!({"Command":"14","Flag":1}));
    assert_eq!(
        host.admin_ok("chat", json!({"op":"online"})),
        json!({"online":[{"guest":false,"name":"Carol"},{"guest":true,"name":"bobby"}]})
    );
    // The operator's API, answered by JavaScript, errors included.
    assert_eq!(
        host.admin_ok("chat", json!({"op":"users"})),
        json!({"users":["Carol"]})
    );
    let (status, text) = host.post("/admin/chat", r#"{"op":"explode"}"#);
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"error":"unknown op \"explode\" (online, users, delete-user)"})
    );
    let (status, text) = host.post("/admin/chat", r#"{"op":"delete-user"}"#);
    assert_eq!(
        (status, text.contains("name is required")),
        (400, true),
        "{text}"
    );
    let mut c = Client::tcp(addr);
    assert_eq!(
        c.login("late1"),
        json!({"Command":"11","Flag":1,"Friends":[["Carol",0],["bobby",1],["late1",1]]})
    );
    assert_eq!(a.recv()["LogOnUserName"], "late1");
    assert_eq!(b.recv()["LogOnUserName"], "late1");
    // The names claimed under Rust are still taken.
    let mut d = Client::tcp(addr);
    assert_refused(&d.login("BOBBY"));
    // A user registered under JavaScript...
    d.send(json!({"Command":"02","Name":"Dave1","Password":"pw4dave"}));
    assert_eq!(d.recv(), json!({"Command":"12","Flag":1}));
    // ...and a logout under JavaScript.
    a.send(json!({"Command":"03"}));
    assert_eq!(b.recv(), json!({"Command":"31","LogOutUserName":"Carol"}));
    assert_eq!(c.recv(), json!({"Command":"31","LogOutUserName":"Carol"}));

    swap_to(&host, &RUST.bytes());
    assert_eq!(serving(&host), "rust");
    d.send(json!({"Command":"01","Name":"dave1","Password":"pw4dave"}));
    assert_eq!(
        d.recv(),
        json!({"Command":"11","Flag":1,"Friends":[["bobby",1],["late1",1],["Dave1",0]]})
    );
    assert_eq!(b.recv()["LogOnUserName"], "Dave1");
    assert_eq!(c.recv()["LogOnUserName"], "Dave1");
    // A dropped connection is announced once, by Rust.
    b.sock.shutdown(std::net::Shutdown::Both).unwrap();
    drop(b);
    assert_eq!(c.recv(), json!({"Command":"31","LogOutUserName":"bobby"}));
    assert_eq!(d.recv(), json!({"Command":"31","LogOutUserName":"bobby"}));
    // Carol (logged out, still connected) logs in again with her password.
    a.send(json!({"Command":"01","Name":"CAROL","Password":"s3cretPW"}));
    assert_eq!(a.recv()["Flag"], 1);
    // Four connections, none of them dropped by a swap.
    host.wait_metric(
        "wasmgate_connections_total{listener=\"chat\",protocol=\"chat\"}",
        4.0,
    );
}
