//! The configuration file (`wasmgate.toml`): listeners, plugins, limits, store.
//!
//! Every field has a default, so a file only says what differs. A copy of
//! `config/wasmgate.toml` is embedded in the binary and used when `serve`
//! finds no config file ([`locate`]).
//!
//! Paths ([`Config::place`]): a relative path the operator provides
//! (`runtime.plugin_dir`, `runtime.state_dir`, TLS `cert`/`key`,
//! `cluster.credentials`) is relative to the directory of the config
//! file; a relative path of what the host writes (`store.path`,
//! `runtime.cache_dir`, a plate listener's `image_dir`) is relative to the
//! state directory. The embedded defaults behave as the file
//! `config/wasmgate.toml` under the working directory.
//!
//! Plain data, below every other module: a listener is its connection
//! settings ([`ListenerConfig`], the same keys for every protocol) plus its
//! protocol's own settings `P`, which the protocol table
//! (`crate::protocol::Settings`, tagged by `protocol = "..."`) types. This
//! module checks what it can see alone; whether a key applies to a
//! protocol, and whether a plugin's world fits its listener, is checked
//! by the protocol table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// The defaults shipped with the binary (the repository's `config/wasmgate.toml`).
pub const EMBEDDED: &str = include_str!("../../config/wasmgate.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, bound = "P: DeserializeOwned")]
pub struct Config<P> {
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener<P>>,
    /// Several hosts as one service, sharing state through NATS JetStream.
    /// Absent: one process with SQLite.
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`: the NATS servers and how this host joins the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`); the client fails over between them.
    pub urls: Vec<String>,
    /// Token for the NATS servers. `WASMGATE_NATS_TOKEN`, when set and not
    /// empty, takes its place.
    pub token: Option<AdminToken>,
    /// A NATS `.creds` file (JWT + nkey seed) instead of a token.
    pub credentials: Option<PathBuf>,
    /// This host's name among the others: unique, `[A-Za-z0-9_-]`. Default:
    /// the machine's host name.
    pub node: Option<String>,
    /// Prefix of every bucket and subject, so several services can share
    /// one NATS: `[A-Za-z0-9_-]`.
    pub name: String,
    /// Copies of every bucket on the NATS cluster (1, or 3 on a 3-node cluster).
    pub replicas: usize,
    /// A host whose liveness key is this old is dead: the others release
    /// its sessions and claims.
    pub dead_after_ms: u64,
    /// Longest any NATS request may take before the operation is refused.
    pub request_timeout_ms: u64,
    /// Largest size of one plugin's key-value bucket, in bytes (each host
    /// keeps a copy of its keys and values in memory).
    pub kv_max_bytes: i64,
    /// Messages from other hosts waiting to be delivered here; past it the
    /// subscription is a slow consumer and messages are dropped (counted).
    pub inbox_capacity: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            urls: vec!["nats://127.0.0.1:4222".to_string()],
            token: None,
            credentials: None,
            node: None,
            name: "wasmgate".to_string(),
            replicas: 1,
            dead_after_ms: 3_000,
            request_timeout_ms: 2_000,
            kv_max_bytes: 256 << 20,
            inbox_capacity: 65_536,
        }
    }
}

impl ClusterConfig {
    pub fn effective_token(&self) -> Option<AdminToken> {
        match std::env::var("WASMGATE_NATS_TOKEN") {
            Ok(t) if !t.is_empty() => Some(AdminToken(t)),
            _ => self.token.clone(),
        }
    }

