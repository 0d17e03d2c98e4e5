//! Several hosts as one service (`[cluster]`): real `nats-server`
//! processes with JetStream (one, or a cluster of three), two or three
//! real `wasmgate` processes on loopback, and real clients of each
//! protocol connected to different hosts.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::chat::{Client as Chat, Next};
use common::exec::Client as Exec;
use common::locker::{exchange, report};
use common::smarthome::{header, house_db, request, upload};
use common::{Host, LineClient, WAIT, built};
use serde_json::{Value, json};
use wasmgate_testkit::nats::Nats;

/// A host's plugins and listeners (every port chosen by the system).
const BODY: &str = r#"
[plugins.locker]
world = "locker"
[plugins.chat]
world = "chat"
[plugins.exec]
world = "exec"
[plugins.smarthome]
world = "smarthome"

[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"

[[listener]]
name = "chat"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
heartbeat_ms = 0

[[listener]]
name = "exec"
protocol = "exec"
listen = "127.0.0.1:0"
plugin = "exec"
ws_path = "/websocket"
heartbeat_ms = 0

[[listener]]
name = "smarthome"
protocol = "smarthome"
listen = "127.0.0.1:0"
plugin = "smarthome"
"#;

const PLUGINS: &[(&str, &str)] = &[
    ("locker.wasm", "locker.wasm"),
    ("chat.wasm", "chat.wasm"),
    ("exec.wasm", "exec.wasm"),
    ("smarthome.wasm", "smarthome.wasm"),
];

/// Host `node` of the cluster on `nats`.
fn host(nats: &Nats, node: &str, replicas: usize, dead_after_ms: u64) -> Host {
    let body = format!(
        "{}\n{BODY}",
        nats.cluster_table(node, replicas, dead_after_ms)
    );
    Host::start(&body, PLUGINS)
}

fn nats() -> Nats {
    Nats::start().unwrap_or_else(|e| panic!("{e:#}"))
}

/// Polls `cond` until it holds (within [`WAIT`]).
fn eventually(what: &str, cond: impl FnMut() -> bool) {
    eventually_within(what, WAIT, cond)
}

fn eventually_within(what: &str, wait: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < wait,
            "{what} did not happen within {wait:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A NATS cluster elects new JetStream leaders after a node dies; on a
/// loaded machine that can take a while.
const ELECTION: Duration = Duration::from_secs(90);

/// Waits until `host` lists `name` among the chat users online (its copy
/// of the directory follows the other hosts' writes within moments).
fn online_at(host: &Host, name: &str) {
    eventually(&format!("{name} online as seen from a host"), || {
        host.admin_ok("chat", json!({"op":"online"}))["online"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == name)
    });
}

fn exec_token(host: &Host) -> String {
    host.admin_ok("exec", json!({"op":"create-token"}))["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A member of the room of `token` on `host`, once the host knows the
/// token (a refused init closes the connection: each try is a new one).
fn exec_member(host: &Host, token: &str) -> Exec {
    let mut member = None;
    eventually("the token known to the host", || {
        let mut c = Exec::connect_at(host.addr("exec"));
        let ok = c.init(token)["code"] == "1";
        member = ok.then_some(c);
        ok
    });
    member.unwrap()
}

fn chat(host: &Host) -> Chat {
    Chat::tcp(host.addr("chat"))
}

fn friends(login: &Value) -> Vec<String> {
    let mut names: Vec<String> = login["Friends"]
        .as_array()
        .unwrap_or_else(|| panic!("{login}"))
        .iter()
        .map(|f| f[0].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// What the plugins keep — a locker code, a registered chat user, an exec
/// token, the smart-home database — written through host A and used
/// through host B.
#[test]
fn plugin_state_written_on_one_host_is_served_by_the_other() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let b = host(&nats, "b", 1, 3000);

    // Locker: the board is on B, the operator assigns through A.
    let mut board = LineClient::connect(b.addr("locker"));
    exchange(&mut board, &report("77", 1, &[]));
    a.admin_ok(
        "locker",
        json!({"op":"assign","device":"77","cell":2,"code":"4321","minutes":60}),
    );
    // B's copy of the bucket follows A's write within moments.
    let mut send = 1;
    eventually("the code served by B", || {
        send += 1;
        exchange(&mut board, &report("77", send, &[])).contains("BOX_ENG=(2,4321,60)")
    });

    // Chat: registered on A, logs in on B with the password.
    let mut c = chat(&a);
    c.send(json!({"Command":"02","Name":"Carol","Password":"s3cretPW"}));
    assert_eq!(c.recv(), json!({"Command":"12","Flag":1}));
    eventually("Carol logs in on B", || {
        let mut d = chat(&b);
        d.send(json!({"Command":"01","Name":"Carol","Password":"s3cretPW"}));
        let got = d.recv();
        assert_eq!(got["Command"], "11", "{got}");
        got["Flag"] == 1
    });
    let mut e = chat(&b);
    e.send(json!({"Command":"01","Name":"carol","Password":"wrong"}));
    assert_eq!(e.recv()["Flag"], 0);

    // Exec: the token made on A opens a room on B.
    let token = exec_token(&a);
    exec_member(&b, &token);

    // Smart-home: uploaded to A, downloaded from B.
    let scratch = tempfile::tempdir().unwrap();
    let db = house_db(scratch.path(), &[("lamp", "kitchen"), ("fan", "attic")]);
    let (status, text) = upload(&a, &db);
    assert_eq!(status, 200, "{text}");
    let got = request(&b, 0x4c);
    assert_eq!(header(&got), (0x43, db.len() as u32));
    assert_eq!(&got[8..], &db[..]);
}

/// Chat users on A and B see each other, their presence, their private
/// and group messages; the receipt says whether the friend is online
/// anywhere.
#[test]
fn chat_users_on_two_hosts_are_one_service() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let b = host(&nats, "b", 1, 3000);
    let mut alice = chat(&a);
    assert_eq!(friends(&alice.login_ok("alice")), ["alice"]);
    online_at(&b, "alice");
    let mut bob = chat(&b);
    assert_eq!(friends(&bob.login_ok("bobby")), ["alice", "bobby"]);
    assert_eq!(
        alice.recv(),
        json!({"Command":"30","LogOnUserName":"bobby","IsUserGuest":1})
    );
    online_at(&a, "bobby");

    // Private message A → B, and the receipt.
    alice.send(json!({"Command":"04","FriendName":"bobby","Message":"hi from A"}));
    assert_eq!(alice.recv(), json!({"Command":"14","Flag":1}));
    assert_eq!(
        bob.recv(),
        json!({"Command":"13","FriendName":"alice","Message":"hi from A"})
    );
    // Nobody called "ghost" is online anywhere.
    alice.send(json!({"Command":"04","FriendName":"ghost","Message":"?"}));
    assert_eq!(alice.recv(), json!({"Command":"14","Flag":0}));

    // A group message from B reaches A (and the sender).
    bob.send(json!({"Command":"05","Message":"hello all"}));
    let group = json!({"Command":"32","Speaker":"bobby","Message":"hello all"});
    assert_eq!(alice.recv(), group);
    assert_eq!(bob.recv(), group);

    // In order per sender, across hosts: 200 private messages sent back
    // to back arrive in the order sent.
    for i in 0..200 {
        bob.send(json!({"Command":"04","FriendName":"alice","Message":format!("m{i}")}));
    }
    for i in 0..200 {
        assert_eq!(
            alice.recv(),
            json!({"Command":"13","FriendName":"bobby","Message":format!("m{i}")})
        );
    }
    for _ in 0..200 {
        assert_eq!(bob.recv(), json!({"Command":"14","Flag":1}));
    }

    // Bob drops: A hears one 31.
    drop(bob);
    assert_eq!(
        alice.recv(),
        json!({"Command":"31","LogOutUserName":"bobby"})
    );
    alice.expect_nothing(Duration::from_millis(300));
}

/// An exec room spans hosts: `checkDevice` counts members on both, and a
/// command from the member on A reaches the member on B verbatim.
#[test]
fn an_exec_room_spans_hosts() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let b = host(&nats, "b", 1, 3000);
    let token = exec_token(&a);
    let mut on_a = Exec::connect_at(a.addr("exec"));
    assert_eq!(on_a.init(&token)["code"], "1");
    assert_eq!(on_a.check_device(), "0", "alone in the room");
    let mut on_b = exec_member(&b, &token);
    eventually("A counts the member on B", || on_a.check_device() == "1");
    assert_eq!(on_b.check_device(), "1");
    let command = r#"{"cmd":"execute","command":"uptime","extra":{"n":1}}"#;
    on_a.send(command);
    assert_eq!(on_b.recv(), command);
    let answer = r#"{"cmd":"result","output":"up 3 days"}"#;
    on_b.send(answer);
    assert_eq!(on_a.recv(), answer);
    drop(on_b);
    eventually("A sees the room shrink", || on_a.check_device() == "0");
}

/// A host started after another already has sessions learns them: a
/// member already in an exec room on A is counted by a member joining on
/// B, started afterwards (its copy of the directory begins with what the
/// others wrote before it came; an entry delivered before its plugins
/// were registered would have been skipped for good).
#[test]
fn a_host_started_later_sees_the_rooms_already_there() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let token = exec_token(&a);
    let mut on_a = Exec::connect_at(a.addr("exec"));
    assert_eq!(on_a.init(&token)["code"], "1");
    assert_eq!(on_a.check_device(), "0", "alone in the room");
    let b = host(&nats, "b", 1, 3000);
    let mut on_b = exec_member(&b, &token);
    eventually("B counts the member on A", || on_b.check_device() == "1");
    eventually("A counts the member on B", || on_a.check_device() == "1");
}

/// Many logins of one name at once, half on each host: exactly one wins.
#[test]
fn one_name_one_winner_across_hosts() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let b = host(&nats, "b", 1, 3000);
    let addrs: Vec<SocketAddr> = vec![a.addr("chat"), b.addr("chat")];
    for round in 0..3 {
        let name = format!("racer{round}");
        let n = 16;
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let addr = addrs[i % 2];
                let barrier = barrier.clone();
                let name = name.clone();
                std::thread::spawn(move || {
                    let mut c = Chat::tcp(addr);
                    barrier.wait();
                    let got = c.login(&name);
                    (got["Flag"] == 1, c)
                })
            })
            .collect();
        let results: Vec<(bool, Chat)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results.iter().filter(|(won, _)| *won).count();
        assert_eq!(winners, 1, "round {round}: {winners} logins of {name} won");
    }
}

