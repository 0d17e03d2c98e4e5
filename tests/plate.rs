//! Plate recognition end to end: the real binary, a real WebSocket client
//! on loopback, frames built exactly as the original client's struct
//! formats (`!BB8s8sB80s` for login; `!B%ds19s32sI` + image for recognition).

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::time::Duration;

use common::{Host, Variant, WAIT};
use md5::{Digest, Md5};
use serde_json::json;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

fn padded(s: &str, width: usize) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.resize(width, 0);
    b
}

fn login_frame(token: &str) -> Vec<u8> {
    [
        vec![1, 0],
        padded("0571", 8),
        padded("P001", 8),
        vec![2],
        padded(token, 80),
    ]
    .concat()
}

fn recognition_body(camera: &str, identify: &str, image: &[u8]) -> Vec<u8> {
    let md5 = hex::encode(Md5::digest(image));
    [
        vec![camera.len() as u8],
        camera.as_bytes().to_vec(),
        padded(identify, 19),
        md5.into_bytes(),
        (image.len() as u32).to_be_bytes().to_vec(),
        image.to_vec(),
    ]
    .concat()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The expected success response, byte for byte.
fn success(camera: &str, identify: &str, color: &str, plate: &str) -> Vec<u8> {
    [
        vec![4, 0, camera.len() as u8],
        camera.as_bytes().to_vec(),
        padded(identify, 19),
        vec![0],
        padded(color, 8),
        padded(plate, 16),
    ]
    .concat()
}

fn failed(camera: &str, identify: &str, code: u8) -> Vec<u8> {
    [
        vec![4, 0, camera.len() as u8],
        camera.as_bytes().to_vec(),
        padded(identify, 19),
        vec![1, code],
    ]
    .concat()
}

fn connect(host: &Host, listener: &str) -> Ws {
    let addr = host.addr(listener);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tungstenite::client(format!("ws://{addr}/park1"), tcp)
        .unwrap()
        .0
}

/// The next binary message (pings are answered by tungstenite on read).
fn read(ws: &mut Ws) -> Vec<u8> {
    loop {
        match ws.read().unwrap() {
            Message::Binary(b) => return b.to_vec(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn ask(ws: &mut Ws, frame: Vec<u8>) -> Vec<u8> {
    ws.send(Message::binary(frame)).unwrap();
    read(ws)
}

/// True once the server has closed the connection.
fn closed(ws: &mut Ws) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => return true,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(_) => return false,
        }
    }
}

/// plugins/plate (with the recogniser) as a component.
const WASM: Variant = Variant {
    label: "wasm",
    world: "plate",
    file: Some("plate.wasm"),
    table: "",
};

/// The same logic compiled into the host.
const NATIVE: Variant = Variant {
    label: "native",
    world: "plate",
    file: None,
    table: "backend = \"native\"",
};

variant_tests!(wasm => WASM, native => NATIVE; [
    logins_tokens_and_the_login_deadline,
    the_real_recogniser_reads_a_photo_raw_and_bz2,
]);

/// Two plugins of the real component (or its native build), each with its
/// own token key, behind two listeners.
fn real(v: &Variant) -> String {
    format!(
        r#"
[plugins.plate]
world = "plate"
deadline_ms = 5000
config = {{ token_key = "secret-key", static_tokens = "camera-static-1, camera-static-2" }}
{table}
[plugins.other]
world = "plate"
file = "plate.wasm"
config = {{ token_key = "another-key" }}
{table}
[[listener]]
name = "plate"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "plate"
login_timeout_ms = 2000
[[listener]]
name = "other"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "other"
"#,
        table = v.table
    )
}

fn start_real(v: &Variant) -> Host {
    v.start(&real(v), "plate")
}

fn mint(host: &Host, plugin: &str, ttl_s: u64) -> String {
    host.admin_ok(plugin, json!({"op":"mint-token","ttl_s":ttl_s}))["token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn logins_tokens_and_the_login_deadline(v: &Variant) {
    let host = start_real(v);
    // A valid HMAC token, minted by the operator.
    let mut ws = connect(&host, "plate");
    assert_eq!(
        ask(&mut ws, login_frame(&mint(&host, "plate", 60))),
        [2, 0, 0]
    );
    // A static token from the config; compressed with bz2 this time.
    let mut ws = connect(&host, "plate");
    let f = login_frame("camera-static-2");
    assert_eq!(ask(&mut ws, [vec![1, 1], bz2(&f[2..])].concat()), [2, 0, 0]);
    // A token signed with another key: refused, then closed.
    let mut ws = connect(&host, "plate");
    assert_eq!(
        ask(&mut ws, login_frame(&mint(&host, "other", 60))),
        [2, 0, 1]
    );
    assert!(closed(&mut ws));
    // An expired token.
    let expiring = mint(&host, "plate", 1);
    std::thread::sleep(Duration::from_millis(2100));
    let mut ws = connect(&host, "plate");
    assert_eq!(ask(&mut ws, login_frame(&expiring)), [2, 0, 1]);
    assert!(closed(&mut ws));
    // A client that never logs in is closed after the deadline (2 s).
    let mut ws = connect(&host, "plate");
    assert!(closed(&mut ws));
    // Tokens never reach the log.
    assert!(!host.log().contains(&expiring) && !host.log().contains("camera-static-2"));
}

const VARIANT: &str = r#"
[plugins.plate]
world = "plate"
file = "plate_variant.wasm"
[[listener]]
name = "plate"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "plate"
max_message_bytes = 1048576
"#;

fn variant_host() -> Host {
    Host::start(VARIANT, &[("plate_variant.wasm", "plate_variant.wasm")])
}

fn logged_in(host: &Host, listener: &str) -> Ws {
    let mut ws = connect(host, listener);
    assert_eq!(ask(&mut ws, login_frame("test")), [2, 0, 0]);
    ws
}

#[test]
fn recognition_raw_and_bz2_byte_exact() {
    let host = variant_host();
    let mut ws = logged_in(&host, "plate");
    let image = b"\xff\xd8 pretend jpeg bytes";
    let body = recognition_body("cam01", "20261122013000001", image);
    let want = success("cam01", "20261122013000001", "blue", "京A12345");
    assert_eq!(ask(&mut ws, [vec![3, 0], body.clone()].concat()), want);
    assert_eq!(ask(&mut ws, [vec![3, 1], bz2(&body)].concat()), want);
}

#[test]
fn malformed_requests_get_their_err_codes() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        &format!("{VARIANT}\nimage_dir = {:?}\n", dir.path().join("images")),
        &[("plate_variant.wasm", "plate_variant.wasm")],
    );
    // Not logged in → 8.
    let mut ws = connect(&host, "plate");
    let body = recognition_body("cam", "id1", b"img");
    assert_eq!(
        ask(&mut ws, [vec![3, 0], body.clone()].concat()),
        failed("cam", "id1", 8)
    );
    assert_eq!(ask(&mut ws, login_frame("test")), [2, 0, 0]);
    // MD5 mismatch → 7.
    let mut bad = body.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    assert_eq!(
        ask(&mut ws, [vec![3, 0], bad].concat()),
        failed("cam", "id1", 7)
    );
    // Wrong ImageLen (says 3, 2 sent) and a truncated body → 6.
    assert_eq!(
        ask(
            &mut ws,
            [vec![3, 0], body[..body.len() - 1].to_vec()].concat()
        ),
        failed("cam", "id1", 6)
    );
    assert_eq!(
        ask(&mut ws, [vec![3, 0], body[..10].to_vec()].concat()),
        failed("cam", "", 6)
    );
    // Unknown type → 6; a text frame → 6.
    assert_eq!(ask(&mut ws, vec![9, 0, 1, 2]), failed("", "", 6));
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(read(&mut ws), failed("", "", 6));
    // The connection still serves, and the image was saved.
    assert_eq!(
        ask(&mut ws, [vec![3, 0], body].concat()),
        success("cam", "id1", "blue", "京A12345")
    );
    assert_eq!(
        std::fs::read(dir.path().join("images/cam_id1.bin")).unwrap(),
        b"img"
    );
}

#[test]
fn bz2_bomb_is_refused_and_memory_stays_bounded() {
    let host = variant_host();
    let mut ws = logged_in(&host, "plate");
    // ~2 GiB of zeros compressed to a few KiB; the cap is 1 MiB.
    let bomb = bz2(&vec![0u8; 256 << 20]);
    for _ in 0..4 {
        assert_eq!(
            ask(&mut ws, [vec![3, 1], bomb.clone()].concat()),
            failed("", "", 6)
        );
    }
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", host.pid()))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap())
        })
        .unwrap();
    assert!(
        rss_kib < 256 * 1024,
        "peak RSS {rss_kib} KiB: the bomb was expanded"
    );
}