    /// This host's node name: the configured one, else the machine's.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "wasmgate".to_string())
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn dead_after(&self) -> Duration {
        Duration::from_millis(self.dead_after_ms)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if self.urls.is_empty() {
            bail!("cluster.urls is empty");
        }
        if !plain(&self.name) {
            bail!("cluster.name {:?}: 1 to 64 of [A-Za-z0-9_-]", self.name);
        }
        if let Some(node) = &self.node
            && !plain(node)
        {
            bail!("cluster.node {node:?}: 1 to 64 of [A-Za-z0-9_-]");
        }
        if !(1..=5).contains(&self.replicas) {
            bail!("cluster.replicas must be 1 to 5");
        }
        if self.dead_after_ms < 1_000 {
            bail!("cluster.dead_after_ms must be at least 1000 (NATS TTLs are whole seconds)");
        }
        if self.request_timeout_ms == 0 || self.kv_max_bytes <= 0 || self.inbox_capacity == 0 {
            bail!("cluster.request_timeout_ms, kv_max_bytes and inbox_capacity must be > 0");
        }
        if self.token.is_some() && self.credentials.is_some() {
            bail!("cluster: give token or credentials, not both");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin HTTP API; keep it on loopback or a private network.
    pub listen: SocketAddr,
    /// Largest request body accepted by `POST /admin/{plugin}`.
    pub max_body_bytes: usize,
    /// Bearer token every admin request but `GET /health` must carry
    /// (`Authorization: Bearer …`). The environment variable
    /// `WASMGATE_ADMIN_TOKEN`, when set and not empty, takes its place (keeps
    /// the secret out of the file). None: no authentication.
    pub token: Option<AdminToken>,
    /// Serve the admin API over HTTPS, with the same rules as a listener's
    /// `[listener.tls]` (PEM files, or the self-signed certificate kept in
    /// `<state dir>/tls/`), so the token never crosses a network in clear.
    pub tls: Option<TlsConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9000".parse().expect("valid address"),
            max_body_bytes: 16 << 20,
            token: None,
            tls: None,
        }
    }
}

impl AdminConfig {
    /// The token in force: `WASMGATE_ADMIN_TOKEN` if set and not empty,
    /// else the file's.
    pub fn effective_token(&self) -> Option<AdminToken> {
        match std::env::var("WASMGATE_ADMIN_TOKEN") {
            Ok(t) if !t.is_empty() => Some(AdminToken(t)),
            _ => self.token.clone(),
        }
    }
}

/// A secret: never printed (`Debug` shows `<redacted>`).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// WAL + synchronous=NORMAL: survives a crash of the host (`kill -9`);
    /// the last transactions may be lost on power failure.
    #[default]
    Normal,
    /// synchronous=FULL: every commit also survives a power failure.
    Full,
}

/// What one client may do, on every listener (README, "Limits and
/// abuse").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failed logins an address (or an identity: a chat name, a camera's
    /// City/Park) may make before its logins are refused unchecked.
    pub login_free_failures: u32,
    /// How long they are refused after that many failures, doubling with
    /// each further failure; 0 turns the backoff off.
    pub login_backoff_ms: u64,
    /// Longest backoff; failures older than this are forgotten.
    pub login_backoff_max_ms: u64,
    /// Chat registrations one address may make in any 60 seconds (0: no
    /// limit).
    pub registrations_per_minute: u32,
    /// Connections open at once on all listeners together. None: the
    /// process's descriptor limit less `fd_reserve`.
    pub max_open_connections: Option<usize>,
    /// Descriptors kept out of the connection budget: the admin API, the
    /// store, plugin files, logs.
    pub fd_reserve: usize,
}

