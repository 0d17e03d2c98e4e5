//! Deploying (README, "Deploying"): the release bundle unpacked and served
//! from its own directory, `serve --plugins` and `--state-dir`, where
//! relative paths lead, the admin API over TLS, and `wasmgate plugins`
//! against a running host — all through the real binary and real sockets.
//!
//! The bundle is made by `scripts/dist --binary <this build's wasmgate>
//! --no-build`: the packaging, the bundle's layout and configuration are the
//! release's, the binary is the test build (with the `bench` features) and
//! the plugins are those `scripts/build-plugins` built. With
//! `WASMGATE_DIST_ARCHIVE` set to an archive (`.ci/run` sets it to the
//! release bundle `scripts/dist` built), that archive is tested instead.

mod common;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Host, LineClient, WAIT, built, root};
use serde_json::{Value, json};

/// The first start of a bundle compiles its plugins into an empty cache.
const FIRST_START: Duration = Duration::from_secs(300);

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_wasmgate")
}

/// The archive to test: `WASMGATE_DIST_ARCHIVE`, else one made now into
/// `out` from this build.
fn archive(out: &Path) -> PathBuf {
    if let Some(given) = std::env::var_os("WASMGATE_DIST_ARCHIVE") {
        return PathBuf::from(given);
    }
    let made = Command::new(root().join("scripts/dist"))
        .args([OsStr::new("--binary"), OsStr::new(binary())])
        .arg("--no-build")
        .arg("--out")
        .arg(out)
        .output()
        .expect("running scripts/dist");
    assert!(
        made.status.success(),
        "scripts/dist failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let stdout = String::from_utf8(made.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("scripts/dist printed the archive"),
    )
}

/// Unpacks `archive` into `into`; the bundle's directory.
fn unpack(archive: &Path, into: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf {}", archive.display());
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one directory in the archive: {dirs:?}");
    let dir = dirs.pop().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("wasmgate-"), "{name}");
    dir
}

/// The bundle's configuration with every address on loopback port 0 (so
/// tests and other hosts on this machine do not clash) and a camera token
/// for the plate listener; nothing else changes.
fn on_free_ports(config: &str) -> String {
    let mut moved = 0;
    let lines: Vec<String> = config
        .lines()
        .map(|line| match line.strip_prefix("listen = \"") {
            Some(rest) => {
                moved += 1;
                let comment = rest.split_once('"').map_or("", |(_, c)| c);
                format!("listen = \"127.0.0.1:0\"{comment}")
            }
            None if line.starts_with("static_tokens = \"\"") => {
                line.replace("static_tokens = \"\"", "static_tokens = \"dist-camera\"")
            }
            None => line.to_string(),
        })
        .collect();
    // the admin API and seven listeners
    assert_eq!(moved, 8, "listen lines of the bundle's wasmgate.toml");
    lines.join("\n")
}

/// `wasmgate ARGS` with `token` as WASMGATE_ADMIN_TOKEN (none: unset).
fn wasmgate(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(binary());
    command.args(args).env_remove("WASMGATE_ADMIN_TOKEN");
    if let Some(t) = token {
        command.env("WASMGATE_ADMIN_TOKEN", t);
    }
    command.output().expect("running wasmgate")
}

fn text(output: &[u8]) -> String {
    String::from_utf8_lossy(output).into_owned()
}

