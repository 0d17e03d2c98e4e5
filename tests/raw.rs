//! Protocols defined in configuration alone: generic framings and `raw`
//! components, over real sockets through the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Host, LineClient, WAIT};

const ROOMS: &str = r#"
[plugins.rooms]
world = "raw"
[[listener]]
name = "rooms"
protocol = "raw"
listen = "127.0.0.1:0"
plugin = "rooms"
max_message_bytes = 256
error_reply = "ERR {reason}"
framing = { kind = "terminator", terminator = "\n" }
"#;

fn line(c: &mut LineClient) -> String {
    c.read_until(|_| true).trim_end().to_string()
}

fn say(c: &mut LineClient, text: &str) -> String {
    c.send(format!("{text}\n").as_bytes());
    line(c)
}

fn user(host: &Host, nick: &str, room: &str) -> LineClient {
    let mut c = LineClient::connect(host.addr("rooms"));
    assert!(line(&mut c).starts_with("HELLO"));
    assert_eq!(
        say(&mut c, &format!("NICK {nick}")),
        format!("OK nick {nick}")
    );
    assert_eq!(
        say(&mut c, &format!("JOIN {room}")),
        format!("OK joined {room}")
    );
    c
}

#[test]
fn rooms_example_routes_through_host_sessions() {
    let host = Host::start(ROOMS, &[("rooms.wasm", "rooms.wasm")]);
    let mut ann = user(&host, "ann", "lobby");
    let mut bob = user(&host, "bob", "lobby");
    assert_eq!(line(&mut ann), "* bob joined lobby");
    let mut cid = user(&host, "cid", "attic");

    // SAY reaches the others in the room, not the sender, not other rooms.
    ann.send(b"SAY hello there\n");
    assert_eq!(line(&mut bob), "ann: hello there");
    assert_eq!(
        say(&mut ann, "WHO"),
        "IN lobby: ann bob",
        "ann got nothing else first"
    );
    assert_eq!(say(&mut cid, "WHO"), "IN attic: cid");

    // A nickname is unique among connected users; errors use error_reply.
    let mut dup = LineClient::connect(host.addr("rooms"));
    line(&mut dup);
    assert_eq!(say(&mut dup, "NICK ann"), "ERR nickname ann is taken");
    assert!(say(&mut dup, "DANCE").starts_with("ERR unknown command"));
    assert!(
        say(&mut dup, &format!("SAY {}", "x".repeat(300))).starts_with("ERR frame over 256 bytes")
    );
    assert!(
        say(&mut dup, "WHO").starts_with("ERR join a room first"),
        "the connection lives on"
    );

    // A killed connection leaves its room; its nickname is free again.
    drop(bob);
    assert_eq!(line(&mut ann), "* bob left lobby");
    assert_eq!(say(&mut dup, "NICK bob"), "OK nick bob");

    // QUIT: BYE, then the server closes.
    assert_eq!(say(&mut cid, "QUIT"), "BYE");
    assert!(cid.is_closed(WAIT));
}

#[test]
fn hot_swap_of_a_raw_component_keeps_sessions() {
    let host = Host::start(ROOMS, &[("rooms.wasm", "rooms.wasm")]);
    let mut ann = user(&host, "ann", "lobby");
    let mut bob = user(&host, "bob", "lobby");
    assert_eq!(line(&mut ann), "* bob joined lobby");
    let before = host.plugin_info("rooms");
    // Same component, different bytes (a custom section appended): a new version.
    let mut bytes = std::fs::read(common::built("rooms.wasm")).unwrap();
    bytes.extend_from_slice(&[0, 4, 3, b'v', b'2', b'x']);
    host.replace_plugin("rooms.wasm", &bytes);
    host.wait_plugin("rooms", "swap", |p| {
        p["sha256"] != before["sha256"] && p["generation"] == 2
    });
    ann.send(b"SAY still here\n");
    assert_eq!(line(&mut bob), "ann: still here");
    assert_eq!(say(&mut bob, "WHO"), "IN lobby: ann bob");
}