impl LimitsConfig {
    /// The connection budget, given the process's descriptor limit (None:
    /// unknown).
    pub fn open_connections(&self, fd_limit: Option<usize>) -> usize {
        match (self.max_open_connections, fd_limit) {
            (Some(n), _) => n,
            (None, Some(fds)) => fds.saturating_sub(self.fd_reserve).max(1),
            (None, None) => usize::MAX >> 4,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            login_free_failures: 5,
            login_backoff_ms: 1_000,
            login_backoff_max_ms: 60_000,
            registrations_per_minute: 10,
            max_open_connections: None,
            fd_reserve: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file of the key-value store (created with its directory);
    /// relative to the state directory. None: `wasmgate.db` there.
    pub path: Option<PathBuf>,
    pub synchronous: Synchronous,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: None,
            synchronous: Synchronous::Normal,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Directory holding the plugins' `.wasm` files; watched for changes.
    /// `serve --plugins DIR` takes its place.
    pub plugin_dir: PathBuf,
    /// Directory of what the host writes: the store, the compile cache, the
    /// self-signed TLS certificate, by default the plate images.
    /// `serve --state-dir DIR`, then `$STATE_DIRECTORY` (systemd's
    /// `StateDirectory=`), take its place. None: `data` beside the
    /// config file.
    pub state_dir: Option<PathBuf>,
    /// Granularity of call deadlines (the epoch tick).
    pub epoch_tick_ms: u64,
    /// Quiet time after the last change to a `.wasm` before it is reloaded.
    pub reload_debounce_ms: u64,
    /// How long SIGTERM waits for connections to finish their current message.
    pub shutdown_grace_ms: u64,
    /// Instances the pooling allocator can hold at once, all plugins together.
    pub max_instances: u32,
    /// Threads for blocking work (plugin calls, the store, decompression)
    /// at most: each keeps its own malloc arena, so a flood of calls must
    /// not grow the process past this many.
    pub max_blocking_threads: usize,
    /// Where compiled components are kept between starts and reloads,
    /// relative to the state directory (unset: `compiled`; `""`: no
    /// cache). Only the host's own user may write there: entries are
    /// loaded as code.
    pub cache_dir: Option<PathBuf>,
}

/// The state directory when nothing names one: `data` beside the config.
const DEFAULT_STATE_DIR: &str = "data";

impl<P> Config<P> {
    /// The state directory ([`RuntimeConfig::state_dir`]).
    pub fn state_dir(&self) -> &Path {
        self.runtime
            .state_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_STATE_DIR))
    }

    /// A path of something the host writes: as given when absolute, else
    /// inside the state directory.
    pub fn in_state_dir(&self, path: &Path) -> PathBuf {
        self.state_dir().join(path)
    }

    /// The SQLite file of the store.
    pub fn store_path(&self) -> PathBuf {
        self.in_state_dir(
            self.store
                .path
                .as_deref()
                .unwrap_or(Path::new("wasmgate.db")),
        )
    }

    /// The compile cache directory, if caching is on.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        match &self.runtime.cache_dir {
            Some(d) if d.as_os_str().is_empty() => None,
            Some(d) => Some(self.in_state_dir(d)),
            None => Some(self.in_state_dir(Path::new("compiled"))),
        }
    }

    /// Resolves the paths the operator provides against `base` (the
    /// config file's directory) and fixes the state directory: `overrides`
    /// first, then `$STATE_DIRECTORY`, then `runtime.state_dir`, then
    /// `data`. Paths of what the host writes stay relative to the state
    /// directory (see [`Config::in_state_dir`]).
    pub fn place(&mut self, base: &Path, overrides: &Placement) {
        let from_systemd = std::env::var_os("STATE_DIRECTORY")
            // systemd joins several StateDirectory= entries with ':'
            .and_then(|v| std::env::split_paths(&v).next())
            .filter(|v| !v.as_os_str().is_empty());
        self.place_with(base, overrides, from_systemd);
    }

    /// [`Config::place`] with `$STATE_DIRECTORY`'s value given.
    fn place_with(&mut self, base: &Path, overrides: &Placement, from_systemd: Option<PathBuf>) {
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        let base = Based(&base);
        self.runtime.plugin_dir = match &overrides.plugin_dir {
            Some(dir) => dir.clone(),
            None => base.join(&self.runtime.plugin_dir),
        };
        self.runtime.state_dir = Some(match (&overrides.state_dir, from_systemd) {
            (Some(dir), _) => dir.clone(),
            (None, Some(dir)) => dir,
            (None, None) => base.join(
                self.runtime
                    .state_dir
                    .as_deref()
                    .unwrap_or(Path::new(DEFAULT_STATE_DIR)),
            ),
        });
        let tls = self.admin.tls.iter_mut().chain(
            self.listeners
                .iter_mut()
                .filter_map(|l| l.conn.tls.as_mut()),
        );
        for t in tls {
            for file in [&mut t.cert, &mut t.key].into_iter().flatten() {
                *file = base.join(&*file);
            }
        }
        if let Some(creds) = self.cluster.as_mut().and_then(|c| c.credentials.as_mut()) {
            *creds = base.join(&*creds);
        }
    }
}

/// A directory relative paths are joined to, `..` taken lexically: the
/// embedded defaults' `../target/plugins` must not need a `config/`
/// directory to exist, and logs show plain paths.
struct Based<'a>(&'a Path);