/// The output of `wasmgate ARGS`, which must succeed.
fn ok(args: &[&str], token: Option<&str>) -> String {
    let out = wasmgate(args, token);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// What `wasmgate ARGS` says on stderr; it must exit 1.
fn refused(args: &[&str], token: Option<&str>) -> String {
    let out = wasmgate(args, token);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// Starts `serve ARGS` of this build in `cwd`, its log in a directory of
/// its own.
fn serve_in(cwd: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Host {
    start(Path::new(binary()), cwd, args, env)
}

/// Starts `BINARY serve ARGS` in `cwd`.
fn start(binary: &Path, cwd: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Host {
    let mut setup = common::setup();
    setup.binary = binary.to_path_buf();
    setup.wait = FIRST_START;
    setup.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let logs = tempfile::Builder::new()
        .prefix("wasmgate-deploy-log-")
        .tempdir()
        .unwrap();
    Host::from(
        setup
            .start_in(logs, cwd, args)
            .unwrap_or_else(|e| panic!("{e:#}")),
    )
}

#[test]
fn the_bundle_serves_every_protocol_from_its_own_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let archive = archive(scratch.path());
    let unpacked = scratch.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let bundle = unpack(&archive, &unpacked);

    // What an operator finds in it.
    for file in [
        "wasmgate",
        "wasmgate.toml",
        "wasmgate.service",
        "INSTALL",
        "wit/worlds.wit",
    ] {
        assert!(bundle.join(file).is_file(), "{file} is in the bundle");
    }
    for plugin in [
        "locker",
        "exec",
        "smarthome",
        "rooms",
        "plate",
        "chat",
        "locker_py",
        "chat_js",
    ] {
        let file = bundle.join(format!("plugins/{plugin}.wasm"));
        assert!(file.is_file(), "{} is in the bundle", file.display());
    }
    let unit = std::fs::read_to_string(bundle.join("wasmgate.service")).unwrap();
    assert!(unit.contains("StateDirectory=wasmgate"), "{unit}");
    assert!(
        !unit
            .lines()
            .any(|l| l.trim_start().starts_with("MemoryDenyWriteExecute")),
        "wasmtime needs W+X pages: {unit}"
    );
    let config = std::fs::read_to_string(bundle.join("wasmgate.toml")).unwrap();
    assert!(
        !config.contains("../"),
        "paths stay in the bundle:\n{config}"
    );
    // `wasmgate check` of the bundle's binary knows the bundle's plugins.
    let checked = Command::new(bundle.join("wasmgate"))
        .current_dir(&bundle)
        .args(["check", "plugins/chat_js.wasm", "--world", "chat"])
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stdout));

    std::fs::write(bundle.join("wasmgate.toml"), on_free_ports(&config)).unwrap();
    let wasmgate = bundle.join("wasmgate");
    let mut host = start(&wasmgate, &bundle, &[], &[]);
    let log = host.log();
    assert!(
        log.contains("config=wasmgate.toml"),
        "serve found the bundle's wasmgate.toml:\n{log}"
    );
    let (status, health) = host.get("/health");
    assert_eq!(status, 200, "every plugin loaded: {health}");

    // locker
    let mut board = LineClient::connect(host.addr("locker"));
    let answer = common::locker::exchange(&mut board, &common::locker::report("1953", 141349, &[]));
    assert!(
        answer.starts_with("ACon_V1.0")
            && answer.contains("ID=1953")
            && answer.contains("SEND=141349"),
        "{answer}"
    );

    // chat, plain and over TLS with the certificate made in the bundle's data/
    let cert = bundle.join("data/tls/self-signed.crt");
    assert!(
        cert.is_file(),
        "the self-signed certificate is in data/tls/"
    );
    let mut plain = common::chat::Client::tcp(host.addr("chat"));
    plain.login_ok("distplain");
    let mut secure = common::chat::Client::tls(host.addr("chat-tls"), &cert);
    secure.login_ok("disttls");

    // exec: a token from the admin API, two clients in its room
    let token = host.admin_ok("exec", json!({"op":"create-token"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a = common::exec::Client::connect_at(host.addr("exec"));
    let init = a.init(&token);
    assert_eq!(init["code"], "1", "{init}");

    // smart-home: a database uploaded, then downloaded by the article's client
    let db = common::smarthome::house_db(scratch.path(), &[("lamp", "kitchen")]);
    let (status, said) = common::smarthome::upload(&host, &db);
    assert_eq!(status, 200, "{said}");
    let got = common::smarthome::request(&host, 0x4c);
    assert_eq!(common::smarthome::header(&got), (0x43, db.len() as u32));
    assert_eq!(&got[8..], &db[..]);

    // plate: a camera logs in, the real recogniser reads a real photo, the
    // image is kept in data/images
    let mut camera = common::plate::connect(host.addr("plate"));
    let mut ask = |frame: Vec<u8>| common::plate::ask(&mut camera, frame);
    assert_eq!(
        ask(common::plate_login("0571", "P001", 2, "dist-camera")),
        [2, 0, 0]
    );
    let photo = include_bytes!("data/plate-浙C58306.jpg");
    let answer = ask([
        vec![3, 0],
        common::recognition_body("gate-1", "20261202101500001", photo),
    ]
    .concat());
    let plate = common::padded("浙C58306", 16);
    assert!(
        answer.ends_with(&plate) && answer[answer.len() - 25] == 0,
        "recognised: {answer:?}"
    );

    // rooms (a protocol of configuration alone): a line in, a line out
    let mut rooms = LineClient::connect(host.addr("rooms"));
    assert!(rooms.read_until(|_| true).starts_with("HELLO"));
    rooms.send(b"NICK dist\n");
    assert_eq!(rooms.read_until(|_| true).trim_end(), "OK nick dist");

    // Everything the host wrote is in the bundle's data/.
    let data = bundle.join("data");
    assert!(data.join("wasmgate.db").is_file());
    assert!(
        std::fs::read_dir(data.join("compiled")).unwrap().count() >= 6,
        "compiled plugins are cached in data/compiled"
    );
    assert!(
        std::fs::read_dir(data.join("images")).unwrap().count() == 1,
        "the photo is kept in data/images"
    );
    let status = host.terminate();
    assert!(status.success(), "{status}");

    // Started from elsewhere, the bundle's binary finds the wasmgate.toml
    // beside it, and so the same plugins and state.
    let elsewhere = tempfile::tempdir().unwrap();
    let host = start(&wasmgate, elsewhere.path(), &[], &[]);
    let beside = bundle.canonicalize().unwrap().join("wasmgate.toml");
    assert!(
        host.log().contains(&format!("config={}", beside.display())),
        "{}",
        host.log()
    );
    let mut c = common::chat::Client::tcp(host.addr("chat"));
    c.login_ok("distagain");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// A configuration with a locker listener and a chat listener over TLS
/// (self-signed), whose plugins are `locker.wasm` and `chat.wasm` in the
/// plugin directory, and `runtime` lines.
fn locker_and_chat(runtime: &str) -> String {
    format!(
        r#"
[admin]
listen = "127.0.0.1:0"
[runtime]
reload_debounce_ms = 100
{runtime}
[plugins.locker]
world = "locker"
[plugins.chat]
world = "chat"
[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"
[[listener]]
name = "chat-tls"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
[listener.tls]
"#
    )
}

fn install_plugins(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for file in ["locker.wasm", "chat.wasm"] {
        std::fs::copy(built(file), dir.join(file)).unwrap();
    }
}

fn serves(host: &Host, state: &Path) {
    let mut board = LineClient::connect(host.addr("locker"));
    let answer = common::locker::exchange(&mut board, &common::locker::report("7", 1, &[]));
    assert!(answer.contains("ID=7"), "{answer}");
    let cert = state.join("tls/self-signed.crt");
    let mut c = common::chat::Client::tls(host.addr("chat-tls"), &cert);
    c.login_ok("placed");
    assert!(state.join("wasmgate.db").is_file());
    let cached = std::fs::read_dir(state.join("compiled")).unwrap().count();
    assert!(
        cached >= 2,
        "{cached} compiled plugins in the state directory"
    );
}

#[test]
fn plugins_and_state_dir_flags_win_over_the_config() {
    let root = tempfile::tempdir().unwrap();
    let (conf, plugins, state, cwd) = (
        root.path().join("conf"),
        root.path().join("plugins"),
        root.path().join("state"),
        root.path().join("elsewhere"),
    );
    for d in [&conf, &cwd] {
        std::fs::create_dir_all(d).unwrap();
    }
    install_plugins(&plugins);
    let file = conf.join("wasmgate.toml");
    std::fs::write(
        &file,
        locker_and_chat("plugin_dir = \"nowhere\"\nstate_dir = \"unused\""),
    )
    .unwrap();
    let host = serve_in(
        &cwd,
        &[
            OsStr::new("--config"),
            file.as_os_str(),
            OsStr::new("--plugins"),
            plugins.as_os_str(),
            OsStr::new("--state-dir"),
            state.as_os_str(),
        ],
        // --state-dir wins over systemd's variable too
        &[(
            "STATE_DIRECTORY",
            root.path().join("systemd").to_str().unwrap(),
        )],
    );
    serves(&host, &state);
    let info = host.plugin_info("locker");
    assert_eq!(
        info["file"],
        plugins.join("locker.wasm").to_str().unwrap(),
        "{info}"
    );
    for unused in [
        conf.join("nowhere"),
        conf.join("unused"),
        root.path().join("systemd"),
        cwd.join("data"),
    ] {
        assert!(!unused.exists(), "{} was made", unused.display());
    }
}

#[test]
fn relative_paths_follow_the_config_file_and_state_directory() {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("etc");
    install_plugins(&conf.join("wasm"));
    let file = conf.join("wasmgate.toml");
    let body = locker_and_chat("plugin_dir = \"wasm\"\n[store]\npath = \"db/kv.db\"");
    std::fs::write(&file, &body).unwrap();
    let args = [OsStr::new("--config"), file.as_os_str()];

    // systemd's StateDirectory= (no state_dir in the file)
    let systemd = root.path().join("var-lib");
    let host = serve_in(
        root.path(),
        &args,
        &[("STATE_DIRECTORY", systemd.to_str().unwrap())],
    );
    serves_with_store(&host, &systemd, "db/kv.db");
    drop(host);

    // nothing says where: data/ beside the config file, not in the
    // working directory
    let host = serve_in(root.path(), &args, &[]);
    serves_with_store(&host, &conf.join("data"), "db/kv.db");
    assert!(!root.path().join("data").exists());
    drop(host);

    // state_dir relative to the config file
    std::fs::write(
        &file,
        body.replace("[store]", "state_dir = \"../st\"\n[store]"),
    )
    .unwrap();
    let host = serve_in(root.path(), &args, &[]);
    serves_with_store(&host, &root.path().join("st"), "db/kv.db");
}

fn serves_with_store(host: &Host, state: &Path, store: &str) {
    let mut board = LineClient::connect(host.addr("locker"));
    let answer = common::locker::exchange(&mut board, &common::locker::report("8", 1, &[]));
    assert!(answer.contains("ID=8"), "{answer}");
    let mut c =
        common::chat::Client::tls(host.addr("chat-tls"), &state.join("tls/self-signed.crt"));
    c.login_ok("relative");
    assert!(
        state.join(store).is_file(),
        "{}",
        state.join(store).display()
    );
    assert!(state.join("compiled").is_dir());
}

#[test]
fn a_missing_config_file_is_an_error_not_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .current_dir(dir.path())
        .args(["serve", "--config", "no-such.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("reading no-such.toml"),
        "{}",
        text(&out.stderr)
    );
}

/// One HTTP/1.1 request over TLS trusting `cert`; the status and the body.
fn https(addr: SocketAddr, cert: &Path, request: &str) -> (u16, String) {
    let conn = common::tls_client(cert);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // the server closes after answering (Connection: close); a TLS close
    // without close_notify still ends the answer
    let _ = tls.read_to_end(&mut answer);
    let answer = text(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

const TOKEN: &str = "deploy-test-token-4f1c";

#[test]
fn admin_api_over_tls_with_the_self_signed_certificate() {
    let host = locker_host("[admin.tls]");
    let addr = host.admin_addr();
    let cert = host.dir().join("tls/self-signed.crt");
    let get = |path: &str, token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        https(
            addr,
            &cert,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"),
        )
    };
    let (status, body) = get("/health", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get("/plugins", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["name"], "locker", "{list}");
    let (status, _) = get("/plugins", Some("not-the-token"));
    assert_eq!(status, 401);

    // Plain HTTP on the TLS port gets no answer: the handshake fails.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!text(&got).contains("HTTP/1.1 200"), "{}", text(&got));

    // `wasmgate plugins` over https: with --ca (by IP and by name), with
    // --insecure; refused without either, and on http://.
    let port = addr.port();
    let by_ip = format!("https://127.0.0.1:{port}");
    let by_name = format!("https://localhost:{port}/");
    let ca = cert.to_str().unwrap();
    for admin in [&by_ip, &by_name] {
        let listed = ok(
            &["plugins", "list", "--admin", admin, "--ca", ca],
            Some(TOKEN),
        );
        assert!(listed.contains("locker"), "{listed}");
    }
    ok(
        &["plugins", "list", "--admin", &by_ip, "--insecure"],
        Some(TOKEN),
    );
    let err = refused(&["plugins", "list", "--admin", &by_ip], Some(TOKEN));
    assert!(err.contains("TLS") || err.contains("--ca"), "{err}");
    let plain = format!("http://127.0.0.1:{port}");
    let err = refused(&["plugins", "list", "--admin", &plain], Some(TOKEN));
    assert!(err.contains("is it https?"), "{err}");
    assert!(!host.log().contains(TOKEN), "the token is not logged");
}

#[test]
fn admin_tls_with_certificate_files_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::create_dir(dir.path().join("pki")).unwrap();
    std::fs::write(dir.path().join("pki/admin.crt"), made.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("pki/admin.key"),
        made.key_pair.serialize_pem(),
    )
    .unwrap();
    install_plugins(&dir.path().join("plugins"));
    let file = dir.path().join("wasmgate.toml");
    let config = locker_and_chat("").replace(
        "[runtime]",
        "[admin.tls]\ncert = \"pki/admin.crt\"\nkey = \"pki/admin.key\"\n[runtime]",
    );
    std::fs::write(&file, config).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let host = serve_in(cwd.path(), &[OsStr::new("--config"), file.as_os_str()], &[]);
    // The configured certificate is served, not the self-signed one: only
    // it is trusted here.
    let admin = format!("https://localhost:{}", host.admin_addr().port());
    let ca = dir.path().join("pki/admin.crt");
    let listed = ok(
        &[
            "plugins",
            "list",
            "--admin",
            &admin,
            "--ca",
            ca.to_str().unwrap(),
        ],
        None,
    );
    assert!(listed.contains("chat"), "{listed}");
    // and a half pair is refused at start, saying which section
    drop(host);
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("key = \"pki/admin.key\"\n", ""),
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("[admin.tls]") && err.contains("both cert and key"),
        "{err}"
    );
}

/// A host of the locker plugin whose admin API needs [`TOKEN`], with more
/// `admin` lines.
fn locker_host(admin: &str) -> Host {
    let body = r#"
[plugins.locker]
world = "locker"
[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"
"#;
    Host::start_custom(
        body,
        &[("locker.wasm", "locker.wasm")],
        &format!("token = {TOKEN:?}\n{admin}"),
        &[],
        WAIT,
    )
}

#[test]
fn plugins_list_reload_and_check() {
    let host = locker_host("");
    let admin = format!("http://{}", host.admin_addr());
    let json = ok(
        &["plugins", "--admin", &admin, "list", "--json"],
        Some(TOKEN),
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["name"], "locker", "{json}");
    assert_eq!(json[0]["loaded"], true, "{json}");
    let sha = json[0]["sha256"].as_str().unwrap().to_string();

    let listed = ok(&["plugins", "list", "--admin", &admin], Some(TOKEN));
    let row = listed.lines().nth(1).unwrap_or_default();
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(
        row.starts_with("locker") && row.contains(" yes ") && row.contains(&sha[..12]),
        "{listed}"
    );

    // reload: the same file is unchanged; an unknown plugin, a broken file
    // are refused (and the old version serves on)
    let reload = ["plugins", "reload", "locker", "--admin", &admin];
    let said = ok(&reload, Some(TOKEN));
    assert!(
        said.starts_with("locker: unchanged") && said.contains(&sha),
        "{said}"
    );
    let err = refused(
        &["plugins", "reload", "nosuch", "--admin", &admin],
        Some(TOKEN),
    );
    assert!(
        err.contains("no plugin named \"nosuch\"") && err.contains("404"),
        "{err}"
    );
    host.replace_plugin("locker.wasm", b"not wasm");
    let err = refused(&reload, Some(TOKEN));
    assert!(
        err.contains("reloading locker") && err.contains("422"),
        "{err}"
    );
    let listed = ok(&["plugins", "list", "--admin", &admin], Some(TOKEN));
    assert!(listed.contains("locker: last reload failed"), "{listed}");
    assert!(listed.lines().nth(1).unwrap().contains(" yes "), "{listed}");

    // the token: wrong, or missing
    let list = ["plugins", "list", "--admin", &admin];
    let err = refused(&list, Some("wrong-token-77"));
    assert!(
        err.contains("401") && err.contains("not the host's"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-token-77"),
        "the token is not printed: {err}"
    );
    let err = refused(&list, None);
    assert!(err.contains("set WASMGATE_ADMIN_TOKEN"), "{err}");

    // a host that is not there; a URL that is not the admin API's
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = gone.local_addr().unwrap().port();
    drop(gone);
    let nobody = format!("http://127.0.0.1:{port}");
    let err = refused(&["plugins", "list", "--admin", &nobody], Some(TOKEN));
    assert!(
        err.contains(&format!("cannot reach the admin API at {nobody}")),
        "{err}"
    );
    let err = refused(&["plugins", "list", "--admin", "ftp://127.0.0.1"], None);
    assert!(err.contains("http:// or https://"), "{err}");

    // check: here, no host needed
    let locker = built("locker.wasm");
    let file = locker.to_str().unwrap();
    let said = ok(&["plugins", "check", file, "--world", "locker"], None);
    assert!(said.starts_with("ok: "), "{said}");
    let out = wasmgate(&["plugins", "check", file, "--world", "chat"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("no: "),
        "{}",
        text(&out.stdout)
    );
}