#[test]
fn deadline_and_saturation_are_protocol_answers() {
    // Deadline 400 ms, one slot, no queue.
    let body = format!(
        "{}\n",
        r#"
[plugins.slow]
world = "plate"
file = "plate_variant.wasm"
deadline_ms = 400
max_concurrency = 1
queue_timeout_ms = 0
config = { mode = "slow", delay_ms = "3000" }
[[listener]]
name = "slow"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "slow"
"#
    );
    let host = Host::start(&body, &[("plate_variant.wasm", "plate_variant.wasm")]);
    let mut a = logged_in(&host, "slow");
    let mut b = logged_in(&host, "slow");
    let frame = [vec![3, 0], recognition_body("cam", "id", b"img")].concat();
    // Past the deadline → failed, errCode 1.
    assert_eq!(ask(&mut a, frame.clone()), failed("cam", "id", 1));
    // While a recognition holds the only slot, another is refused at once: status 3.
    a.send(Message::binary(frame.clone())).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let refuse = [vec![4, 0, 3], b"cam".to_vec(), padded("id", 19), vec![3]].concat();
    assert_eq!(ask(&mut b, frame), refuse);
    assert_eq!(read(&mut a), failed("cam", "id", 1));
}

#[test]
fn hot_reload_between_two_recognitions() {
    let host = start_real(&WASM);
    let mut ws = connect(&host, "plate");
    assert_eq!(ask(&mut ws, login_frame("camera-static-1")), [2, 0, 0]);
    let frame = [vec![3, 0], recognition_body("cam", "id", b"not an image")].concat();
    // The real recogniser cannot read these bytes: failed, errCode 4.
    assert_eq!(ask(&mut ws, frame.clone()), failed("cam", "id", 4));
    let before = host.plugin_info("plate");
    host.replace_plugin(
        "plate.wasm",
        &std::fs::read(common::built("plate_variant.wasm")).unwrap(),
    );
    host.wait_plugin("plate", "swap", |p| p["sha256"] != before["sha256"]);
    // Same connection, still logged in, new behaviour.
    assert_eq!(
        ask(&mut ws, frame),
        success("cam", "id", "blue", "京A12345")
    );
}