impl Based<'_> {
    fn join(&self, path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in self.0.join(path).components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    if !out.pop() {
                        out.push(part);
                    }
                }
                other => out.push(other),
            }
        }
        out
    }
}

/// What `serve`'s command line says about where things are; it wins over
/// the config file.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// `--plugins DIR`
    pub plugin_dir: Option<PathBuf>,
    /// `--state-dir DIR`
    pub state_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            plugin_dir: PathBuf::from("plugins"),
            state_dir: None,
            epoch_tick_ms: 10,
            reload_debounce_ms: 250,
            shutdown_grace_ms: 5_000,
            max_instances: 1_000,
            max_blocking_threads: 64,
            cache_dir: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// WIT world the component implements (`locker`, `raw`, ...).
    pub world: String,
    /// File name inside `runtime.plugin_dir`; defaults to `<name>.wasm`.
    pub file: Option<String>,
    /// `wasm` (the component file) or `native`: the same Rust logic
    /// compiled into the host, for benchmarks and as a baseline. A native
    /// plugin has no file, no reload, no deadline and no memory cap.
    #[serde(default)]
    pub backend: Backend,
    /// Deadline of one call into the component.
    #[serde(default = "defaults::deadline_ms")]
    pub deadline_ms: u64,
    /// Linear-memory cap of one instance.
    #[serde(default = "defaults::memory_mb")]
    pub memory_mb: u64,
    /// Calls running in the component at once (= warm instances kept).
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: u32,
    /// How long a call waits for a free slot before the protocol's busy
    /// answer; 0 refuses at once.
    #[serde(default = "defaults::queue_timeout_ms")]
    pub queue_timeout_ms: u64,
    /// Values the component reads with `config.get`.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Wasm,
    Native,
}

impl PluginConfig {
    pub fn file_name(&self, plugin: &str) -> String {
        self.file
            .clone()
            .unwrap_or_else(|| format!("{plugin}.wasm"))
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Config values as strings, the form the component sees.
    pub fn string_values(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }
}

mod defaults {
    pub fn deadline_ms() -> u64 {
        1_000
    }
    pub fn memory_mb() -> u64 {
        64
    }
    pub fn max_concurrency() -> u32 {
        16
    }
    pub fn queue_timeout_ms() -> u64 {
        1_000
    }
    pub fn max_connections() -> usize {
        10_000
    }
    pub fn max_connections_per_ip() -> usize {
        1_000
    }
    pub fn idle_timeout_s() -> u64 {
        600
    }
    pub fn write_timeout_ms() -> u64 {
        10_000
    }
    pub fn message_timeout_ms() -> u64 {
        30_000
    }
    pub fn outbox_capacity() -> usize {
        1024
    }
    pub fn outbox_bytes() -> usize {
        32 * 1024 * 1024
    }
    pub fn handshake_timeout_ms() -> u64 {
        10_000
    }
}

/// One `[[listener]]`: its connection settings and its protocol's own
/// settings `P` (the keys that are left, with `protocol`).
#[derive(Debug, Clone)]
pub struct Listener<P> {
    pub conn: ListenerConfig,
    pub protocol: P,
}

impl<'de, P: DeserializeOwned> Deserialize<'de> for Listener<P> {
    /// The connection keys first; what is left (and `protocol`) is the
    /// protocol's, which refuses a key it does not know.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let conn = ListenerConfig::deserialize(d)?;
        let name = conn.name.clone();
        let protocol = P::deserialize(toml::Value::Table(conn.rest.clone()))
            .map_err(|e| D::Error::custom(format!("listener {name:?}: {e}")))?;
        Ok(Listener { conn, protocol })
    }
}

