//! The operator console (`/ui/` on the admin port) in a real browser:
//! headless Chromium from Debian, driven over WebDriver by `chromedriver`,
//! against the real binary with every protocol's plugin, and real clients
//! beside it (a locker board on TCP, a plate camera and an exec client on
//! WebSocket, a chat user). Each test writes a screenshot of what it
//! checked to `target/console-screenshots/` for a reviewer.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's
//! `chromium` and `chromium-driver`; `.ci/run` installs them).

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::locker::{exchange, report};
use common::{Host, LineClient, WAIT, plate_login, recognition_body};
use serde_json::{Value, json};

const TOKEN: &str = "console-test-token-0123456789";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

// ---- the browser ---------------------------------------------------------------

/// A headless Chromium under its own chromedriver (free port, fresh
/// profile), both ended when dropped.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// A WebDriver element reference's key (W3C).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: apt-get install chromium chromium-driver (.ci/run does)"
            );
        }
        let profile = tempfile::tempdir().unwrap();
        let (mut driver, addr) = Self::driver();
        let deadline = Instant::now() + WAIT;
        while wd(addr, "GET", "/status", "").is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,1000",
                    "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let v = wd(addr, "POST", "/session", &caps.to_string())
            .unwrap_or_else(|e| panic!("new session: {e}"));
        let session = v["sessionId"].as_str().unwrap().to_string();
        Browser {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    /// chromedriver on a free port (retried: another test may take the
    /// port between our probe and its bind).
    fn driver() -> (Child, SocketAddr) {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            std::thread::sleep(Duration::from_millis(200));
            if child.try_wait().unwrap().is_none() {
                return (child, SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
        panic!("chromedriver found no free port");
    }

    /// One WebDriver command of this session; its `value`.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        wd(self.addr, method, &path, &body)
    }

    fn open(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page; what it returns.
    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// `act` on the element `css` (a command path below `/element/{id}`).
    /// The page redraws its tables every few seconds, so an element found
    /// may be replaced before it is used: it is then found again.
    fn on(&self, css: &str, method: &str, act: &str, body: Value) -> Value {
        for _ in 0..20 {
            let e = self.find(css);
            match self.try_cmd(method, &format!("/element/{e}{act}"), body.clone()) {
                Err(err) if err.contains("stale element") => continue,
                other => return other.unwrap_or_else(|err| panic!("{css} {act}: {err}")),
            }
        }
        panic!("{css}: replaced every time it was found");
    }

    fn click(&self, css: &str) {
        self.on(css, "POST", "/click", json!({}));
    }

    /// Types into an input (after clearing it), as a user does.
    fn type_in(&self, css: &str, text: &str) {
        self.on(css, "POST", "/clear", json!({}));
        self.on(css, "POST", "/value", json!({ "text": text }));
    }

    fn text(&self, css: &str) -> String {
        self.on(css, "GET", "/text", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the JavaScript expression `expr` is truthy; its value.
    fn wait_for(&self, what: &str, expr: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(&format!(
                "try {{ return ({expr}) || null; }} catch (e) {{ return null; }}"
            ));
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                started.elapsed() < WAIT,
                "{what}: not seen in the page within {WAIT:?}; page says: {}",
                self.js("return document.querySelector('main').innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page as a PNG in `target/console-screenshots/NAME.png`, and a
    /// small JPEG beside it (`NAME.jpg`, 60 %: what the README shows).
    fn screenshot(&self, name: &str) -> PathBuf {
        let dir = common::root().join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let png = b64
            .decode(self.cmd("GET", "/screenshot", json!({})).as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        // the whole page (up to 1400 px), at 60 %
        let height = self
            .js("return Math.min(document.documentElement.scrollHeight, 1400)")
            .as_u64()
            .unwrap();
        let small = self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Page.captureScreenshot", "params": {
                "format": "jpeg", "quality": 70, "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": 1200, "height": height, "scale": 0.6},
            }}),
        );
        let jpeg = b64.decode(small["data"].as_str().unwrap()).unwrap();
        assert!(jpeg.starts_with(&[0xff, 0xd8]), "a JPEG");
        std::fs::write(dir.join(format!("{name}.jpg")), jpeg).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = wd(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver request; the answer's `value`, or its error.
fn wd(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<Value, String> {
    let (status, text) = wasmgate_testkit::http::request(addr, method, path, &[], body, WAIT)
        .map_err(|e| format!("{e:#}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if status != 200 {
        return Err(format!("{status}: {}", v["value"]));
    }
    Ok(v["value"].clone())
}

// ---- the host ------------------------------------------------------------------

/// Every protocol's real plugin, the admin API behind a token, and the
/// plate listener keeping images.
fn start_host() -> (Host, tempfile::TempDir) {
    let images = tempfile::tempdir().unwrap();
    let body = format!(
        r#"
[plugins.locker]
world = "locker"
[plugins.plate]
world = "plate"
deadline_ms = 5000
config = {{ token_key = "plate-key" }}
[plugins.exec]
world = "exec"
[plugins.chat]
world = "chat"
[plugins.smarthome]
world = "smarthome"

[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"
[[listener]]
name = "plate"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "plate"
image_dir = {:?}
[[listener]]
name = "exec"
protocol = "exec"
listen = "127.0.0.1:0"
plugin = "exec"
[[listener]]
name = "chat"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
[[listener]]
name = "smarthome"
protocol = "smarthome"
listen = "127.0.0.1:0"
plugin = "smarthome"
"#,
        images.path()
    );
    let host = Host::start_custom(
        &body,
        &[
            ("locker.wasm", "locker.wasm"),
            ("plate.wasm", "plate.wasm"),
            ("exec.wasm", "exec.wasm"),
            ("chat.wasm", "chat.wasm"),
            ("smarthome.wasm", "smarthome.wasm"),
        ],
        &format!("token = {TOKEN:?}"),
        &[],
        WAIT,
    );
    (host, images)
}

/// An admin call with the token, outside the browser; the JSON answer.
fn admin(host: &Host, plugin: &str, body: Value) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let (status, text) = host
        .request_with(
            "POST",
            &format!("/admin/{plugin}"),
            &[("Authorization", &auth)],
            body.to_string(),
        )
        .unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn console_url(host: &Host) -> String {
    format!("http://{}/ui/", host.admin_addr())
}

/// Opens the console and logs in with the token.
fn logged_in(host: &Host) -> Browser {
    let b = Browser::start();
    b.open(&console_url(host));
    b.wait_for("the login form", "document.getElementById('token')");
    b.type_in("#token", TOKEN);
    b.click("#login-btn");
    b.wait_for(
        "the overview after login",
        "!document.getElementById('page-overview').hidden && document.querySelector('#plugins-table tbody tr')",
    );
    b
}

// ---- the scenarios -----------------------------------------------------------------

/// A wrong token is refused with a message; the right one opens the
/// console. The token is in the tab's sessionStorage, never in the URL or
/// the host's log; a reload keeps the session, logging out forgets it.
#[test]
fn login_with_the_token_and_only_the_token() {
    let (host, _images) = start_host();
    let b = Browser::start();
    b.open(&console_url(&host));
    b.wait_for("the login form", "document.getElementById('token')");
    // The page itself carries its security headers and no token.
    let (status, page) = host.get("/ui/");
    assert_eq!(status, 200);
    assert!(page.contains("login-form") && !page.contains(TOKEN));

    b.type_in("#token", "not-the-token");
    b.click("#login-btn");
    let msg = b.wait_for(
        "the refusal",
        "document.getElementById('login-msg').textContent",
    );
    assert!(msg.as_str().unwrap().contains("refused"), "{msg}");
    assert!(
        !b.js("return document.getElementById('nav').hidden == false")
            .as_bool()
            .unwrap()
    );

    b.type_in("#token", TOKEN);
    b.click("#login-btn");
    b.wait_for(
        "the plugins table",
        "document.querySelectorAll('#plugins-table tbody tr').length == 5",
    );
    let url = b.js("return location.href");
    assert!(!url.as_str().unwrap().contains(TOKEN), "{url}");
    assert_eq!(
        b.js("return sessionStorage.getItem('wasmgate.admin-token')"),
        json!(TOKEN)
    );
    assert_eq!(
        b.js("return document.getElementById('token').value"),
        json!(""),
        "the form field is cleared"
    );
    // The overview: health, plugins with their world, listeners from the
    // metrics, the charts once two samples are in.
    assert_eq!(b.text("#health"), "ok");
    for p in ["locker", "plate", "exec", "chat", "smarthome"] {
        let row = b.text(&format!("#plugins-table tr[data-plugin='{p}']"));
        assert!(row.contains(p) && row.contains("yes"), "{row}");
    }
    b.wait_for(
        "the listeners table",
        "document.querySelectorAll('#listeners-table tbody tr').length == 5",
    );
    // A reload of the page keeps the session (same tab).
    b.js("location.reload()");
    b.wait_for(
        "the console after a page reload",
        "document.querySelectorAll('#plugins-table tbody tr').length == 5",
    );
    // Traffic: a board reporting every 300 ms shows as a message rate on
    // its listener and in the chart of messages/s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (addr, stop) = (host.addr("locker"), stop.clone());
        std::thread::spawn(move || {
            let mut board = LineClient::connect(addr);
            let mut send = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                send += 1;
                exchange(&mut board, &report("7", send, &[]));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let rate = b.wait_for(
        "the locker listener's rate",
        "samples.length >= 3 && parseFloat(document.querySelector('#listeners-table tr[data-listener=\"locker\"] td:nth-child(4)').textContent)",
    );
    assert!(rate.as_f64().unwrap() > 1.0, "{rate}");
    std::thread::sleep(Duration::from_secs(4)); // a longer line in the chart
    b.screenshot("overview");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().unwrap();
    b.click("#logout");
    b.wait_for(
        "the login form after logging out",
        "!document.getElementById('page-login').hidden",
    );
    assert_eq!(
        b.js("return sessionStorage.getItem('wasmgate.admin-token')"),
        Value::Null
    );
    let log = host.log();
    assert!(!log.contains(TOKEN), "the token is never logged");
    assert!(log.contains("without a valid token"), "the wrong token was");
}

/// A board reports over TCP; the page lists it; a code assigned in the
/// page reaches the board in its next answer, and after that report the
/// grid shows the code with its minutes in the right cell. Refusals show
/// the plugin's message; block is seen by the board.
#[test]
fn locker_code_assigned_in_the_page_reaches_the_board_and_the_grid() {
    let (host, _images) = start_host();
    let mut board = LineClient::connect(host.addr("locker"));
    // 4 x 2 cells, ACT_CON=1111,1011
    let answer = exchange(&mut board, &report("1953", 1, &[]));
    assert!(!answer.contains("BOX_ENG"), "{answer}");

    let b = logged_in(&host);
    b.click("#nav-locker");
    b.wait_for(
        "the board in the list",
        "document.querySelector('#boards-table tr[data-device=\"1953\"]')",
    );
    let row = b.text("#boards-table tr[data-device='1953']");
    assert!(row.contains("4×2") && row.contains("ago"), "{row}");
    b.wait_for(
        "the grid",
        "document.querySelectorAll('#grid .cell').length == 8",
    );
    // ACT_CON row 2 is 1011: cell 6 has no lock.
    let cls = b.js("return document.querySelector('#grid .cell[data-cell=\"6\"]').className");
    assert!(cls.as_str().unwrap().contains("nolock"), "{cls}");

    // Out of range: the plugin's own message.
    b.type_in("#assign-cell", "9");
    b.type_in("#assign-code", "4321");
    b.type_in("#assign-minutes", "90");
    b.click("#assign-btn");
    let msg = b.wait_for(
        "the refusal",
        "document.querySelector('#locker-msg.error') && document.getElementById('locker-msg').textContent",
    );
    assert!(
        msg.as_str().unwrap().contains("cell 9 is out of range"),
        "{msg}"
    );

    // Cell 7 of 8, by clicking it in the grid.
    b.click("#grid .cell[data-cell='7']");
    assert_eq!(
        b.js("return document.getElementById('assign-cell').value"),
        json!("7")
    );
    b.click("#assign-btn");
    b.wait_for("the assignment", "document.querySelector('#locker-msg.ok')");
    // The board's next report gets the code...
    let answer = exchange(&mut board, &report("1953", 2, &["BOX_ACC=3"]));
    assert!(answer.contains("BOX_ENG=(7,4321,90)"), "{answer}");
    // ...and the grid shows it, and the opening of cell 3.
    b.wait_for(
        "the code in cell 7",
        "document.querySelector('#grid .cell.active[data-cell=\"7\"]') && document.querySelector('#grid .cell[data-cell=\"7\"]').innerText.includes('4321')",
    );
    let cell = b.text("#grid .cell[data-cell='7']");
    assert!(cell.contains("90 min"), "{cell}");
    b.wait_for(
        "the opening of cell 3",
        "document.querySelector('#grid .cell.opened[data-cell=\"3\"]') && document.querySelector('#history-table tbody tr')",
    );
    assert_eq!(b.text("#history-table tbody tr td:nth-child(2)"), "3");

    // Block from the page: the board's next answer says STATE=3.
    b.click("#block-btn");
    b.wait_for(
        "blocked",
        "document.getElementById('locker-msg').textContent.includes('blocked')",
    );
    let answer = exchange(&mut board, &report("1953", 3, &[]));
    assert!(answer.contains("STATE=3"), "{answer}");
    b.wait_for(
        "the board listed as blocked",
        "document.querySelector('#boards-table tr[data-device=\"1953\"]').innerText.includes('blocked')",
    );
    // A code that has run out shows as expired (for an hour).
    admin(
        &host,
        "locker",
        json!({"op":"assign","device":"1953","cell":8,"code":"555","seconds":1}),
    );
    std::thread::sleep(Duration::from_millis(1100));
    b.wait_for(
        "cell 8 expired",
        "document.querySelector('#grid .cell.expired[data-cell=\"8\"]') && document.querySelector('#grid .cell[data-cell=\"8\"]').innerText.includes('555')",
    );
    b.screenshot("locker");
    // Revoke from the page: gone from the board's next answer.
    b.type_in("#assign-cell", "7");
    b.click("#revoke-btn");
    b.wait_for(
        "revoked",
        "document.getElementById('locker-msg').textContent == 'revoked'",
    );
    assert!(!exchange(&mut board, &report("1953", 4, &[])).contains("BOX_ENG"));
}

/// A camera token minted in the page logs a real camera in; the photo it
/// sends appears in the page with its plate and the plate's box drawn on
/// the image, which the page fetched from the host with the token.
#[test]
fn a_recognition_appears_with_its_photo_and_box() {
    let (host, images) = start_host();
    let b = logged_in(&host);
    b.click("#nav-plate");
    b.wait_for(
        "the plate page",
        "!document.getElementById('page-plate').hidden",
    );
    b.type_in("#mint-ttl", "999999999999");
    b.click("#mint-btn");
    let msg = b.wait_for(
        "the refusal",
        "document.querySelector('#plate-msg.error') && document.getElementById('plate-msg').textContent",
    );
    assert!(msg.as_str().unwrap().contains("ttl_s"), "{msg}");
    b.type_in("#mint-ttl", "600");
    b.click("#mint-btn");
    let token = b.wait_for(
        "the minted token",
        "!document.getElementById('minted').hidden && document.getElementById('minted-token').value",
    );
    let token = token.as_str().unwrap().to_string();

    // The camera: login with that token, then the photo.
    let mut ws = common::plate::connect(host.addr("plate"));
    let mut ask = |frame: Vec<u8>| common::plate::ask(&mut ws, frame);
    assert_eq!(ask(plate_login("0571", "P001", 2, &token)), [2, 0, 0]);
    let photo = std::fs::read(common::root().join("tests/data/plate-浙C58306.jpg")).unwrap();
    let answer = ask([
        vec![3, 0],
        recognition_body("cam01", "20261202101500001", &photo),
    ]
    .concat());
    assert_eq!(answer[answer.len() - 25], 0, "status success");
    assert!(images.path().join("cam01_20261202101500001.jpg").exists());

    b.wait_for(
        "the recognition in the table",
        "document.querySelector('#recent-table tbody tr[data-camera=\"cam01\"]')",
    );
    let row = b.text("#recent-table tbody tr[data-camera='cam01']");
    assert!(
        row.contains("浙C58306") && row.contains("blue") && row.contains("success"),
        "{row}"
    );
    b.wait_for(
        "the photo with its box",
        "document.querySelector('#photos .photo[data-camera=\"cam01\"][data-loaded=\"1\"][data-box=\"drawn\"]')",
    );
    // The photo is drawn (not blank), and red where the box is.
    let red = b.js(
        "const c = document.querySelector('#photos .photo[data-camera=\"cam01\"] canvas'); \
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let red = 0, lit = 0; \
         for (let i = 0; i < d.length; i += 4) { if (d[i] > 230 && d[i+1] < 80 && d[i+2] < 80) red++; if (d[i] + d[i+1] + d[i+2] > 60) lit++; } \
         return [c.width, red, lit];",
    );
    let (w, red, lit) = (
        red[0].as_u64().unwrap(),
        red[1].as_u64().unwrap(),
        red[2].as_u64().unwrap(),
    );
    assert!(
        w > 100 && red > 50 && lit > 1000,
        "width {w}, red {red}, lit {lit}"
    );
    b.screenshot("plate");

    // The image endpoint itself: the token is needed, and only saved
    // images are found.
    let (status, _) = host.get("/images/plate/cam01/20261202101500001");
    assert_eq!(status, 401);
    let auth = format!("Bearer {TOKEN}");
    let (status, _) = host
        .request_with(
            "GET",
            "/images/plate/cam01/nothing",
            &[("Authorization", &auth)],
            "",
        )
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = host
        .request_with(
            "GET",
            "/images/plate/..%2F..%2Fetc/passwd",
            &[("Authorization", &auth)],
            "",
        )
        .unwrap();
    assert_eq!(status, 404);
}

/// An exec token created in the page logs a real client in; the list shows
/// it connected; revoking it in the page closes the client.
#[test]
fn exec_token_created_and_revoked_in_the_page() {
    let (host, _images) = start_host();
    let b = logged_in(&host);
    b.click("#nav-exec");
    b.wait_for(
        "the exec page",
        "!document.getElementById('page-exec').hidden",
    );
    b.click("#create-btn");
    let token = b.wait_for(
        "the created token",
        "!document.getElementById('created').hidden && document.getElementById('created-token').value",
    );
    let token = token.as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);

    let mut client = common::exec::Client::connect(&host);
    let init = client.init(&token);
    assert_eq!(init["code"], "1", "{init}");
    let id = admin(&host, "exec", json!({"op":"list-tokens"}))["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = format!("#tokens-table tr[data-id='{id}']");
    b.wait_for(
        "the token, connected",
        &format!("document.querySelector(\"{row}\") && document.querySelector(\"{row} td:nth-child(4)\").textContent == '1'"),
    );
    assert!(b.text(&row).contains("never"), "no ttl: never expires");
    b.screenshot("exec");
    b.click(&format!("{row} button.revoke"));
    let msg = b.wait_for(
        "the revocation",
        "document.querySelector('#exec-msg.ok') && document.getElementById('exec-msg').textContent.startsWith('revoked') && document.getElementById('exec-msg').textContent",
    );
    assert!(
        msg.as_str().unwrap().contains("1 connection(s) closed"),
        "{msg}"
    );
    b.wait_for(
        "the token gone from the list",
        &format!("!document.querySelector(\"{row}\")"),
    );
    assert!(client.is_closed(), "the host closed the client");
    assert!(
        admin(&host, "exec", json!({"op":"list-tokens"}))["tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Reload from the overview: a good file reloads and the generation goes
/// up; a broken file is refused with the reason on the page, and the old
/// version keeps serving.
#[test]
fn plugin_reload_from_the_overview() {
    let (host, _images) = start_host();
    let b = logged_in(&host);
    let gen_of = |b: &Browser| {
        b.js("return document.querySelector('#plugins-table tr[data-plugin=\"chat\"] td:nth-child(5)').textContent")
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let before = gen_of(&b);
    // Same file: the reload is answered (unchanged), no error.
    b.click("#plugins-table tr[data-plugin='chat'] button.reload");
    let msg = b.wait_for(
        "the reload's outcome",
        "document.querySelector('#reload-msg.ok') && document.getElementById('reload-msg').textContent",
    );
    assert!(msg.as_str().unwrap().starts_with("chat: "), "{msg}");
    // A new build of it (the locker component is not a chat plugin): the
    // reload is refused with the reason, and shown.
    host.replace_plugin(
        "chat.wasm",
        &std::fs::read(common::built("locker.wasm")).unwrap(),
    );
    b.click("#plugins-table tr[data-plugin='chat'] button.reload");
    let msg = b.wait_for(
        "the refusal",
        "document.querySelector('#reload-msg.error') && document.getElementById('reload-msg').textContent",
    );
    assert!(msg.as_str().unwrap().starts_with("422"), "{msg}");
    b.wait_for(
        "the last error in the table",
        "document.querySelector('#plugins-table tr[data-plugin=\"chat\"] td.bad')",
    );
    // Another build of chat (its JavaScript twin): reloaded, a new
    // generation, the error gone.
    host.replace_plugin(
        "chat.wasm",
        &std::fs::read(common::built("chat_js.wasm")).unwrap(),
    );
    b.click("#plugins-table tr[data-plugin='chat'] button.reload");
    b.wait_for("reloaded", "document.querySelector('#reload-msg.ok')");
    b.wait_for(
        "a newer generation",
        &format!("parseInt(document.querySelector('#plugins-table tr[data-plugin=\"chat\"] td:nth-child(5)').textContent) > {before}"),
    );
    assert!(gen_of(&b) > before);
    b.wait_for(
        "the error cleared",
        "!document.querySelector('#plugins-table tr[data-plugin=\"chat\"] td.bad')",
    );
    b.screenshot("overview-reload");
}

/// Chat: who is online (a real client, guest), registered users and their
/// deletion. Smart-home: a real SQLite file uploaded from the page's file
/// input, then its name, size, sha256 and tables shown.
#[test]
fn chat_users_and_the_smart_home_database() {
    let (host, _images) = start_host();
    let mut alice = common::chat::Client::tcp(host.addr("chat"));
    alice.login_ok("alice1");
    let mut carol = common::chat::Client::tcp(host.addr("chat"));
    carol.send(json!({"Command":"02","Name":"Carol","Password":"s3cret"}));
    assert_eq!(carol.recv(), json!({"Command":"12","Flag":1}));

    let b = logged_in(&host);
    b.click("#nav-chat");
    b.wait_for(
        "alice online as a guest",
        "document.querySelector('#online-table tr[data-name=\"alice1\"]')",
    );
    assert!(
        b.text("#online-table tr[data-name='alice1']")
            .contains("guest")
    );
    b.wait_for(
        "Carol registered",
        "document.querySelector('#users-table tr[data-name=\"Carol\"]')",
    );
    b.screenshot("chat");
    b.js("window.confirm = () => true");
    b.click("#users-table tr[data-name='Carol'] button.delete-user");
    b.wait_for(
        "Carol deleted",
        "document.getElementById('chat-msg').textContent == 'deleted Carol' && !document.querySelector('#users-table tr[data-name=\"Carol\"]')",
    );
    assert_eq!(
        admin(&host, "chat", json!({"op":"users"}))["users"],
        json!([])
    );

    // Smart-home: nothing yet, then a real database.
    b.click("#nav-smarthome");
    b.wait_for(
        "no database yet",
        "document.getElementById('db-info').innerText.includes('none uploaded')",
    );
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("house.db");
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.execute_batch(
        "CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO devices (name) VALUES ('lamp');",
    )
    .unwrap();
    drop(conn);
    // A file that is not a database: the plugin's refusal is shown.
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a database").unwrap();
    b.type_in("#upload-file", junk.to_str().unwrap());
    b.click("#upload-btn");
    let msg = b.wait_for(
        "the refusal",
        "document.querySelector('#smarthome-msg.error') && document.getElementById('smarthome-msg').textContent",
    );
    assert!(
        msg.as_str().unwrap().contains("not an SQLite database"),
        "{msg}"
    );
    b.type_in("#upload-file", db_path.to_str().unwrap());
    b.click("#upload-btn");
    b.wait_for(
        "the tables",
        "document.querySelectorAll('#tables-list li').length == 2",
    );
    let info = b.text("#db-info");
    let bytes = std::fs::read(&db_path).unwrap();
    assert!(
        info.contains("house.db") && info.contains(&format!("{} bytes", bytes.len())),
        "{info}"
    );
    let tables = b.text("#tables-list");
    assert!(
        tables.contains("devices") && tables.contains("rooms"),
        "{tables}"
    );
    b.screenshot("smarthome");
    // What the page uploaded is what a client downloads.
    assert_eq!(&common::smarthome::request(&host, 0x4c)[8..], &bytes[..]);
}