/// kill -9 of a host: within a few seconds the survivor releases its
/// sessions — its chat user is announced gone once, the name is free
/// again, the exec room shrinks.
#[test]
fn a_killed_host_is_released_by_the_survivor() {
    let nats = nats();
    let a = host(&nats, "a", 1, 2000);
    let mut b = host(&nats, "b", 1, 2000);
    let mut alice = chat(&a);
    alice.login_ok("alice");
    online_at(&b, "alice");
    let mut doomed = chat(&b);
    doomed.login_ok("doomed");
    assert_eq!(
        alice.recv(),
        json!({"Command":"30","LogOnUserName":"doomed","IsUserGuest":1})
    );
    let token = exec_token(&a);
    let mut on_a = Exec::connect_at(a.addr("exec"));
    on_a.init(&token);
    let _on_b = exec_member(&b, &token);
    eventually("the room spans both", || on_a.check_device() == "1");

    let killed = Instant::now();
    b.kill9();
    assert_eq!(
        alice.recv(),
        json!({"Command":"31","LogOutUserName":"doomed"})
    );
    let noticed = killed.elapsed();
    assert!(
        noticed < Duration::from_secs(15),
        "noticed after {noticed:?}"
    );
    alice.expect_nothing(Duration::from_secs(1));
    assert_eq!(on_a.check_device(), "0");
    let mut again = chat(&a);
    again.login_ok("doomed");
    assert!(a.metric("wasmgate_cluster_reaped_total") >= 2.0);
    drop(doomed);
}

