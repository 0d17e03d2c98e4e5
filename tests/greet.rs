//! The greeting protocol, the README's "Add a protocol" example, through
//! the real binary: greetings from the component, the protocol's error line
//! for bad input and for the plugin's refusal, over plain TCP.

mod common;

use common::{Host, LineClient};

#[test]
fn hello_gets_the_plugins_greeting_and_bad_lines_get_an_error() {
    let host = Host::start(
        r#"
[plugins.greet]
world = "greet"
[plugins.greet.config]
greeting = "Welcome"

[[listener]]
name = "greet"
protocol = "greet"
listen = "127.0.0.1:0"
plugin = "greet"
max_message_bytes = 128
"#,
        &[("greet.wasm", "greet.wasm")],
    );
    let mut c = LineClient::connect(host.addr("greet"));
    c.send(b"HELLO ann\r\nHI THERE\nHELLO ");
    assert_eq!(c.read_until(|_| true), "Welcome, ann!\n");
    assert_eq!(c.read_until(|_| true), "ERROR expected HELLO <name>\n");
    // The rest of a line split across writes.
    c.send(b"bob\n");
    assert_eq!(c.read_until(|_| true), "Welcome, bob!\n");
    // The component refuses a long name: its reason, and the connection lives.
    c.send(format!("HELLO {}\n", "x".repeat(70)).as_bytes());
    assert_eq!(c.read_until(|_| true), "ERROR name longer than 64 bytes\n");
    c.send(format!("HELLO {}\n", "y".repeat(200)).as_bytes());
    assert_eq!(c.read_until(|_| true), "ERROR line too long\n");
    c.send(b"HELLO cy\n");
    assert_eq!(c.read_until(|_| true), "Welcome, cy!\n");
    assert_eq!(
        host.metric("wasmgate_malformed_total{listener=\"greet\",protocol=\"greet\"}"),
        2.0
    );
}
