//! The configuration file (`wasmgate.toml`): listeners, plugins, limits, store.
//!
//! Every field has a default, so a file only says what differs. A copy of
//! `config/wasmgate.toml` is embedded in the binary and used when `serve` is
//! started without a config file present.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The defaults shipped with the binary (the repository's `config/wasmgate.toml`).
pub const EMBEDDED: &str = include_str!("../../config/wasmgate.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
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
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9000".parse().expect("valid address"),
            max_body_bytes: 16 << 20,
            token: None,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file of the key-value store (created with its directory).
    pub path: PathBuf,
    pub synchronous: Synchronous,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data/wasmgate.db"),
            synchronous: Synchronous::Normal,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Directory holding the plugins' `.wasm` files; watched for changes.
    pub plugin_dir: PathBuf,
    /// Granularity of call deadlines (the epoch tick).
    pub epoch_tick_ms: u64,
    /// Quiet time after the last change to a `.wasm` before it is reloaded.
    pub reload_debounce_ms: u64,
    /// How long SIGTERM waits for connections to finish their current message.
    pub shutdown_grace_ms: u64,
    /// Instances the pooling allocator can hold at once, all plugins together.
    pub max_instances: u32,
    /// Where compiled components are kept between starts and reloads
    /// (unset: `compiled/` beside the store's file; `""`: no cache). Only
    /// the host's own user may write there: entries are loaded as code.
    pub cache_dir: Option<PathBuf>,
}

