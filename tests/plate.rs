//! Plate recognition end to end: the real binary, a real WebSocket client
//! on loopback, frames built exactly as the original client's struct
//! formats (`!BB8s8sB80s` for login; `!B%ds19s32sI` + image for recognition).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::plate::{Ws, ask, read};
use common::{Host, Variant, WAIT, padded, recognition_body};
use serde_json::json;
use tungstenite::{Message, WebSocket};

/// `struct.pack("=BB8s8sB80s", 1, 0, city, park, server, token)`.
fn login(city: &str, park: &str, server: u8, token: &str) -> Vec<u8> {
    common::plate_login(city, park, server, token)
}

fn login_frame(token: &str) -> Vec<u8> {
    login("0571", "P001", 2, token)
}

/// The original client's login (City beijing, Park wanda, Server 6).
fn original_login(token: &str) -> Vec<u8> {
    login("beijing", "wanda", 6, token)
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
    common::plate::connect(host.addr(listener))
}

/// True once the server has closed the connection; false when it sends
/// something else or nothing within the read timeout.
fn closed<S: Read + Write>(ws: &mut WebSocket<S>) -> bool {
    loop {
        match ws.read() {
            Err(e) if common::timed_out(&e) => return false,
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
    tokens_of_the_original_server_log_in_and_minted_ones_pass_its_check,
    a_failed_login_may_be_retried_until_the_deadline,
    colour_names_in_chinese,
    main_plate_large_photo_and_no_plate_over_the_protocol,
]);

/// Two plugins of the real component (or its native build), each with its
/// own token key, behind two listeners; the second names colours in
/// Chinese (`color_names`, a listener setting: the component answers the
/// WIT enum `plate-colour`). The first has the default memory limit (64
/// MB), the second the shipped configuration's 256 MB.
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
memory_mb = 256
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
login_timeout_ms = 60000
color_names = "zh"
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
    // A token signed with another key: refused, then closed (at the
    // login deadline).
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
    let rss_kib = host.peak_rss_kib();
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

/// The original server's `generate_token` and `certify_token` (Python), run
/// with `python3`: `python3 - KEY generate TTL` prints a token,
/// `python3 - KEY certify TOKEN` prints True or False. `generate` writes
/// the expiry as the original's `str(time.time() + expire)` usually does,
/// with 7 decimals (an 80-character token, the whole field; `str` prints
/// the shortest repr, now and then fewer digits, which made this test
/// flaky); `generate-short` with 3 decimals (a shorter token, NUL-padded
/// in the 80-byte field).
const ORIGINAL_TOKENS_PY: &str = r#"
import base64, hmac, sys, time

def generate_token(key, expire=3600, ts_str=None):
    ts_str = ts_str or str(time.time() + expire)
    ts_byte = ts_str.encode("utf-8")
    sha1_tshexstr = hmac.new(key.encode("utf-8"), ts_byte, "sha1").hexdigest()
    token = ts_str + ":" + sha1_tshexstr
    return base64.urlsafe_b64encode(token.encode("utf-8")).decode("utf-8")

def certify_token(key, token):
    token_str = base64.urlsafe_b64decode(token).decode("utf-8")
    token_list = token_str.split(":")
    if len(token_list) != 2:
        return False
    ts_str = token_list[0]
    if float(ts_str) < time.time():
        return False
    calc = hmac.new(key.encode("utf-8"), ts_str.encode("utf-8"), "sha1").hexdigest()
    return calc == token_list[1]

key, op, arg = sys.argv[1:4]
if op == "generate":
    print(generate_token(key, ts_str="%.7f" % (time.time() + float(arg))))
elif op == "generate-short":
    print(generate_token(key, ts_str="%.3f" % (time.time() + float(arg))))
else:
    print(certify_token(key, arg))
"#;

fn original_tokens(key: &str, op: &str, arg: &str) -> String {
    let mut child = std::process::Command::new("python3")
        .args(["-", key, op, arg])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the original token code");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ORIGINAL_TOKENS_PY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn tokens_of_the_original_server_log_in_and_minted_ones_pass_its_check(v: &Variant) {
    let host = start_real(v);
    // A float expiry, 80 characters: the whole Token field, no NUL.
    let field = original_tokens("secret-key", "generate", "60");
    assert_eq!(field.len(), 80, "{field}");
    // A shorter expiry text: the field is NUL-padded.
    let short = original_tokens("secret-key", "generate-short", "60");
    assert!(short.len() < 80, "{short}");
    for token in [&field, &short] {
        let mut ws = connect(&host, "plate");
        assert_eq!(ask(&mut ws, original_login(token)), [2, 0, 0], "{token}");
        // The original client then sends its photo, bz2-compressed.
        let body = recognition_body("cam1", "20261202100000001", PHOTO);
        assert_eq!(
            ask(&mut ws, [vec![3, 1], bz2(&body)].concat()),
            success("cam1", "20261202100000001", "blue", "浙C58306")
        );
    }
    // Expired by a fraction of a second, another key: refused.
    let expired = original_tokens("secret-key", "generate", "-0.5");
    let other_key = original_tokens("another-key", "generate", "60");
    for token in [&expired, &other_key] {
        let mut ws = connect(&host, "plate");
        assert_eq!(ask(&mut ws, original_login(token)), [2, 0, 1], "{token}");
    }
    // What wasmgate mints has the original form: the original's
    // certify_token accepts it, under the right key only.
    let minted = mint(&host, "plate", 60);
    let text = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE, &minted).unwrap(),
    )
    .unwrap();
    let (expiry, _) = text.split_once(':').unwrap();
    assert!(expiry.contains('.'), "a float expiry: {text}");
    assert_eq!(original_tokens("secret-key", "certify", &minted), "True");
    assert_eq!(original_tokens("another-key", "certify", &minted), "False");
}

