//! Test harness: each test starts the real `wasmgate` binary with a
//! configuration of its own through `wasmgate-testkit` (the harness the
//! bench uses too) and talks to it over real sockets. Each test gets its
//! own host, so tests run in parallel. What is here is the tests' side: a
//! panicking face of the testkit's host, polling with assertions, plugin
//! variants, and protocol clients.

#![allow(dead_code)]

pub mod chat;
pub mod exec;
pub mod locker;
pub mod plate;
pub mod smarthome;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmgate_testkit::Setup;

pub const WAIT: Duration = Duration::from_secs(20);

/// Repository root.
pub fn root() -> PathBuf {
    wasmgate_testkit::repo_root()
}

/// How the tests start hosts: this build's `wasmgate`, the repository's
/// components and compile cache, [`WAIT`] for readiness, for SIGTERM and
/// for each admin request.
pub fn setup() -> Setup {
    let mut setup = Setup::new(env!("CARGO_BIN_EXE_wasmgate"));
    setup.wait = WAIT;
    setup.admin_timeout = WAIT;
    setup
}

/// A component built by `scripts/build-plugins`.
pub fn built(file: &str) -> PathBuf {
    setup().component(file).unwrap_or_else(|| {
        panic!("{file} is not built: run scripts/build-plugins (scripts/test does)")
    })
}

/// A test's host: the testkit's [`wasmgate_testkit::Host`] (its methods
/// that cannot fail are reached through `Deref`), whose fallible calls
/// panic here with what went wrong.
pub struct Host(wasmgate_testkit::Host);

impl std::ops::Deref for Host {
    type Target = wasmgate_testkit::Host;

    fn deref(&self) -> &wasmgate_testkit::Host {
        &self.0
    }
}

impl From<wasmgate_testkit::Host> for Host {
    fn from(host: wasmgate_testkit::Host) -> Host {
        Host(host)
    }
}

impl Host {
    /// Starts a host with `body` (plugins and listeners) after the harness's
    /// own admin/store/runtime sections. `plugins` are (built file, name in
    /// the plugin directory) to install before start.
    pub fn start(body: &str, plugins: &[(&str, &str)]) -> Host {
        Host::start_within(body, plugins, WAIT)
    }

    /// [`Host::start`], waiting up to `wait` for the host to be ready.
    pub fn start_within(body: &str, plugins: &[(&str, &str)], wait: Duration) -> Host {
        Host::start_custom(body, plugins, "", &[], wait)
    }

    /// [`Host::start_within`] with more lines for the `[admin]` section and
    /// environment variables for the process.
    pub fn start_custom(
        body: &str,
        plugins: &[(&str, &str)],
        admin: &str,
        env: &[(&str, &str)],
        wait: Duration,
    ) -> Host {
        let mut setup = setup();
        setup.admin_lines = admin.to_string();
        setup.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        setup.wait = wait;
        Host::start_from(&setup, body, plugins)
    }

    /// [`Host::start`] from a [`setup`] the test has changed.
    pub fn start_from(setup: &Setup, body: &str, plugins: &[(&str, &str)]) -> Host {
        let plugins: Vec<(PathBuf, &str)> = plugins
            .iter()
            .map(|(file, name)| (built(file), *name))
            .collect();
        Host(
            setup
                .start("test", body, &plugins)
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        self.0.addr(listener).unwrap()
    }

    /// The host process's peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.0.mem().unwrap().hwm_kib
    }

    /// Replaces a plugin file the way a deployment does: write a temporary
    /// file, rename it over the old one.
    pub fn replace_plugin(&self, name: &str, bytes: &[u8]) {
        self.0.replace_plugin(name, bytes).unwrap();
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.0.kill();
    }

