//! The kit's embedded files: the WIT package (the repository's `wit/`),
//! the per-world handlers and the per-language scaffolding (`host/kit/`),
//! and the toolchain versions the repository's own plugins pin (the
//! workspace's wit-bindgen, `plugins/locker-py/requirements.txt`,
//! `plugins/chat-js/package.json` and its lock file), so a generated
//! project builds with what the repository builds with.

use super::{File, Lang};

/// What the kit knows of one world: the README's words about the starter
/// handler and the host configuration that serves it.
#[derive(Debug)]
pub struct World {
    pub name: &'static str,
    /// What the generated handler does (README, Markdown).
    pub summary: &'static str,
    /// A listener for the world's protocol (TOML, `%%name%%` is the plugin).
    pub listener: &'static str,
    /// The plugin's `[plugins.NAME.config]` lines the handler reads.
    pub config: &'static str,
    /// How to talk to it once it is served (README, Markdown).
    pub try_it: &'static str,
    /// Dependencies of the Rust project beyond wit-bindgen (Cargo.toml lines).
    pub rust_deps: &'static str,
    rust: &'static str,
    python: [&'static str; 3],
    js: [&'static str; 3],
}

/// The code of one world in each language: Rust's `src/lib.rs`; Python's
/// `app.py`, `handler.py`, `test_handler.py`; JavaScript's `app.js`,
/// `handler.js`, `test/handler.test.mjs`.
macro_rules! code {
    ($w:literal) => {
        (
            include_str!(concat!("../../kit/rust/", $w, ".rs")),
            [
                include_str!(concat!("../../kit/python/", $w, "/app.py")),
                include_str!(concat!("../../kit/python/", $w, "/handler.py")),
                include_str!(concat!("../../kit/python/", $w, "/test_handler.py")),
            ],
            [
                include_str!(concat!("../../kit/js/", $w, "/app.js")),
                include_str!(concat!("../../kit/js/", $w, "/handler.js")),
                include_str!(concat!("../../kit/js/", $w, "/handler.test.mjs")),
            ],
        )
    };
}

macro_rules! worlds {
    ($($w:literal => { $($field:ident: $value:expr,)* }),+ $(,)?) => {
        /// Every world `wasmgate new` writes a project for (the protocol
        /// worlds of the WIT package; a unit test keeps this in step with
        /// the host's protocol table).
        pub static WORLDS: &[World] = &[$({
            const CODE: (&str, [&str; 3], [&str; 3]) = code!($w);
            World {
                name: $w,
                $($field: $value,)*
                rust: CODE.0,
                python: CODE.1,
                js: CODE.2,
            }
        }),+];
    };
}

worlds! {
    "locker" => {
        summary: "A locker policy: every board that reports gets an answer with no codes, and the boards listed in the config value `blocked` (IDs, comma-separated) are answered `STATE=3` (access blocked). Codes to hand out come next: keep them in the key-value store, set them from `admin.handle`.",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"locker\"\nlisten = \"0.0.0.0:5000\"\nplugin = \"%%name%%\"\n",
        config: "blocked = \"board-7,board-9\"\n",
        try_it: "```sh\nprintf 'ACon_V1.0\\r\\nID=board-7\\r\\nSEND=1\\r\\nCLOSE' | nc -q 1 localhost 5000   # STATE=3: blocked\n```",
        rust_deps: "",
    },
    "chat" => {
        summary: "A chat room: `01` logs in a guest (a name of 1-32 letters and digits, unique among those online, told to the others as `30`), `04` delivers a private message to the named user (with a `14` receipt: `Flag` 0 when they are not online), `05` sends to everyone online, `03` and a closed connection say goodbye (`31`). Registration (`02`) is refused: add it with `passwords` and the key-value store.",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"chat\"\nlisten = \"0.0.0.0:4004\"\nplugin = \"%%name%%\"\n",
        config: "",
        try_it: "```sh\nnc localhost 4004\n{\"Command\":\"01\",\"Name\":\"alice\"}\n{\"Command\":\"05\",\"Message\":\"hello\"}\n```",
        rust_deps: "",
    },
    "exec" => {
        summary: "A remote-execute relay: a client logs in with `{\"cmd\":\"init\",\"token\":\"…\"}` and the token of the config value `token` (any other is refused and the connection closed), joins the one room, and every command it sends after that reaches the other members verbatim; `checkDevice` says whether anyone else is there, the client's `Heartbeat` is answered.",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"exec\"\nlisten = \"0.0.0.0:8765\"\nplugin = \"%%name%%\"\n",
        config: "token = \"change-me\"\n",
        try_it: "Connect two WebSocket clients to `ws://localhost:8765/websocket`, send `{\"cmd\":\"init\",\"token\":\"change-me\"}` from each, then `{\"cmd\":\"execute\",\"data\":\"ls\"}` from one: the other receives it.",
        rust_deps: "",
    },
    "plate" => {
        summary: "The plate protocol's decisions: a camera logs in with one of the tokens of the config value `tokens` (comma-separated); a photo that is not a JPEG or PNG is answered `image-display-error` (errCode 4), and every other photo `not-recognised` (errCode 0) until you put a recogniser where `recognize` says so (the repository's `plugins/plate` is a full one).",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"plate\"\nlisten = \"0.0.0.0:4000\"\nplugin = \"%%name%%\"\n",
        config: "tokens = \"camera-token-1,camera-token-2\"\n",
        try_it: "Point a parking camera (or the repository's `wasmgate-bench plate`) at `ws://localhost:4000` with one of the tokens.",
        rust_deps: "",
    },
    "raw" => {
        summary: "An echo server for a protocol defined in configuration: every frame comes back to its sender, prefixed by the config value `prefix` (none by default). The listener's `framing` decides what a frame is (here: a line).",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"raw\"\nlisten = \"0.0.0.0:7000\"\nplugin = \"%%name%%\"\nframing = { kind = \"terminator\", terminator = \"\\n\" }\n",
        config: "prefix = \"echo: \"\n",
        try_it: "```sh\necho hello | nc -q 1 localhost 7000   # echo: hello\n```",
        rust_deps: "",
    },
    "smarthome" => {
        summary: "The smart-home download: the command word `0x4c` is answered `0x43` and the home's database, which an operator uploads with `POST /admin/%%name%%` `{\"op\":\"upload\",\"data_hex\":\"…\"}` (kept in the plugin's blob store); `{\"op\":\"current\"}` says how many bytes are served. Any other word, or no database yet, is answered with the protocol's error frame.",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"smarthome\"\nlisten = \"0.0.0.0:5005\"\nplugin = \"%%name%%\"\n",
        config: "",
        try_it: "```sh\ncurl -s localhost:9000/admin/%%name%% -d '{\"op\":\"upload\",\"data_hex\":\"53514c697465\"}'\nprintf 'L\\0\\0\\0' | nc -q 1 localhost 5005 | xxd   # 43 00 00 00 06 00 00 00 SQLite\n```",
        rust_deps: "serde_json = \"1\"\n",
    },
    "greet" => {
        summary: "The greeting protocol: `HELLO <name>` is answered `<greeting>, <name>!`, the greeting being the config value `greeting` (\"Hello\" by default); a name over 64 bytes is refused with `ERROR`.",
        listener: "[[listener]]\nname = \"%%name%%\"\nprotocol = \"greet\"\nlisten = \"0.0.0.0:7100\"\nplugin = \"%%name%%\"\n",
        config: "greeting = \"Good morning\"\n",
        try_it: "```sh\necho 'HELLO Ada' | nc -q 1 localhost 7100   # Good morning, Ada!\n```",
        rust_deps: "",
    },
}

/// The WIT package, as in the repository's `wit/` (paths relative to it).
pub static WIT: &[(&str, &str)] = &[
    ("admin.wit", include_str!("../../../wit/admin.wit")),
    ("blobs.wit", include_str!("../../../wit/blobs.wit")),
    ("chat.wit", include_str!("../../../wit/chat.wit")),
    ("config.wit", include_str!("../../../wit/config.wit")),
    ("exec.wit", include_str!("../../../wit/exec.wit")),
    ("greet.wit", include_str!("../../../wit/greet.wit")),
    ("keyvalue.wit", include_str!("../../../wit/keyvalue.wit")),
    ("locker.wit", include_str!("../../../wit/locker.wit")),
    ("logging.wit", include_str!("../../../wit/logging.wit")),
    ("passwords.wit", include_str!("../../../wit/passwords.wit")),
    ("plate.wit", include_str!("../../../wit/plate.wit")),
    ("raw.wit", include_str!("../../../wit/raw.wit")),
    ("sessions.wit", include_str!("../../../wit/sessions.wit")),
    ("smarthome.wit", include_str!("../../../wit/smarthome.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
];

/// The worlds a WIT file defines (`world NAME {` at the start of a line).
fn worlds_defined(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        let rest = l.trim_start().strip_prefix("world ")?;
        rest.split(|c: char| c.is_whitespace() || c == '{').next()
    })
}

/// The WIT files `world` needs: the whole package but the files of the
/// other protocol worlds (each protocol's file holds its interface and its
/// world alone, and nothing else uses them).
pub fn wit_for(world: &str) -> Vec<(&'static str, &'static str)> {
    WIT.iter()
        .copied()
        .filter(|(_, text)| {
            worlds_defined(text).all(|w| w == world || !WORLDS.iter().any(|k| k.name == w))
        })
        .collect()
}

/// The wit-bindgen requirement of the workspace (`[workspace.dependencies]`).
pub fn wit_bindgen_version() -> String {
    let manifest: toml::Table = include_str!("../../../Cargo.toml")
        .parse()
        .expect("the workspace's Cargo.toml, embedded at build time, is TOML");
    manifest["workspace"]["dependencies"]["wit-bindgen"]
        .as_str()
        .expect("the workspace pins wit-bindgen with a version string")
        .to_string()
}

/// componentize-py, pinned as the repository's Python plugins pin it.
pub const PY_REQUIREMENTS: &str = include_str!("../../../plugins/locker-py/requirements.txt");

const CHAT_JS_PACKAGE: &str = include_str!("../../../plugins/chat-js/package.json");
const CHAT_JS_LOCK: &str = include_str!("../../../plugins/chat-js/package-lock.json");

/// The componentize-qjs version of `plugins/chat-js`.
pub fn componentize_qjs_version() -> String {
    let package: serde_json::Value = serde_json::from_str(CHAT_JS_PACKAGE)
        .expect("plugins/chat-js/package.json, embedded at build time, is JSON");
    package["devDependencies"]["componentize-qjs"]
        .as_str()
        .expect("plugins/chat-js pins componentize-qjs")
        .to_string()
}

/// `package.json` of a JavaScript project named `name`.
fn js_package(name: &str, world: &str) -> String {
    let package = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "description": format!("wasmgate plugin (world {world}), built with componentize-qjs"),
        "type": "module",
        "scripts": { "build": "./build.sh", "test": "node --test test/" },
        "devDependencies": { "componentize-qjs": componentize_qjs_version() },
    });
    pretty(&package)
}