/// NATS gone: the host says so (`/health` 503, the metric), refuses what
/// needs it with each protocol's error, keeps its connections, and comes
/// back by itself when NATS returns.
#[test]
fn losing_nats_degrades_and_recovers() {
    let mut nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let mut board = LineClient::connect(a.addr("locker"));
    exchange(&mut board, &report("5", 1, &[]));
    assert_eq!(a.get("/health").0, 200);

    nats.servers[0].kill();
    eventually("health degraded", || {
        let (status, body) = a.get("/health");
        status == 503 && body.contains("\"connected\":false")
    });
    assert_eq!(a.metric("wasmgate_cluster_connected"), 0.0);
    let got = exchange(&mut board, &report("5", 2, &[]));
    assert!(got.starts_with("ERROR:"), "{got}");
    let mut c = chat(&a);
    c.send(json!({"Command":"01","Name":"nobody"}));
    // The plugin reads its user store first (refused: 11 Flag 0), or the
    // host refuses the call whose claim could not be made (99).
    let got = c.recv();
    let refused = (got["Command"] == "11" && got["Flag"] == 0) || got["Command"] == "99";
    assert!(refused, "{got}");
    assert!(
        got["Message"].as_str().unwrap().contains("unavailable"),
        "{got}"
    );

    nats.servers[0].restart().unwrap();
    eventually("health back", || a.get("/health").0 == 200);
    eventually("the board is served again", || {
        !exchange(&mut board, &report("5", 3, &[])).starts_with("ERROR:")
    });
    let mut c = chat(&a);
    c.login_ok("somebody");
    assert!(a.metric("wasmgate_cluster_disconnects_total") >= 1.0);
}