fn echo_host(framing: &str, extra: &str) -> Host {
    Host::start(
        &format!(
            r#"
            [plugins.echo]
            world = "raw"
            file = "echo_raw.wasm"
            config = {{ prefix = "" }}
            [[listener]]
            name = "echo"
            protocol = "raw"
            listen = "127.0.0.1:0"
            plugin = "echo"
            max_message_bytes = 64
            framing = {framing}
            {extra}
            "#
        ),
        &[("echo_raw.wasm", "echo_raw.wasm")],
    )
}

fn read_exact(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn length_prefixed_frames_with_a_command_word() {
    // command u32 LE, length u32 LE (body only), body — the smart-home shape.
    let host = echo_host(
        r#"{ kind = "length", length_bytes = 4, endian = "little", offset = 4 }"#,
        "",
    );
    let mut s = TcpStream::connect(host.addr("echo")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let frame = |cmd: u32, body: &[u8]| {
        [
            &cmd.to_le_bytes()[..],
            &(body.len() as u32).to_le_bytes(),
            body,
        ]
        .concat()
    };
    let (a, b) = (frame(0x4c, b"hello"), frame(7, b""));
    for byte in &a {
        s.write_all(&[*byte]).unwrap(); // split byte by byte
    }
    assert_eq!(read_exact(&mut s, a.len()), a);
    s.write_all(&[a.clone(), b.clone()].concat()).unwrap(); // two in one write
    assert_eq!(read_exact(&mut s, a.len() + b.len()), [a, b].concat());

    // A length over the cap: the stream cannot be resynchronised, so the
    // connection closes.
    s.write_all(&frame(1, &[0; 100])).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let mut again = TcpStream::connect(host.addr("echo")).unwrap();
    again.set_read_timeout(Some(WAIT)).unwrap();
    again.write_all(&frame(2, b"ok")).unwrap();
    assert_eq!(
        read_exact(&mut again, 10),
        frame(2, b"ok"),
        "the host serves on"
    );
}

#[test]
fn fixed_size_frames() {
    let host = echo_host(r#"{ kind = "fixed", size = 8 }"#, "");
    let mut s = TcpStream::connect(host.addr("echo")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"abcdefgh1234").unwrap();
    assert_eq!(read_exact(&mut s, 8), b"abcdefgh");
    s.write_all(b"5678").unwrap();
    assert_eq!(read_exact(&mut s, 8), b"12345678");
}

#[test]
fn multi_byte_terminator_over_tls() {
    let host = echo_host(
        r#"{ kind = "terminator", terminator = "CLOSE\n" }"#,
        "[listener.tls]\n",
    );
    let conn = common::tls_client(&host.dir().join("tls/self-signed.crt"));
    let tcp = TcpStream::connect(host.addr("echo")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"ACon_V1.0\nID=1\nCLOSE\nsecondCLO").unwrap();
    tls.write_all(b"SE\n").unwrap();
    let mut got = Vec::new();
    let want = b"ACon_V1.0\nID=1\nCLOSE\nsecondCLOSE\n";
    while got.len() < want.len() {
        let mut chunk = [0u8; 256];
        let n = tls.read(&mut chunk).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, want);
}

#[test]
fn websocket_messages_as_frames() {
    let host = echo_host(
        r#"{ kind = "websocket", text = true }"#,
        "ws_path = \"/echo\"",
    );
    let addr = host.addr("echo");
    // tungstenite's handshake error carries the whole HTTP response.
    #[allow(clippy::result_large_err)]
    let connect = |path: &str| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tungstenite::client(format!("ws://{addr}{path}"), tcp)
    };
    let (mut ws, _) = connect("/echo").unwrap();
    ws.send(tungstenite::Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hello"));
    // Bytes that are not UTF-8 go back as a binary message.
    ws.send(tungstenite::Message::binary(vec![0xff, 0x00]))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::binary(vec![0xff, 0x00])
    );
    // Over max_message_bytes (64): the connection ends.
    ws.send(tungstenite::Message::text("x".repeat(100)))
        .unwrap();
    assert!(matches!(
        ws.read(),
        Err(_) | Ok(tungstenite::Message::Close(_))
    ));
    // Another path is refused at the handshake.
    assert!(connect("/other").is_err());
}
