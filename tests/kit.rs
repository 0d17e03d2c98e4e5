//! The plugin kit (`wasmgate new`, issue 22) through the real binary: for
//! each language and world (Python's slow ones on demand, see `kit_tests!`),
//! the generated project builds with its own build script, passes its own
//! unit tests and `wasmgate check`, is dropped into a running host's plugin
//! directory, is hot-loaded, and answers over the real protocol. And the
//! command's refusals.
//!
//! Toolchains are the repository's (scripts/build-plugins installs them):
//! the generated Rust projects share `target/kit` as their target directory
//! (warm after the first run), Python builds use `target/py-venv`'s
//! componentize-py, and JavaScript builds `npm ci` from the npm cache.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::plate::ask;
use common::{Host, LineClient, chat, exec, locker, plate, smarthome};
use serde_json::json;

/// Generous: a Python component takes 10-15 s of Cranelift on a loaded
/// machine, and a cold Rust build compiles wit-bindgen.
const LOAD_WAIT: Duration = Duration::from_secs(300);

fn wasmgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmgate"))
}

/// Runs `cmd`, returning its output; panics with both streams if it fails.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A generated project in a temporary directory.
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    name: String,
    world: &'static str,
    lang: &'static str,
}

impl Project {
    /// `wasmgate new WORLD --lang LANG DIR`, the name taken from DIR.
    fn new(world: &'static str, lang: &'static str) -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("wasmgate-kit-")
            .tempdir()
            .unwrap();
        let name = format!("kit-{world}-{lang}");
        let dir = tmp.path().join(&name);
        let out = run(
            wasmgate().args(["new", world, "--lang", lang]).arg(&dir),
            "wasmgate new",
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&format!("named {name:?}")), "{said}");
        Project {
            _tmp: tmp,
            dir,
            name,
            world,
            lang,
        }
    }

    /// A command run in the project, with the repository's toolchains.
    fn command(&self, program: &str) -> Command {
        let root = common::root();
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", root.join("target/kit"))
            .env(
                "COMPONENTIZE_PY",
                root.join("target/py-venv/bin/componentize-py"),
            )
            // The host's own test environment must not leak into the
            // project's cargo (e.g. RUSTFLAGS for another target).
            .env_remove("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS");
        cmd
    }

    /// The project's own unit tests, in its language's runner.
    fn unit_tests(&self) {
        let (program, args): (&str, &[&str]) = match self.lang {
            "rust" => ("cargo", &["test"]),
            "python" => ("python3", &["-m", "unittest", "-v"]),
            _ => ("node", &["--test", "test/"]),
        };
        let out = run(self.command(program).args(args), "the project's unit tests");
        // Each runner says how many passed; none at all would be a broken template.
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ran = match self.lang {
            "rust" => !text.contains("running 0 tests") && text.contains("test result: ok"),
            "python" => text.contains("\nOK") && !text.contains("Ran 0 tests"),
            _ => text.contains("# pass") && !text.contains("# pass 0"),
        };
        assert!(ran, "no unit test ran:\n{text}");
    }

    /// `./build.sh`: the component, `<name>.wasm`.
    fn build(&self) -> Vec<u8> {
        run(&mut self.command("./build.sh"), "build.sh");
        let wasm = self.dir.join(format!("{}.wasm", self.name));
        std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
    }

    /// `wasmgate check NAME.wasm --world WORLD` says ok.
    fn check(&self) {
        let wasm = self.dir.join(format!("{}.wasm", self.name));
        let out = run(
            wasmgate()
                .arg("check")
                .arg(&wasm)
                .args(["--world", self.world]),
            "wasmgate check",
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.starts_with("ok:"), "{said}");
    }

    /// Generates, tests, builds and checks the project; then starts a host
    /// whose configuration names the plugin (`config` lines for its table,
    /// `listener` with `NAME` for the plugin) but whose plugin directory is
    /// empty, drops the component in the way the README says (a temporary
    /// name, then a rename) and waits until the host has hot-loaded it.
    fn serve(world: &'static str, lang: &'static str, config: &str, listener: &str) -> Host {
        let p = Project::new(world, lang);
        p.unit_tests();
        let wasm = p.build();
        p.check();
        let body = format!(
            "[plugins.{name}]\nworld = \"{world}\"\nfile = \"{name}.wasm\"\n[plugins.{name}.config]\n{config}\n{}",
            listener.replace("NAME", &p.name),
            name = p.name,
        );
        let host = Host::start(&body, &[]);
        assert_eq!(host.plugin_info(&p.name)["loaded"], false);
        host.replace_plugin(&format!("{}.wasm", p.name), &wasm);
        host.wait_plugin_within(&p.name, "hot-loading", LOAD_WAIT, |info| {
            info["loaded"] == true
        });
        host
    }
}