/// A 3-node NATS cluster with R3 buckets: killing one NATS node loses no
/// acknowledged write and the hosts go on.
#[test]
fn r3_buckets_survive_a_nats_node() {
    let mut nats = Nats::cluster(3).unwrap_or_else(|e| panic!("{e:#}"));
    let a = host(&nats, "a", 3, 3000);
    let b = host(&nats, "b", 3, 3000);
    let mut board = LineClient::connect(b.addr("locker"));
    exchange(&mut board, &report("9", 1, &[]));
    for cell in 1..=4 {
        a.admin_ok(
            "locker",
            json!({"op":"assign","device":"9","cell":cell,"code":format!("{cell}{cell}{cell}"),"minutes":30}),
        );
    }
    nats.servers[0].kill();
    let mut send = 2;
    eventually_within(
        "every acknowledged code served after the node died",
        ELECTION,
        || {
            send += 1;
            let got = exchange(&mut board, &report("9", send, &[]));
            (1..=4).all(|c| got.contains(&format!("BOX_ENG=({c},{c}{c}{c},30)")))
        },
    );
    // New writes and cross-host chat still work.
    eventually_within("a write after the node died", ELECTION, || {
        let (status, _) = a.post(
            "/admin/locker",
            &json!({"op":"assign","device":"9","cell":5,"code":"555","minutes":30}).to_string(),
        );
        status == 200
    });
    let mut x = chat(&a);
    eventually("a login after the node died", || {
        x.login("xavier")["Flag"] == 1
    });
    // B's copy of the directory follows too (its watch resumed on a
    // surviving node).
    let deadline = Instant::now() + ELECTION;
    while !b.admin_ok("chat", json!({"op":"online"}))["online"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "xavier")
    {
        assert!(
            Instant::now() < deadline,
            "B does not see a login on A after the node died; A's log:\n{}\nB's log:\n{}\nNATS 1:\n{}\nNATS 2:\n{}",
            a.log(),
            b.log(),
            nats.servers[1].log(),
            nats.servers[2].log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plugin uploaded through one host's admin API is swapped in on every
/// host; a file that does not check is refused, and one put straight into
/// the bucket is refused by every host, which keep serving the old one.
#[test]
fn a_plugin_deployed_once_runs_everywhere() {
    let nats = nats();
    let a = host(&nats, "a", 1, 3000);
    let b = host(&nats, "b", 1, 3000);
    let old = a.plugin_info("locker")["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let variant = std::fs::read(built("locker_variant.wasm")).unwrap();
    let (status, text) = a.upload_plugin("locker", &variant).unwrap();
    assert_eq!(status, 200, "{text}");
    let new: Value = serde_json::from_str(&text).unwrap();
    let new = new["published"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    for h in [&a, &b] {
        h.wait_plugin("locker", "the new version", |i| i["sha256"] == new.as_str());
    }
    eventually("each host sees both on the new version", || {
        let hosts = &a.plugin_info("locker")["hosts"];
        hosts["a"]["sha256"] == new.as_str() && hosts["b"]["sha256"] == new.as_str()
    });
    // Not a component: refused, nothing published.
    let (status, text) = b.upload_plugin("locker", b"not wasm at all").unwrap();
    assert_eq!(status, 422, "{text}");
    // Another world's component, put into the bucket by hand.
    let wrong = std::fs::read(built("chat.wasm")).unwrap();
    let url = nats.urls()[0].clone();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let client = async_nats::connect(url).await.unwrap();
            let js = async_nats::jetstream::new(client);
            let store = js.get_object_store("wasmgate_plugins").await.unwrap();
            store
                .put("locker.wasm", &mut wrong.as_slice())
                .await
                .unwrap();
        });
    for h in [&a, &b] {
        let info = h.wait_plugin("locker", "the refusal", |i| {
            i["last_reload_error"]
                .as_str()
                .is_some_and(|e| e.contains("cluster"))
        });
        assert_eq!(info["sha256"], new.as_str(), "{info}");
    }
    let mut board = LineClient::connect(a.addr("locker"));
    assert!(exchange(&mut board, &report("1", 1, &[])).ends_with("CLOSE\n"));
}

/// A host stopped with SIGTERM leaves at once: its liveness key goes with
/// it, so its users are announced gone long before `dead_after_ms` (a
/// minute here) would have told.
#[test]
fn a_stopped_host_leaves_without_waiting_for_its_ttl() {
    let nats = nats();
    let a = host(&nats, "a", 1, 60_000);
    let mut b = host(&nats, "b", 1, 60_000);
    let mut alice = chat(&a);
    alice.login_ok("alice");
    online_at(&b, "alice");
    let mut leaving = chat(&b);
    leaving.login_ok("leaving");
    assert_eq!(
        alice.recv(),
        json!({"Command":"30","LogOnUserName":"leaving","IsUserGuest":1})
    );
    assert!(b.terminate().success());
    // recv waits WAIT (20 s), a third of dead_after_ms.
    assert_eq!(
        alice.recv(),
        json!({"Command":"31","LogOutUserName":"leaving"})
    );
    let mut again = chat(&a);
    again.login_ok("leaving");
}

/// Sends `signal` (`-STOP`, `-CONT`) to the host's process.
fn signal(host: &Host, signal: &str) {
    let pid = host.pid().expect("host running").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A host that stops reading (a stalled process, an overloaded machine:
/// here SIGSTOP) is not buffered for without bound: the NATS server cuts
/// it off at its `max_pending` while the other host keeps sending to its
/// user; once it runs again it counts the lost connection, reconnects by
/// itself, and messages from the other host reach its user again. (What
/// was sent to it meanwhile is lost: core NATS is at most once; the
/// sender had receipt Flag 1, "queued".)
#[test]
fn a_host_that_stops_reading_is_cut_off_and_comes_back() {
    let nats =
        Nats::start_with("max_pending: 262144\nmax_payload: 65536\nwrite_deadline: \"2s\"\n")
            .unwrap_or_else(|e| panic!("{e:#}"));
    // Not declared dead while stopped: that is another test.
    let a = host(&nats, "a", 1, 60_000);
    let b = host(&nats, "b", 1, 60_000);
    let mut alice = chat(&a);
    alice.login_ok("alice");
    online_at(&b, "alice");
    let mut bob = chat(&b);
    bob.login_ok("bobby");
    assert_eq!(alice.recv()["Command"], "30");
    online_at(&a, "bobby");
    let before = b.metric("wasmgate_cluster_disconnects_total");

    signal(&b, "-STOP");
    let big = "x".repeat(1024);
    let mut sent = 0;
    while !nats.servers[0].log().contains("Slow Consumer") {
        for _ in 0..100 {
            alice.send(json!({"Command":"04","FriendName":"bobby","Message":big}));
            assert_eq!(alice.recv(), json!({"Command":"14","Flag":1}));
        }
        sent += 100;
        assert!(
            sent <= 20_000,
            "the NATS server never cut the stopped host off: {}",
            nats.servers[0].log()
        );
    }
    signal(&b, "-CONT");

    // From now on bobby keeps reading: B forwards to him what it had
    // received before it was cut off, and a client that leaves that
    // unread fills its outbox and is dropped as a slow consumer (which
    // A's users then see as bobby logging out, "31"). On a loaded machine
    // the test may still read slower than B forwards: then bobby is
    // dropped, and logs in again.
    let relogin = |bob: &mut Chat| {
        eventually("bobby logs in on B again", || {
            let mut again = chat(&b);
            if again.login("bobby")["Flag"] == 1 {
                *bob = again;
                return true;
            }
            false
        });
    };
    let drain = |bob: &mut Chat| loop {
        match bob.next_within(Duration::from_millis(20)) {
            Next::Msg(_) => {}
            Next::Nothing => return,
            Next::Closed => relogin(bob),
        }
    };
    eventually("B counted the lost connection", || {
        drain(&mut bob);
        b.metric("wasmgate_cluster_disconnects_total") > before
    });
    eventually("B connected again", || {
        drain(&mut bob);
        b.metric("wasmgate_cluster_connected") == 1.0
    });
    let mut n = 0;
    eventually("a message from A reaches bobby after B came back", || {
        n += 1;
        let text = format!("after {n}");
        alice.send(json!({"Command":"04","FriendName":"bobby","Message":text}));
        // (bobby dropped and back: A's users see him leave and come back)
        loop {
            let got = alice.recv();
            match got["Command"].as_str() {
                Some("14") => break,
                Some("30" | "31") => {}
                _ => panic!("alice got {got}"),
            }
        }
        // Skip what B had read before it was cut off.
        loop {
            match bob.next_within(Duration::from_millis(300)) {
                Next::Msg(m) if m["Message"] == text => return true,
                Next::Msg(_) => {}
                Next::Nothing => return false,
                Next::Closed => {
                    relogin(&mut bob);
                    return false;
                }
            }
        }
    });
}