/// The settings every listener has, whatever its protocol: what the
/// connection driver and the transports read. Some apply only to some
/// protocols (TLS, heartbeat, WebSocket path, outbox); the protocol table
/// refuses them elsewhere.
#[derive(Debug, Clone, Deserialize)]
pub struct ListenerConfig {
    /// Name used in logs and metrics.
    pub name: String,
    pub listen: SocketAddr,
    /// Plugin (a key of `[plugins]`) that handles the messages.
    pub plugin: String,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Connections one address may hold open on this listener.
    #[serde(default = "defaults::max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// A connection silent this long is closed.
    #[serde(default = "defaults::idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// A peer that does not take an answer within this is dropped.
    #[serde(default = "defaults::write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// A message must arrive whole within this of its first byte (TCP
    /// protocols), or the connection is closed: a drip-feeding peer.
    #[serde(default = "defaults::message_timeout_ms")]
    pub message_timeout_ms: u64,
    /// Largest message accepted; larger ones are refused with the
    /// protocol's error. None: the protocol's default (see
    /// [`ListenerConfig::max_message_bytes`]).
    #[serde(rename = "max_message_bytes")]
    pub max_message_bytes_set: Option<usize>,
    /// The protocol's default of `max_message_bytes` (set by the protocol
    /// table, not read from the file).
    #[serde(skip)]
    pub default_max_message_bytes: usize,
    /// Serve over TLS with this certificate (chat on 4399, wss for the
    /// WebSocket protocols).
    pub tls: Option<TlsConfig>,
    /// Interval of the protocol's server heartbeat, where it has one
    /// (each protocol documents its default; 0: none).
    pub heartbeat_ms: Option<u64>,
    /// WebSocket request path to accept, and every path below it (`None`:
    /// the protocol's default).
    pub ws_path: Option<String>,
    /// Messages queued for one client before it counts as a slow consumer
    /// and is disconnected (protocols with sessions).
    pub outbox_capacity: Option<usize>,
    /// Bytes queued for one client before it counts as a slow consumer
    /// (one message larger than this still goes to an empty outbox).
    pub outbox_bytes: Option<usize>,
    /// The keys that are not the connection's: the protocol's settings.
    #[serde(flatten)]
    rest: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain and private key. With neither, the host makes a
    /// self-signed certificate on first start and keeps it in the state
    /// directory (`tls/`).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    #[serde(default = "defaults::handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
}

impl ListenerConfig {
    /// Largest message accepted: `max_message_bytes`, or the protocol's
    /// default.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes_set
            .unwrap_or(self.default_max_message_bytes)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
    pub fn message_timeout(&self) -> Duration {
        Duration::from_millis(self.message_timeout_ms)
    }
    /// Bound of the TLS handshake (`[listener.tls]`) and of a WebSocket
    /// handshake; 10 s when the listener has no TLS section.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(
            self.tls
                .as_ref()
                .map_or(defaults::handshake_timeout_ms(), |t| t.handshake_timeout_ms),
        )
    }
    pub fn outbox_capacity(&self) -> usize {
        self.outbox_capacity
            .unwrap_or_else(defaults::outbox_capacity)
    }
    pub fn outbox_bytes(&self) -> usize {
        self.outbox_bytes.unwrap_or_else(defaults::outbox_bytes)
    }
    /// The heartbeat interval: `heartbeat_ms`, else `default`; none when 0.
    pub fn heartbeat(&self, default: Duration) -> Option<Duration> {
        match self.heartbeat_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => Some(default).filter(|d| !d.is_zero()),
        }
    }
}

/// Where `serve` looks for its configuration when `--config` is not given,
/// in the working directory and in order: a release bundle's layout, then
/// a checkout's. Then `wasmgate.toml` beside the executable (a bundle's
/// binary started from elsewhere); none: [`EMBEDDED`].
pub const SEARCH: &[&str] = &["wasmgate.toml", "config/wasmgate.toml"];

/// A configuration's text, where it came from, and the directory its
/// relative paths are relative to.
#[derive(Debug, Clone)]
pub struct Source {
    pub text: String,
    /// The file's path, or "embedded defaults".
    pub origin: String,
    pub base: PathBuf,
}