    /// Starts the host again on the same directory (store, plugins, config).
    /// Ports are new.
    pub fn restart(&mut self) {
        self.0.restart().unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.0.terminate().unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.0.get(path).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        self.0.post(path, body).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// POST /admin/{plugin}, expecting success; the JSON answer.
    pub fn admin_ok(&self, plugin: &str, body: serde_json::Value) -> serde_json::Value {
        self.0
            .admin(plugin, &body)
            .unwrap_or_else(|e| panic!("admin {body}: {e:#}"))
    }

    pub fn plugin_info(&self, name: &str) -> serde_json::Value {
        self.0.plugin_info(name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Waits until `cond` holds for the plugin's entry in GET /plugins.
    pub fn wait_plugin(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.wait_plugin_within(name, what, WAIT, cond)
    }

    /// [`Host::wait_plugin`], waiting up to `wait`.
    pub fn wait_plugin_within(
        &self,
        name: &str,
        what: &str,
        wait: Duration,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let info = self.plugin_info(name);
            if cond(&info) {
                return info;
            }
            assert!(
                started.elapsed() < wait,
                "plugin {name}: {what} did not happen: {info}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of one metric sample (`name{labels}`, exact labels), 0 if
    /// absent.
    pub fn metric(&self, key: &str) -> f64 {
        self.0
            .metrics()
            .unwrap_or_else(|e| panic!("{e:#}"))
            .get(key)
    }

    /// Waits until the metric sample `key` reads `want` (counters are
    /// bumped just after the write a client sees, so reading once can race).
    pub fn wait_metric(&self, key: &str, want: f64) {
        let started = Instant::now();
        loop {
            let got = self.metric(key);
            if got == want {
                return;
            }
            assert!(started.elapsed() < WAIT, "{key} is {got}, want {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One implementation of a plugin that a suite runs against (see
/// [`variant_tests!`]): the component file built by `scripts/build-plugins`
/// (none for a plugin the host provides itself) and extra lines for the
/// plugin's `[plugins.NAME]` table.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Short name, e.g. "rust", "python".
    pub label: &'static str,
    /// World of the plugin (used to compile the file ahead of the tests).
    pub world: &'static str,
    /// Built file, installed in the plugin directory as `NAME.wasm`.
    pub file: Option<&'static str>,
    /// Lines added to `[plugins.NAME]`, e.g. `memory_mb = 128`.
    pub table: &'static str,
}

impl Variant {
    /// The bytes of the built file.
    pub fn bytes(&self) -> Vec<u8> {
        let file = self.file.expect("this variant has no component file");
        std::fs::read(built(file)).unwrap()
    }

    /// Compiles the file into the shared cache (once per test process).
    pub fn warm(&self) {
        if let Some(file) = self.file {
            warm_cache(file, self.world, self.table);
        }
    }

    /// Starts a host with `body`, installing this variant's file as
    /// `{plugin}.wasm` (the file name a `[plugins.{plugin}]` table without a
    /// `file` key loads). The file is compiled once for all the tests first.
    pub fn start(&self, body: &str, plugin: &str) -> Host {
        let installed = format!("{plugin}.wasm");
        match self.file {
            Some(file) => {
                self.warm();
                Host::start(body, &[(file, installed.as_str())])
            }
            None => Host::start(body, &[]),
        }
    }
}

/// Which of `variants` the host serves as `plugin`: the one whose built file
/// has the SHA-256 that GET /plugins shows.
pub fn serving(host: &Host, plugin: &str, variants: &[&Variant]) -> &'static str {
    use sha2::Digest;
    let sha = host.plugin_info(plugin)["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let of = |v: &Variant| {
        let digest = sha2::Sha256::digest(v.bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    variants
        .iter()
        .find(|v| v.file.is_some() && of(v) == sha)
        .unwrap_or_else(|| panic!("{plugin}: serving none of the built files: {sha}"))
        .label
}

/// Makes each listed test function (`fn NAME(v: &Variant)`) a `#[test]` once
/// per variant: `variant_tests!(rust => RUST, python => PYTHON; [a, b]);`
/// gives `rust::a`, `rust::b`, `python::a`, `python::b`, where `RUST` and
/// `PYTHON` are `Variant` constants of the test file.
#[macro_export]
macro_rules! variant_tests {
    ($($module:ident => $variant:ident),+ $(,)? ; $tests:tt) => {
        $( $crate::variant_tests!(@module $module, $variant, $tests); )+
    };
    (@module $module:ident, $variant:ident, [$($test:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test(&super::$variant)
                }
            )*
        }
    };
}

/// Compiles `file` into the shared compile cache once per test process, by
/// starting a host that loads it (given minutes, not [`WAIT`]) with the
/// plugin table lines `table`. Tests that
/// start hosts in parallel then load it from the cache in milliseconds
/// instead of each compiling it at once (a Python component takes seconds of
/// Cranelift; eight at once on two cores would outlast [`WAIT`]).
pub fn warm_cache(file: &str, world: &str, table: &str) {
    static WARM: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = WARM.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|f| f == file) {
        return;
    }
    let body = format!("[plugins.warm]\nworld = {world:?}\nfile = {file:?}\n{table}\n");
    let host = Host::start_within(&body, &[(file, file)], Duration::from_secs(300));
    let info = host.plugin_info("warm");
    assert_eq!(
        info["loaded"],
        true,
        "{file} did not load: {info}\n{}",
        host.log()
    );
    done.push(file.to_string());
}

/// A TLS client session for "localhost" that trusts only the certificate
/// in `cert_pem` (the host's self-signed one).
pub fn tls_client(cert_pem: &Path) -> rustls::ClientConnection {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap()
}

/// A line-protocol client: writes bytes, reads whole answers.
pub struct LineClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl LineClient {
    pub fn connect(addr: SocketAddr) -> LineClient {
        LineClient::on(TcpStream::connect(addr).unwrap())
    }

    /// A client on a connection already open.
    pub fn on(stream: TcpStream) -> LineClient {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        LineClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads until the buffered input holds a line satisfying `is_end`;
    /// returns everything up to and including it.
    pub fn read_until(&mut self, is_end: impl Fn(&str) -> bool) -> String {
        loop {
            let mut start = 0;
            while let Some(pos) = self.buf[start..].iter().position(|b| *b == b'\n') {
                let end = start + pos + 1;
                let line = String::from_utf8_lossy(&self.buf[start..end])
                    .trim_end()
                    .to_string();
                if is_end(&line) {
                    let out: Vec<u8> = self.buf.drain(..end).collect();
                    return String::from_utf8(out).unwrap();
                }
                start = end;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("reading an answer");
            assert!(
                n > 0,
                "connection closed; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True when the server closed the connection (reads EOF) within `wait`.
    pub fn is_closed(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 64];
        let closed = matches!(self.stream.read(&mut chunk), Ok(0) | Err(_));
        self.stream.set_read_timeout(Some(WAIT)).unwrap();
        closed
    }
}

/// Whether a read failed only because nothing came within the socket's
/// read timeout (the connection is still open).
pub fn read_timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// [`read_timed_out`] for a WebSocket read.
pub fn timed_out(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if read_timed_out(io))
}

/// A plate frame's fixed-width text field: `struct` pads a short one with
/// NULs.
pub fn padded(s: &str, width: usize) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.resize(width, 0);
    b
}

/// A plate camera's login frame, as the original client packs it:
/// `struct.pack("=BB8s8sB80s", 1, 0, city, park, server, token)`.
pub fn plate_login(city: &str, park: &str, server: u8, token: &str) -> Vec<u8> {
    [
        vec![1, 0],
        padded(city, 8),
        padded(park, 8),
        vec![server],
        padded(token, 80),
    ]
    .concat()
}

/// A plate recognition request's body (`!B%ds19s32sI` + the image), after
/// the type and compress-mode bytes.
pub fn recognition_body(camera: &str, identify: &str, image: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    let md5 = hex::encode(md5::Md5::digest(image));
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