impl Config {
    /// The compile cache directory, if caching is on.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        match &self.runtime.cache_dir {
            Some(d) if d.as_os_str().is_empty() => None,
            Some(d) => Some(d.clone()),
            None => Some(
                self.store
                    .path
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join("compiled"),
            ),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            plugin_dir: PathBuf::from("target/plugins"),
            epoch_tick_ms: 10,
            reload_debounce_ms: 250,
            shutdown_grace_ms: 5_000,
            max_instances: 1_000,
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
    pub fn idle_timeout_s() -> u64 {
        600
    }
    pub fn write_timeout_ms() -> u64 {
        10_000
    }
    /// Per protocol: the remote-execute relay carries command output (the
    /// original accepted 64 MiB, and a megabyte is normal), plate frames
    /// carry photos; the others carry short messages.
    pub fn max_message_bytes(protocol: &str) -> usize {
        match protocol {
            "exec" | "plate" => 16 * 1024 * 1024,
            _ => 64 * 1024,
        }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Wire protocol: `locker`, ...
    pub protocol: String,
    pub listen: SocketAddr,
    /// Plugin (a key of `[plugins]`) that handles the messages.
    pub plugin: String,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// A connection silent this long is closed.
    #[serde(default = "defaults::idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// A peer that does not take an answer within this is dropped.
    #[serde(default = "defaults::write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// Largest message accepted; larger ones are refused with the
    /// protocol's error. None: the protocol's default (see
    /// [`ListenerConfig::max_message_bytes`]).
    #[serde(rename = "max_message_bytes")]
    pub max_message_bytes_set: Option<usize>,
    /// Serve over TLS with this certificate (chat on 4399, wss for the
    /// WebSocket protocols).
    pub tls: Option<TlsConfig>,
    /// Interval of the protocol's server heartbeat, where it has one
    /// (each protocol documents its default).
    pub heartbeat_ms: Option<u64>,
    /// WebSocket request path to accept (`None`: the protocol's default).
    pub ws_path: Option<String>,
    /// Messages queued for one client before it counts as a slow consumer
    /// and is disconnected.
    #[serde(default = "defaults::outbox_capacity")]
    pub outbox_capacity: usize,
    /// Bytes queued for one client before it counts as a slow consumer
    /// (one message larger than this still goes to an empty outbox).
    #[serde(default = "defaults::outbox_bytes")]
    pub outbox_bytes: usize,
    /// How a `raw` listener cuts its byte stream into frames.
    pub framing: Option<crate::codec::frames::Framing>,
    /// For `raw` listeners: a frame sent back when input is refused or the
    /// plugin fails; `{reason}` is replaced by the reason. None: nothing
    /// is sent (the reason is logged).
    pub error_reply: Option<String>,
    /// Plate recognition: where each image is saved (named from camera and
    /// identify). None: images are not saved.
    pub image_dir: Option<PathBuf>,
    /// Time a new connection has to log in, where the protocol has a login.
    pub login_timeout_ms: Option<u64>,
    /// Failed logins a connection may make before it is closed, where the
    /// protocol lets a client retry (plate: default 3).
    pub login_attempts: Option<u32>,
    /// Plate recognition: the language of plate colours in answers, `en`
    /// or `zh`. None: `en`.
    pub color_names: Option<crate::codec::plate::ColorNames>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain and private key. With neither, the host makes a
    /// self-signed certificate on first start and keeps it beside the store.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    #[serde(default = "defaults::handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
}

impl ListenerConfig {
    /// Largest message accepted: `max_message_bytes`, or the protocol's
    /// default (16 MiB for `exec` and `plate`, 64 KiB for the others).
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes_set
            .unwrap_or_else(|| defaults::max_message_bytes(&self.protocol))
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
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
}

impl Config {
    /// Reads `path`; when it does not exist and `fallback_embedded` is set,
    /// the embedded defaults are used instead.
    pub fn load(path: &Path, fallback_embedded: bool) -> anyhow::Result<(Config, String)> {
        let (text, origin) = match std::fs::read_to_string(path) {
            Ok(text) => (text, path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && fallback_embedded => {
                (EMBEDDED.to_string(), "embedded defaults".to_string())
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config = Config::parse(&text).with_context(|| format!("in {origin}"))?;
        Ok((config, origin))
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
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
        for l in &self.listeners {
            if !names.insert(&l.name) {
                bail!("two listeners are named {:?}", l.name);
            }
            let Some(plugin) = self.plugins.get(&l.plugin) else {
                bail!(
                    "listener {:?} names plugin {:?}, which is not in [plugins]",
                    l.name,
                    l.plugin
                );
            };
            let Some(world) = crate::protocol::world_of(&l.protocol) else {
                bail!(
                    "listener {:?}: unknown protocol {:?} (known: {})",
                    l.name,
                    l.protocol,
                    crate::protocol::PROTOCOLS
                        .iter()
                        .map(|p| p.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if plugin.world != world {
                bail!(
                    "listener {:?} speaks {} and needs a plugin of world {world:?}; plugin {:?} is world {:?}",
                    l.name,
                    l.protocol,
                    l.plugin,
                    plugin.world
                );
            }
            match (&l.framing, l.protocol.as_str()) {
                (Some(f), "raw") => f
                    .validate(l.max_message_bytes())
                    .map_err(|e| anyhow::anyhow!("listener {:?}: framing: {e}", l.name))?,
                (None, "raw") => bail!(
                    "listener {:?}: protocol raw needs a [listener.framing] section",
                    l.name
                ),
                (Some(_), other) => bail!(
                    "listener {:?}: framing applies to protocol raw, not {other}",
                    l.name
                ),
                (None, _) => {}
            }
            if l.color_names.is_some() && l.protocol != "plate" {
                bail!(
                    "listener {:?}: color_names applies to protocol plate, not {}",
                    l.name,
                    l.protocol
                );
            }
            if l.login_attempts == Some(0) {
                bail!("listener {:?}: login_attempts must be > 0", l.name);
            }
            if l.max_message_bytes() == 0
                || l.max_connections == 0
                || l.outbox_capacity == 0
                || l.outbox_bytes == 0
            {
                bail!(
                    "listener {:?}: max_message_bytes, max_connections, outbox_capacity and outbox_bytes must be > 0",
                    l.name
                );
            }
        }
        for (name, p) in &self.plugins {
            let Some(ops) = crate::runtime::world_ops(&p.world) else {
                bail!("plugin {name:?}: unknown world {:?}", p.world);
            };
            if p.backend == Backend::Native && !ops.has_native() {
                bail!(
                    "plugin {name:?}: world {:?} has no native build (backend = \"native\" exists for {})",
                    p.world,
                    crate::runtime::worlds::ALL
                        .iter()
                        .filter(|o| o.has_native())
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
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
        if self.runtime.epoch_tick_ms == 0 {
            bail!("runtime.epoch_tick_ms must be > 0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let c = Config::parse(EMBEDDED).unwrap();
        assert!(
            c.listeners
                .iter()
                .any(|l| l.protocol == "locker" && l.listen.port() == 5000)
        );
        assert_eq!(c.admin.listen.port(), 9000);
    }

    #[test]
    fn listener_plugin_world_mismatch_is_refused() {
        let err = Config::parse(
            r#"
            [plugins.echo]
            world = "raw"
            [[listener]]
            name = "l"
            protocol = "locker"
            listen = "127.0.0.1:0"
            plugin = "echo"
            "#,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("needs a plugin of world \"locker\""),
            "{err:#}"
        );
    }

    #[test]
    fn native_backend_only_where_a_native_build_exists() {
        let ok = Config::parse("[plugins.l]\nworld = \"locker\"\nbackend = \"native\"\n").unwrap();
        assert_eq!(ok.plugins["l"].backend, Backend::Native);
        let err =
            Config::parse("[plugins.r]\nworld = \"raw\"\nbackend = \"native\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("no native build"), "{err:#}");
        assert!(Config::parse("[plugins.l]\nworld = \"locker\"\nbackend = \"jit\"\n").is_err());
    }

    #[test]
    fn listener_limits_must_be_positive() {
        let listener = |extra: &str| {
            format!(
                "[plugins.p]\nworld = \"plate\"\n[[listener]]\nname = \"l\"\nprotocol = \"plate\"\nlisten = \"127.0.0.1:0\"\nplugin = \"p\"\n{extra}"
            )
        };
        let c = Config::parse(&listener("")).unwrap();
        assert_eq!(
            c.listeners[0].max_message_bytes(),
            16 << 20,
            "plate default"
        );
        assert_eq!(c.listeners[0].outbox_bytes, 32 << 20);
        for bad in [
            "login_attempts = 0",
            "max_message_bytes = 0",
            "outbox_bytes = 0",
            "outbox_capacity = 0",
        ] {
            let err = Config::parse(&listener(bad)).unwrap_err();
            assert!(format!("{err:#}").contains("must be > 0"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn color_names_are_en_or_zh_on_a_plate_listener() {
        let listener = |protocol: &str, extra: &str| {
            format!(
                "[plugins.p]\nworld = \"{protocol}\"\n[[listener]]\nname = \"l\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:0\"\nplugin = \"p\"\n{extra}"
            )
        };
        use crate::codec::plate::ColorNames;
        let c = Config::parse(&listener("plate", "")).unwrap();
        assert_eq!(c.listeners[0].color_names, None);
        let c = Config::parse(&listener("plate", "color_names = \"zh\"")).unwrap();
        assert_eq!(c.listeners[0].color_names, Some(ColorNames::Zh));
        let err = Config::parse(&listener("plate", "color_names = \"fr\"")).unwrap_err();
        assert!(format!("{err:#}").contains("unknown variant"), "{err:#}");
        let err = Config::parse(&listener("exec", "color_names = \"en\"")).unwrap_err();
        assert!(
            format!("{err:#}").contains("color_names applies to protocol plate"),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_field_is_refused() {
        assert!(Config::parse("[admin]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n").is_err());
        // the admin token: read, never printed, not empty
        let c = Config::parse("[admin]\ntoken = \"s3cret\"\n").unwrap();
        assert_eq!(c.admin.token, Some(AdminToken("s3cret".into())));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(format!("{:?}", c.admin).contains("<redacted>"));
        assert!(Config::parse("[admin]\ntoken = \" \"\n").is_err());
        assert_eq!(Config::parse("").unwrap().admin.token, None);
    }
}