#[test]
fn keepalive_pings_close_a_silent_peer() {
    let body = format!("{VARIANT}heartbeat_ms = 100\nlogin_timeout_ms = 60000\n");
    let host = Host::start(&body, &[("plate_variant.wasm", "plate_variant.wasm")]);
    // A peer that reads (and so answers pings) stays connected...
    let mut alive = logged_in(&host, "plate");
    let mut silent = logged_in(&host, "plate");
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1000) {
        alive
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let _ = alive.read(); // answers the pings it sees
    }
    // ...one that never answered 5 pings in a row has been closed.
    assert!(closed(&mut silent));
    alive.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    let frame = [vec![3, 0], recognition_body("cam", "id", b"img")].concat();
    assert_eq!(
        ask(&mut alive, frame),
        success("cam", "id", "blue", "京A12345")
    );
}

/// A synthetic photo made by `render-plate` from the GA 36 glyphs (see
/// plugins/plate-recognizer/src/bin/render-plate.rs): the real recogniser,
/// inside the real component, reads it.
const PHOTO: &[u8] = include_bytes!("data/plate-浙C58306.jpg");

fn the_real_recogniser_reads_a_photo_raw_and_bz2(v: &Variant) {
    let host = start_real(v);
    let mut ws = connect(&host, "plate");
    assert_eq!(ask(&mut ws, login_frame("camera-static-1")), [2, 0, 0]);
    let body = recognition_body("gate-2", "20261122024500017", PHOTO);
    let want = success("gate-2", "20261122024500017", "blue", "浙C58306");
    assert_eq!(ask(&mut ws, [vec![3, 0], body.clone()].concat()), want);
    assert_eq!(ask(&mut ws, [vec![3, 1], bz2(&body)].concat()), want);
}

#[test]
fn a_failed_image_save_answers_3_and_the_result_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let host = Host::start(
        &format!("{VARIANT}\nimage_dir = {images:?}\n"),
        &[("plate_variant.wasm", "plate_variant.wasm")],
    );
    // The directory disappears under the running host; a file takes its place.
    std::fs::remove_dir_all(&images).unwrap();
    std::fs::write(&images, b"not a directory").unwrap();
    let mut ws = logged_in(&host, "plate");
    let frame = [vec![3, 0], recognition_body("cam9", "id9", b"img")].concat();
    assert_eq!(ask(&mut ws, frame), failed("cam9", "id9", 3));
    let log = host.log();
    assert!(log.contains("image not saved"), "{log}");
    assert!(
        log.contains("京A12345"),
        "the recognition result is in the log:\n{log}"
    );
}