/// `package-lock.json` of a JavaScript project: `plugins/chat-js`'s lock
/// (the same toolchain, resolved and checksummed) with the project as its
/// root package, so `npm ci` installs exactly what the repository tests.
fn js_lock(name: &str) -> String {
    let mut lock: serde_json::Value = serde_json::from_str(CHAT_JS_LOCK)
        .expect("plugins/chat-js/package-lock.json, embedded at build time, is JSON");
    lock["name"] = name.into();
    lock["version"] = "0.1.0".into();
    lock["packages"][""] = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "devDependencies": { "componentize-qjs": componentize_qjs_version() },
    });
    pretty(&lock)
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// The command that runs a project's unit tests.
pub fn test_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo test",
        Lang::Python => "python3 -m unittest",
        Lang::Js => "node --test test/",
    }
}

const README: &str = include_str!("../../kit/README.md");

/// Per language: the README's part (layout, build, test) and the scaffolding.
struct LangFiles {
    readme: &'static str,
    build: &'static str,
    gitignore: &'static str,
}

fn lang_files(lang: Lang) -> LangFiles {
    match lang {
        Lang::Rust => LangFiles {
            readme: include_str!("../../kit/rust/README.md"),
            build: include_str!("../../kit/rust/build.sh"),
            gitignore: "/target\n/*.wasm\n",
        },
        Lang::Python => LangFiles {
            readme: include_str!("../../kit/python/README.md"),
            build: include_str!("../../kit/python/build.sh"),
            gitignore: "/.venv\n__pycache__/\n/*.wasm\n",
        },
        Lang::Js => LangFiles {
            readme: include_str!("../../kit/js/README.md"),
            build: include_str!("../../kit/js/build.sh"),
            gitignore: "/node_modules\n/*.wasm\n",
        },
    }
}