const LOCKER: &str = "[[listener]]\nname = \"l\"\nprotocol = \"locker\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The locker starter: an open answer, and STATE=3 for a listed board.
fn locker(lang: &'static str) {
    let host = Project::serve("locker", lang, "blocked = \"board-7, board-9\"", LOCKER);
    let mut c = LineClient::connect(host.addr("l"));
    let open = locker::exchange(&mut c, &locker::report("board-1", 41, &[]));
    assert_eq!(
        open,
        "ACon_V1.0\nID=board-1\nSEND=41\nRESET=0\nSTATE=0\nCLOSE\n",
        "{}",
        host.log()
    );
    let blocked = locker::exchange(&mut c, &locker::report("board-9", 42, &[]));
    assert!(
        blocked.contains("SEND=42\n") && blocked.contains("STATE=3\n"),
        "{blocked}"
    );
}

const RAW: &str = "[[listener]]\nname = \"r\"\nprotocol = \"raw\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\nframing = { kind = \"terminator\", terminator = \"\\n\" }\n";

/// The raw starter: every line back with the configured prefix.
fn raw(lang: &'static str) {
    let host = Project::serve("raw", lang, "prefix = \"echo: \"", RAW);
    let mut c = LineClient::connect(host.addr("r"));
    c.send("hello\nwörld\n".as_bytes());
    assert_eq!(c.read_until(|_| true), "echo: hello\n");
    assert_eq!(c.read_until(|_| true), "echo: wörld\n");
}

const CHAT: &str = "[[listener]]\nname = \"c\"\nprotocol = \"chat\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The chat starter: guests log in and are announced, private messages
/// reach their addressee with a receipt, group messages everyone, and a
/// closed connection is announced.
fn chat(lang: &'static str) {
    let host = Project::serve("chat", lang, "", CHAT);
    let mut alice = chat::Client::tcp(host.addr("c"));
    let mut bob = chat::Client::tcp(host.addr("c"));
    let got = alice.login_ok("alice");
    assert_eq!(got["Friends"], json!([["alice", 1]]), "{got}");
    bob.login_ok("bob");
    assert_eq!(
        alice.recv(),
        json!({"Command":"30","LogOnUserName":"bob","IsUserGuest":1})
    );
    // The name is taken, whatever its case.
    let mut other = chat::Client::tcp(host.addr("c"));
    let taken = other.login("ALICE");
    assert_eq!(
        (&taken["Command"], &taken["Flag"]),
        (&json!("11"), &json!(0)),
        "{taken}"
    );

    bob.send(json!({"Command":"04","FriendName":"alice","Message":"hi"}));
    assert_eq!(
        alice.recv(),
        json!({"Command":"13","FriendName":"bob","Message":"hi"})
    );
    assert_eq!(bob.recv(), json!({"Command":"14","Flag":1}));
    bob.send(json!({"Command":"04","FriendName":"nobody","Message":"hi"}));
    assert_eq!(bob.recv(), json!({"Command":"14","Flag":0}));

    alice.send(json!({"Command":"05","Message":"hi all"}));
    let all = json!({"Command":"32","Speaker":"alice","Message":"hi all"});
    assert_eq!(alice.recv(), all);
    assert_eq!(bob.recv(), all);

    drop(bob);
    assert_eq!(alice.recv(), json!({"Command":"31","LogOutUserName":"bob"}));
}

const EXEC: &str = "[[listener]]\nname = \"exec\"\nprotocol = \"exec\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The exec starter: the configured token logs in (another is refused and
/// closed), checkDevice sees the room, commands reach the others verbatim.
fn exec(lang: &'static str) {
    let host = Project::serve("exec", lang, "token = \"s3cret\"", EXEC);
    let mut intruder = exec::Client::connect(&host);
    assert_eq!(intruder.init("guess")["code"], "0");
    assert!(intruder.is_closed());

    let mut a = exec::Client::connect(&host);
    assert_eq!(
        a.init("s3cret"),
        json!({"cmd":"init","code":"1","session_id":"room"})
    );
    assert_eq!(a.check_device(), "0");
    let mut b = exec::Client::connect(&host);
    assert_eq!(b.init("s3cret")["code"], "1");
    assert_eq!(a.check_device(), "1");
    let command = r#"{"cmd":"execute","extra":{"data":"uptime"},"id":7}"#;
    a.send(command);
    assert_eq!(b.recv(), command);
}

const SMARTHOME: &str = "[[listener]]\nname = \"smarthome\"\nprotocol = \"smarthome\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The smart-home starter: no database yet is an error frame; an uploaded
/// one is served for 0x4c; other words are refused.
fn smarthome(lang: &'static str) {
    let name = format!("kit-smarthome-{lang}");
    let host = Project::serve("smarthome", lang, "", SMARTHOME);
    let none = smarthome::request(&host, 0x4c);
    assert_eq!(smarthome::header(&none).0, 0x45, "{none:?}");
    assert!(String::from_utf8_lossy(&none[8..]).contains("no database"));

    let uploaded = host.admin_ok(&name, json!({"op":"upload","data_hex":"53514c697465"}));
    assert_eq!(uploaded, json!({"ok":true,"bytes":6}));
    assert_eq!(
        host.admin_ok(&name, json!({"op":"current"})),
        json!({"bytes":6})
    );
    let served = smarthome::request(&host, 0x4c);
    assert_eq!(smarthome::header(&served), (0x43, 6));
    assert_eq!(&served[8..], b"SQLite");
    let other = smarthome::request(&host, 0x99);
    assert_eq!(smarthome::header(&other).0, 0x45);
    let (status, body) = host.post(
        &format!("/admin/{name}"),
        r#"{"op":"upload","data_hex":"xyz"}"#,
    );
    assert_eq!(status, 400, "{body}");
}