fn a_failed_login_may_be_retried_until_the_deadline(v: &Variant) {
    let host = start_real(v);
    let good = mint(&host, "plate", 60);
    // Refused, still open: the camera retries within the 2 s and gets in.
    let mut ws = connect(&host, "plate");
    let opened = Instant::now();
    assert_eq!(ask(&mut ws, original_login("wrong")), [2, 0, 1]);
    assert_eq!(ask(&mut ws, original_login(&good)), [2, 0, 0]);
    // A second login from the same City/Park/Server answers 0 ...
    assert_eq!(ask(&mut ws, original_login(&good)), [2, 0, 0]);
    // ... and the connection outlives the deadline, logged in.
    std::thread::sleep(Duration::from_millis(2200).saturating_sub(opened.elapsed()));
    let body = recognition_body("cam1", "id1", PHOTO);
    assert_eq!(
        ask(&mut ws, [vec![3, 0], body].concat()),
        success("cam1", "id1", "blue", "浙C58306")
    );
    // Another Park on the logged-in connection: 1, then closed.
    assert_eq!(ask(&mut ws, login("beijing", "xidan", 6, &good)), [2, 0, 1]);
    assert!(closed(&mut ws));

    // Three failures close the connection at once (no brute force within
    // the deadline, here a minute); a malformed login counts as one.
    let mut ws = connect(&host, "other");
    assert_eq!(ask(&mut ws, original_login("guess-1")), [2, 0, 1]);
    assert_eq!(ask(&mut ws, vec![1, 0, 1, 2, 3]), [2, 0, 1]);
    assert_eq!(ask(&mut ws, original_login(&good[..40])), [2, 0, 1]);
    assert!(closed(&mut ws), "closed after the third failure");
    // One failure and nothing more: closed by the deadline.
    let mut ws = connect(&host, "plate");
    assert_eq!(ask(&mut ws, original_login("wrong")), [2, 0, 1]);
    assert!(closed(&mut ws));
}

/// The host names the component's `plate-colour` as the listener says.
fn colour_names_in_chinese(v: &Variant) {
    let host = start_real(v);
    let mut ws = connect(&host, "other");
    assert_eq!(
        ask(&mut ws, login_frame(&mint(&host, "other", 60))),
        [2, 0, 0]
    );
    let body = recognition_body("gate-2", "20261122024500017", PHOTO);
    // 蓝 is 3 bytes of UTF-8, NUL-padded to the 8-byte Color field.
    let want = success("gate-2", "20261122024500017", "蓝", "浙C58306");
    assert_eq!(&want[3 + 6 + 19 + 1..][..8], b"\xe8\x93\x9d\0\0\0\0\0");
    assert_eq!(ask(&mut ws, [vec![3, 0], body].concat()), want);
}

