//! The minimal plugin of each language (README, "Writing a plugin"): the
//! same `raw`-world echo in Rust (plugins/echo-raw), Python (plugins/echo-py)
//! and JavaScript (plugins/echo-js), each through the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Variant, WAIT};

const RUST: Variant = Variant {
    label: "rust",
    world: "raw",
    file: Some("echo_raw.wasm"),
    table: "",
};

const PYTHON: Variant = Variant {
    label: "python",
    world: "raw",
    file: Some("echo_py.wasm"),
    table: "",
};

const JS: Variant = Variant {
    label: "js",
    world: "raw",
    file: Some("echo_js.wasm"),
    table: "",
};

variant_tests!(rust => RUST, python => PYTHON, js => JS; [
    lines_come_back_with_the_configured_prefix,
    length_prefixed_binary_frames_come_back_byte_for_byte,
]);

fn config(v: &Variant, framing: &str) -> String {
    format!(
        r#"
[plugins.echo]
world = "raw"
{}
[plugins.echo.config]
prefix = "echo »"

[[listener]]
name = "echo"
protocol = "raw"
listen = "127.0.0.1:0"
plugin = "echo"
max_message_bytes = 1024
framing = {framing}
"#,
        v.table
    )
}

fn lines_come_back_with_the_configured_prefix(v: &Variant) {
    let host = v.start(
        &config(v, r#"{ kind = "terminator", terminator = "\n" }"#),
        "echo",
    );
    let mut c = common::LineClient::connect(host.addr("echo"));
    c.send("hello\nwörld 你好\n".as_bytes());
    assert_eq!(c.read_until(|_| true), "echo »hello\n");
    assert_eq!(c.read_until(|_| true), "echo »wörld 你好\n");
    assert_eq!(
        host.admin_ok("echo", serde_json::json!({})),
        serde_json::json!({"ok": true})
    );
}

fn length_prefixed_binary_frames_come_back_byte_for_byte(v: &Variant) {
    // A 2-byte big-endian length, then the body; the prefix goes in front of
    // the whole frame, so the echo is the prefix bytes and the frame.
    let host = v.start(
        &config(
            v,
            r#"{ kind = "length", length_bytes = 2, endian = "big" }"#,
        ),
        "echo",
    );
    let mut s = TcpStream::connect(host.addr("echo")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let body: Vec<u8> = (0..=255u8).collect();
    let frame = [&(body.len() as u16).to_be_bytes()[..], &body].concat();
    s.write_all(&frame).unwrap();
    let want = ["echo »".as_bytes(), &frame].concat();
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}