/// Replaces each `%%key%%` of `text`.
fn render(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("%%{k}%%"), v);
    }
    out
}

/// Every file of the project for `world` in `lang` named `name`.
pub fn files(world: &World, lang: Lang, name: &str) -> Vec<File> {
    let krate = name.replace('-', "_");
    let wit_bindgen = wit_bindgen_version();
    let qjs = componentize_qjs_version();
    let py = PY_REQUIREMENTS.trim();
    let listener = render(world.listener, &[("name", name)]);
    let config = if world.config.is_empty() {
        String::new()
    } else {
        format!("\n[plugins.{name}.config]\n{}", world.config)
    };
    let l = lang_files(lang);
    let base = [
        ("name", name),
        ("crate", krate.as_str()),
        ("world", world.name),
        ("wit_bindgen", wit_bindgen.as_str()),
        ("componentize_qjs", qjs.as_str()),
        ("componentize_py", py),
        ("rust_deps", world.rust_deps),
        ("test", test_command(lang)),
    ];
    let lang_readme = render(l.readme, &base);
    let summary = render(world.summary, &base);
    let try_it = render(world.try_it, &base);
    let mut vars = base.to_vec();
    vars.extend([
        ("lang", lang.name()),
        ("lang_title", lang.title()),
        ("lang_section", lang_readme.as_str()),
        ("summary", summary.as_str()),
        ("listener", listener.as_str()),
        ("config", config.as_str()),
        ("try_it", try_it.as_str()),
    ]);
    let file = |path: &str, text: &str| File {
        path: path.to_string(),
        text: render(text, &vars),
        executable: false,
    };
    let mut files = vec![
        file("README.md", README),
        file(".gitignore", l.gitignore),
        File {
            executable: true,
            ..file("build.sh", l.build)
        },
    ];
    match lang {
        Lang::Rust => {
            files.push(file(
                "Cargo.toml",
                include_str!("../../kit/rust/Cargo.toml"),
            ));
            files.push(file("src/lib.rs", world.rust));
        }
        Lang::Python => {
            files.push(file("requirements.txt", PY_REQUIREMENTS));
            files.push(file("app.py", world.python[0]));
            files.push(file("handler.py", world.python[1]));
            files.push(file("test_handler.py", world.python[2]));
        }
        Lang::Js => {
            files.push(File {
                path: "package.json".into(),
                text: js_package(name, world.name),
                executable: false,
            });
            files.push(File {
                path: "package-lock.json".into(),
                text: js_lock(name),
                executable: false,
            });
            files.push(file("app.js", world.js[0]));
            files.push(file("handler.js", world.js[1]));
            files.push(file("test/handler.test.mjs", world.js[2]));
        }
    }
    for (path, text) in wit_for(world.name) {
        files.push(File {
            path: format!("wit/{path}"),
            text: text.to_string(),
            executable: false,
        });
    }
    files
}