/// The original served wss:// only, on /park1 and /park2: the plate
/// listener with `[listener.tls]`, any path, a TLS WebSocket client.
#[test]
fn wss_on_any_path() {
    // One failed login allowed here (login_attempts): the wrong token below
    // closes at once, within a minute's login deadline.
    let host = Host::start(
        &format!(
            "{VARIANT}login_attempts = 1\nlogin_timeout_ms = 60000\n[listener.tls]\nhandshake_timeout_ms = 5000\n"
        ),
        &[("plate_variant.wasm", "plate_variant.wasm")],
    );
    let cert = host.dir().join("tls/self-signed.crt");
    let addr = host.addr("plate");
    let wss = |path: &str| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(common::WAIT)).unwrap();
        let tls = rustls::StreamOwned::new(common::tls_client(&cert), tcp);
        let url = format!("wss://localhost:{}{path}", addr.port());
        tungstenite::client(url.as_str(), tls)
            .unwrap_or_else(|e| panic!("wss handshake on {path}: {e}"))
            .0
    };
    let mut ws = wss("/park1");
    assert_eq!(ask(&mut ws, original_login("wrong")), [2, 0, 1]);
    assert!(closed(&mut ws), "closed after login_attempts = 1 failure");
    for path in ["/park1", "/park2", "/"] {
        let mut ws = wss(path);
        assert_eq!(ask(&mut ws, original_login("test")), [2, 0, 0]);
        let body = recognition_body("cam01", "20261202100000001", b"\xff\xd8 jpeg");
        assert_eq!(
            ask(&mut ws, [vec![3, 1], bz2(&body)].concat()),
            success("cam01", "20261202100000001", "blue", "京A12345")
        );
    }
    // Plain ws:// to the TLS listener is not a WebSocket.
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(common::WAIT)).unwrap();
    assert!(tungstenite::client(format!("ws://{addr}/park1"), tcp).is_err());
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Through the host, over the real protocol: a photo with two cars
/// answers the main (near) plate, not the more confidently read far one
/// (the recogniser's synthetic fixture); a camera's 8 MP photo reads like
/// its small original, in 64 MB of memory (the recogniser's own decoder
/// needs more: the `image` crate's whole decode instead) and in 256 MB
/// (our decoder, located at reduced scale); a monochrome camera's grey
/// photo of a new-energy plate reads its 8 characters, green; a close-up
/// (a plate over half the photo's width) reads; a photo without a plate
/// answers errCode 0.
fn main_plate_large_photo_and_no_plate_over_the_protocol(v: &Variant) {
    let host = start_real(v);
    let mut ws = connect(&host, "plate");
    assert_eq!(ask(&mut ws, login_frame("camera-static-1")), [2, 0, 0]);
    let mut recognise = |identify: &str, image: &[u8]| {
        let body = recognition_body("gate-1", identify, image);
        ask(&mut ws, [vec![3, 1], bz2(&body)].concat())
    };
    let two_cars =
        std::fs::read(common::root().join("plugins/plate-recognizer/tests/fixtures/main-near.jpg"))
            .unwrap();
    assert_eq!(
        recognise("two-cars", &two_cars),
        success("gate-1", "two-cars", "blue", "新A3B765")
    );
    let large = image::load_from_memory(PHOTO)
        .unwrap()
        .resize_exact(3264, 2448, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let large = jpeg(&large);
    assert_eq!(
        recognise("eight-megapixel", &large),
        success("gate-1", "eight-megapixel", "blue", "浙C58306")
    );
    let mut roomy = connect(&host, "other");
    assert_eq!(
        ask(&mut roomy, login_frame(&mint(&host, "other", 60))),
        [2, 0, 0]
    );
    let body = recognition_body("gate-2", "eight-megapixel", &large);
    assert_eq!(
        ask(&mut roomy, [vec![3, 1], bz2(&body)].concat()),
        success("gate-2", "eight-megapixel", "蓝", "浙C58306")
    );
    // a monochrome (or infrared) camera's one-channel JPEG of a large
    // car's new-energy plate: its 8 characters, green by its text
    let green = image::load_from_memory(
        &std::fs::read(
            common::root()
                .join("plugins/plate-recognizer/tests/fixtures/green-large-苏E78342D.jpg"),
        )
        .unwrap(),
    )
    .unwrap()
    .to_luma8();
    let mut grey = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut grey, 90)
        .encode_image(&green)
        .unwrap();
    assert_eq!(
        recognise("monochrome", grey.get_ref()),
        success("gate-1", "monochrome", "green", "苏E78342D")
    );
    // a close-up: a Hong Kong plate over half the photo's width, which
    // only the recogniser's close-up pass finds
    let hk = image::load_from_memory(
        &std::fs::read(
            common::root().join("plugins/plate-recognizer/tests/fixtures/hkmo-粤Z3C16港.jpg"),
        )
        .unwrap(),
    )
    .unwrap()
    .to_rgb8();
    let close = image::imageops::crop_imm(&hk, 195, 166, 420, 240).to_image();
    assert_eq!(
        recognise("close-up", &jpeg(&close)),
        success("gate-1", "close-up", "black", "粤Z3C16港")
    );
    let street = image::RgbImage::from_fn(1280, 720, |x, y| {
        image::Rgb([(x / 5) as u8, (y / 3) as u8, 90])
    });
    assert_eq!(
        recognise("no-plate", &jpeg(&street)),
        failed("gate-1", "no-plate", 0)
    );
}