/// The configuration `serve` runs: the file `path` when given (it must
/// exist: a mistyped name does not quietly serve the defaults), else the
/// first of [`SEARCH`] that exists under the working directory, else
/// `wasmgate.toml` beside the executable, else the embedded defaults
/// (whose paths are those of `config/wasmgate.toml`).
pub fn locate(path: Option<&Path>) -> anyhow::Result<Source> {
    let read = |path: &Path| -> anyhow::Result<Source> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Source {
            text,
            origin: path.display().to_string(),
            base: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        })
    };
    if let Some(path) = path {
        return read(path);
    }
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("wasmgate.toml")));
    let candidates = SEARCH.iter().map(PathBuf::from).chain(beside_binary);
    for candidate in candidates {
        match std::fs::metadata(&candidate) {
            Ok(_) => return read(&candidate),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", candidate.display())),
        }
    }
    Ok(Source {
        text: EMBEDDED.to_string(),
        origin: "embedded defaults".to_string(),
        base: PathBuf::from("config"),
    })
}

impl<P: DeserializeOwned> Config<P> {
    /// Parses `text` and checks what the file says on its own (the
    /// protocol table checks the rest).
    pub fn parse(text: &str) -> anyhow::Result<Config<P>> {
        let config: Config<P> = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.0.trim().is_empty())
        {
            bail!("admin.token is empty: remove it (no authentication) or set a secret");
        }
        let mut names = std::collections::BTreeSet::new();
        for l in self.listeners.iter().map(|l| &l.conn) {
            if !names.insert(&l.name) {
                bail!("two listeners are named {:?}", l.name);
            }
            if !self.plugins.contains_key(&l.plugin) {
                bail!(
                    "listener {:?} names plugin {:?}, which is not in [plugins]",
                    l.name,
                    l.plugin
                );
            }
            if l.max_message_bytes_set == Some(0)
                || l.max_connections == 0
                || l.max_connections_per_ip == 0
                || l.outbox_capacity == Some(0)
                || l.outbox_bytes == Some(0)
            {
                bail!(
                    "listener {:?}: max_message_bytes, max_connections, max_connections_per_ip, outbox_capacity and outbox_bytes must be > 0",
                    l.name
                );
            }
        }
        for (name, p) in &self.plugins {
            if p.max_concurrency == 0 || p.deadline_ms == 0 || p.memory_mb == 0 {
                bail!("plugin {name:?}: max_concurrency, deadline_ms and memory_mb must be > 0");
            }
            let file = p.file_name(name);
            if file.contains('/') || file.contains('\\') {
                bail!(
                    "plugin {name:?}: file {file:?} must be a plain name inside runtime.plugin_dir"
                );
            }
        }
        if self.runtime.epoch_tick_ms == 0 || self.runtime.max_blocking_threads == 0 {
            bail!("runtime.epoch_tick_ms and runtime.max_blocking_threads must be > 0");
        }
        let l = &self.limits;
        if l.login_free_failures == 0 || l.login_backoff_max_ms < l.login_backoff_ms {
            bail!(
                "limits: login_free_failures must be > 0 and login_backoff_max_ms at least login_backoff_ms"
            );
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listener settings as a table, for tests of this layer alone.
    type Plain = Config<toml::Table>;

    #[test]
    fn connection_keys_are_split_from_the_protocol_keys() {
        let c = Plain::parse(
            r#"
            [plugins.p]
            world = "raw"
            [[listener]]
            name = "l"
            protocol = "raw"
            listen = "127.0.0.1:0"
            plugin = "p"
            idle_timeout_s = 7
            error_reply = "ERR {reason}"
            [listener.framing]
            type = "terminator"
            "#,
        )
        .unwrap();
        let l = &c.listeners[0];
        assert_eq!(l.conn.idle_timeout_s, 7);
        assert_eq!(l.conn.outbox_bytes(), 32 << 20);
        let keys: Vec<_> = l.protocol.keys().map(String::as_str).collect();
        assert_eq!(keys, ["error_reply", "framing", "protocol"]);
    }

    #[test]
    fn listener_limits_must_be_positive() {
        let listener = |extra: &str| {
            format!(
                "[plugins.p]\nworld = \"plate\"\n[[listener]]\nname = \"l\"\nprotocol = \"plate\"\nlisten = \"127.0.0.1:0\"\nplugin = \"p\"\n{extra}"
            )
        };
        assert!(Plain::parse(&listener("")).is_ok());
        for bad in [
            "max_message_bytes = 0",
            "outbox_bytes = 0",
            "outbox_capacity = 0",
            "max_connections = 0",
        ] {
            let err = Plain::parse(&listener(bad)).unwrap_err();
            assert!(format!("{err:#}").contains("must be > 0"), "{bad}: {err:#}");
        }
        let err =
            Plain::parse(&listener("").replace("plugin = \"p\"", "plugin = \"q\"")).unwrap_err();
        assert!(format!("{err:#}").contains("not in [plugins]"), "{err:#}");
    }

    #[test]
    fn paths_follow_the_config_file_and_the_state_directory() {
        let text = r#"
            [admin.tls]
            cert = "pki/admin.crt"
            key = "/abs/admin.key"
            [store]
            path = "db/kv.db"
            [runtime]
            plugin_dir = "wasm"
            state_dir = "../var"
            cache_dir = "cc"
            [cluster]
            credentials = "nats.creds"
            "#;
        let base = Path::new("/etc/wg");
        let mut c = Plain::parse(text).unwrap();
        c.place_with(base, &Placement::default(), None);
        assert_eq!(c.runtime.plugin_dir, Path::new("/etc/wg/wasm"));
        assert_eq!(c.state_dir(), Path::new("/etc/var"));
        assert_eq!(c.store_path(), Path::new("/etc/var/db/kv.db"));
        assert_eq!(c.cache_dir().unwrap(), Path::new("/etc/var/cc"));
        let tls = c.admin.tls.as_ref().unwrap();
        assert_eq!(
            tls.cert.as_deref(),
            Some(Path::new("/etc/wg/pki/admin.crt"))
        );
        assert_eq!(tls.key.as_deref(), Some(Path::new("/abs/admin.key")));
        let creds = c.cluster.as_ref().unwrap().credentials.as_deref();
        assert_eq!(creds, Some(Path::new("/etc/wg/nats.creds")));

        // systemd's $STATE_DIRECTORY wins over the file, the command line over both
        let mut c = Plain::parse(text).unwrap();
        c.place_with(base, &Placement::default(), Some("/var/lib/wg".into()));
        assert_eq!(c.store_path(), Path::new("/var/lib/wg/db/kv.db"));
        let mut c = Plain::parse(text).unwrap();
        let flags = Placement {
            plugin_dir: Some("/opt/wg/plugins".into()),
            state_dir: Some("/srv/wg".into()),
        };
        c.place_with(base, &flags, Some("/var/lib/wg".into()));
        assert_eq!(c.runtime.plugin_dir, Path::new("/opt/wg/plugins"));
        assert_eq!(c.state_dir(), Path::new("/srv/wg"));

        // nothing said: data/ beside the file, wasmgate.db and compiled/ in it
        let mut c = Plain::parse("").unwrap();
        c.place_with(base, &Placement::default(), None);
        assert_eq!(c.runtime.plugin_dir, Path::new("/etc/wg/plugins"));
        assert_eq!(c.store_path(), Path::new("/etc/wg/data/wasmgate.db"));
        assert_eq!(c.cache_dir().unwrap(), Path::new("/etc/wg/data/compiled"));
        let mut c = Plain::parse("[runtime]\ncache_dir = \"\"\n").unwrap();
        c.place_with(base, &Placement::default(), None);
        assert_eq!(c.cache_dir(), None);
    }

    #[test]
    fn the_embedded_defaults_keep_a_checkout_s_paths() {
        // as config/wasmgate.toml, under the working directory
        let mut c = Plain::parse(EMBEDDED).unwrap();
        c.place_with(Path::new("/repo/config"), &Placement::default(), None);
        assert_eq!(c.runtime.plugin_dir, Path::new("/repo/target/plugins"));
        assert_eq!(c.store_path(), Path::new("/repo/data/wasmgate.db"));
    }

    #[test]
    fn unknown_field_is_refused() {
        assert!(Plain::parse("[admin]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n").is_err());
        // the admin token: read, never printed, not empty
        let c = Plain::parse("[admin]\ntoken = \"s3cret\"\n").unwrap();
        assert_eq!(c.admin.token, Some(AdminToken("s3cret".into())));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(format!("{:?}", c.admin).contains("<redacted>"));
        assert!(Plain::parse("[admin]\ntoken = \" \"\n").is_err());
        assert_eq!(Plain::parse("").unwrap().admin.token, None);
    }
}