const GREET: &str = "[[listener]]\nname = \"g\"\nprotocol = \"greet\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The greet starter: the configured greeting, and a long name refused.
fn greet(lang: &'static str) {
    let host = Project::serve("greet", lang, "greeting = \"Good morning\"", GREET);
    let mut c = LineClient::connect(host.addr("g"));
    c.send(b"HELLO Ada\n");
    assert_eq!(c.read_until(|_| true), "Good morning, Ada!\n");
    c.send(format!("HELLO {}\n", "x".repeat(70)).as_bytes());
    assert_eq!(c.read_until(|_| true), "ERROR name longer than 64 bytes\n");
}

const PLATE: &str = "[[listener]]\nname = \"p\"\nprotocol = \"plate\"\nlisten = \"127.0.0.1:0\"\nplugin = \"NAME\"\n";

/// The plate starter: a configured token logs in, another does not; a
/// photo is "not recognised" (errCode 0), bytes that are no photo "not
/// readable" (errCode 4).
fn plate(lang: &'static str) {
    let host = Project::serve("plate", lang, "tokens = \"cam-1, cam-2\"", PLATE);
    let addr = host.addr("p");
    let connect = || plate::connect(addr);
    let mut ws = connect();
    assert_eq!(
        ask(&mut ws, common::plate_login("0571", "P001", 2, "nope")),
        [2, 0, 1]
    );
    let mut ws = connect();
    assert_eq!(
        ask(&mut ws, common::plate_login("0571", "P001", 2, "cam-2")),
        [2, 0, 0]
    );
    let answer = |code: u8| {
        [
            vec![4, 0, 1, b'7'],
            common::padded("ID-1", 19),
            vec![1, code],
        ]
        .concat()
    };
    let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F'];
    let photo = [vec![3, 0], common::recognition_body("7", "ID-1", &jpeg)].concat();
    assert_eq!(ask(&mut ws, photo), answer(0));
    let junk = [
        vec![3, 0],
        common::recognition_body("7", "ID-1", b"not a photo"),
    ]
    .concat();
    assert_eq!(ask(&mut ws, junk), answer(4));
}

/// `lang::world` for each language and world; the worlds after `slow` are
/// `#[ignore]`d (run them with `--include-ignored`).
macro_rules! kit_tests {
    ($($lang:ident: [$($world:ident),+] $(slow [$($slow:ident),+])?),+ $(,)?) => {
        $(mod $lang {
            $(
                #[test]
                fn $world() {
                    super::$world(stringify!($lang))
                }
            )+
            $($(
                #[test]
                #[ignore = "slow: each Python component takes ~15 s to build and as much per compile (check, load)"]
                fn $slow() {
                    super::$slow(stringify!($lang))
                }
            )+)?
        })+
    };
}

// Every world in Rust and JavaScript; in Python, three worlds by default
// (its builds and compiles take a minute a project) and the other four on
// demand. All 21 pass.
kit_tests! {
    rust: [locker, raw, chat, exec, smarthome, greet, plate],
    js: [locker, raw, chat, exec, smarthome, greet, plate],
    python: [locker, raw, chat] slow [exec, smarthome, greet, plate],
}

/// `wasmgate new`'s refusals: exit status 2 and a message that says what
/// would be accepted; nothing is written.
#[test]
fn refusals_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], want: &str| {
        let out = wasmgate()
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    refused(
        &["new", "ftp", "--lang", "rust"],
        "invalid value 'ftp' for '<WORLD>'\n  [possible values: locker, chat, exec, plate, raw, smarthome, greet]",
    );
    refused(
        &["new", "raw", "--lang", "cobol"],
        "invalid value 'cobol' for '--lang <LANG>'\n  [possible values: rust, python, js]",
    );
    refused(
        &["new", "raw", "--lang", "rust", "--name", "My_Plugin"],
        "invalid plugin name \"My_Plugin\"",
    );
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine").unwrap();
    refused(
        &["new", "raw", "--lang", "rust", "taken"],
        "taken exists and is not empty",
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("taken")).unwrap().count(),
        1,
        "something was written into the refused directory"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    // Without a name or directory: ./my-<world>.
    let out = run(
        wasmgate()
            .current_dir(tmp.path())
            .args(["new", "greet", "--lang", "python"]),
        "wasmgate new",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("named \"my-greet\""));
    assert!(tmp.path().join("my-greet/app.py").is_file());
}
