//! Protocols: for each, what a connection's messages mean. A protocol is a
//! type implementing [`Protocol`] (its world, its own listener settings,
//! how it starts a listener) and a [`driver::Service`] (what it does with
//! one message); the connection loop itself is [`driver`]'s, the same for
//! all of them.
//!
//! Adding a protocol is one line in the table at the end of this file:
//! the listener's `protocol = "..."`, the settings it accepts, the world its
//! plugin must implement and how it starts all follow from it.

pub mod backoff;
pub mod chat;
pub mod driver;
pub mod exec;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod greet;
pub mod locker;
pub mod plate;
pub mod raw;
pub mod smarthome;

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::bail;
use futures::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bindings::World;
use crate::config::{Listener, ListenerConfig};
use crate::metrics::{ListenerMetrics, Metrics};
use crate::runtime::{HostState, Ops, Plugin, Plugins, WorldOps};
use crate::transport::tcp::Whole;
use crate::transport::ws::{self, BoxedIo};
use driver::{Driver, Policy, Service};

/// A wire protocol.
pub trait Protocol: Sized + 'static {
    /// What `protocol = "..."` names.
    const NAME: &'static str;
    /// The world its plugin implements.
    type World: World<HostState>;
    /// The listener keys of its own (`deny_unknown_fields`: any other key
    /// is refused).
    type Settings: DeserializeOwned + Debug + Clone + Send + Sync + 'static;
    /// Which of the connection keys it uses.
    const KEYS: Keys;
    /// `max_message_bytes` when the listener does not set it.
    const MAX_MESSAGE_BYTES: usize = 64 * 1024;

    /// Checks of its own settings, beyond their types.
    fn check(_config: &ListenerConfig, _settings: &Self::Settings) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts serving the bound listener.
    fn start(listen: Listen<Self>) -> anyhow::Result<()>;
}

/// The connection keys that apply to a protocol (the others are refused).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys {
    pub tls: bool,
    pub heartbeat: bool,
    pub ws_path: bool,
    /// `outbox_capacity` and `outbox_bytes` (protocols with sessions).
    pub outbox: bool,
}

impl Keys {
    /// None of them.
    pub const NONE: Keys = Keys {
        tls: false,
        heartbeat: false,
        ws_path: false,
        outbox: false,
    };

    fn check(self, l: &ListenerConfig, protocol: &str) -> anyhow::Result<()> {
        let misplaced = [
            ("tls", l.tls.is_some() && !self.tls),
            ("heartbeat_ms", l.heartbeat_ms.is_some() && !self.heartbeat),
            ("ws_path", l.ws_path.is_some() && !self.ws_path),
            (
                "outbox_capacity",
                l.outbox_capacity.is_some() && !self.outbox,
            ),
            ("outbox_bytes", l.outbox_bytes.is_some() && !self.outbox),
        ];
        match misplaced.iter().find(|(_, bad)| *bad) {
            Some((key, _)) => bail!(
                "listener {:?}: `{key}` does not apply to protocol {protocol}",
                l.name
            ),
            None => Ok(()),
        }
    }
}

/// Checks a WebSocket protocol's `login_max_bytes`: room for a handshake.
fn check_login_budget(login_max_bytes: Option<usize>) -> anyhow::Result<()> {
    if login_max_bytes.is_some_and(|b| b < 1024) {
        bail!("login_max_bytes must be at least 1024 (a WebSocket handshake)");
    }
    Ok(())
}

/// The settings of a protocol that has none of its own: any key beyond
/// the connection's is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// What every listener shares.
#[derive(Clone)]
pub struct Shared {
    pub plugins: Plugins,
    /// The state directory: TLS keeps its self-signed certificate here,
    /// relative image directories are in it.
    pub state_dir: std::path::PathBuf,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// Failed logins on every listener ([`backoff`]).
    pub backoff: Arc<backoff::Backoff>,
    /// The process's connection budget (`limits.max_open_connections`).
    pub connections: Arc<tokio::sync::Semaphore>,
    pub limits: crate::config::LimitsConfig,
}

/// A bound listener about to be served as protocol `P`.
pub struct Listen<P: Protocol> {
    pub config: ListenerConfig,
    pub settings: P::Settings,
    pub plugin: Arc<Plugin<P::World>>,
    pub metrics: Arc<ListenerMetrics>,
    /// Failed logins and the limits of clients, shared by every listener.
    pub backoff: Arc<backoff::Backoff>,
    pub limits: crate::config::LimitsConfig,
    tcp: TcpListener,
    shared: Shared,
}

impl<P: Protocol> Listen<P> {
    /// The driver of this listener's connections, which they share.
    pub fn driver<S: Service>(&self, service: S, policy: Policy) -> Arc<Driver<S>> {
        Arc::new(Driver {
            sessions: policy.outbox.map(|_| self.plugin.sessions().clone()),
            service,
            policy,
            listener: self.config.name.as_str().into(),
            metrics: self.metrics.clone(),
        })
    }

    /// Serves every TCP connection with `handle` (connection limit,
    /// tracking and shutdown as in [`crate::transport::tcp`]).
    pub fn serve_tcp<F, Fut>(self, handle: F)
    where
        F: Fn(TcpStream, SocketAddr, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shared.shutdown.clone();
        let limits = self.conn_limits();
        tokio::spawn(crate::transport::tcp::accept_loop(
            self.tcp,
            limits,
            self.metrics,
            self.shared.shutdown.clone(),
            self.shared.tracker.clone(),
            move |stream, peer| handle(stream, peer, shutdown.clone()),
        ));
    }

    /// Serves every connection with `handle` after the TLS handshake when
    /// the listener has a `[listener.tls]`, as plain TCP otherwise.
    pub fn serve_stream<F, Fut>(self, handle: F) -> anyhow::Result<()>
    where
        F: Fn(BoxedIo, SocketAddr, CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tls = self.tls()?;
        let timeout = self.config.handshake_timeout();
        let handle = Arc::new(handle);
        self.serve_tcp(move |stream, peer, shutdown| {
            let (tls, handle) = (tls.clone(), handle.clone());
            async move {
                match crate::transport::tls::secure(stream, tls.as_ref(), timeout).await {
                    Ok(io) => handle(io, peer, shutdown).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                }
            }
        });
        Ok(())
    }

    /// Serves every connection (after the TLS handshake when configured)
    /// as frames of the codec `codec()` makes, driven by `driver`.
    pub fn serve_framed<S, C>(
        self,
        driver: Arc<Driver<S>>,
        codec: impl Fn() -> C + Send + Sync + 'static,
    ) -> anyhow::Result<()>
    where
        S: Service<State: Default>,
        C: Decoder<Item = S::In> + Encoder<S::Out> + Send + 'static,
        <C as Decoder>::Error: std::fmt::Display + Send,
        <C as Encoder<S::Out>>::Error: std::fmt::Display + Send,
    {
        let message_timeout = self.config.message_timeout();
        self.serve_stream(move |io, peer, shutdown| {
            let framed = Whole::new(Framed::new(io, codec()), message_timeout);
            let (sink, frames) = framed.split();
            let driver = driver.clone();
            async move {
                driver
                    .run(frames, sink, peer, S::State::default(), shutdown)
                    .await
            }
        })
    }

    /// Serves every WebSocket connection with `handle` (TLS when
    /// configured, then the handshake on `ws_path`, else `default_path`;
    /// empty: any path). With a `login_budget`, each connection may send
    /// that many bytes until `handle` lifts its [`ws::ReadBudget`].
    pub fn serve_ws<F, Fut>(
        self,
        default_path: &str,
        login_budget: Option<usize>,
        handle: F,
    ) -> anyhow::Result<()>
    where
        F: Fn(
                WebSocketStream<BoxedIo>,
                SocketAddr,
                CancellationToken,
                Option<Arc<ws::ReadBudget>>,
            ) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let settings = ws::Settings {
            path: self
                .config
                .ws_path
                .clone()
                .unwrap_or_else(|| default_path.to_string()),
            max_message_bytes: self.config.max_message_bytes(),
            handshake_timeout: self.config.handshake_timeout(),
            login_budget,
        };
        let tls = self.tls()?;
        let shutdown = self.shared.shutdown.clone();
        let limits = self.conn_limits();
        tokio::spawn(ws::accept_loop(
            self.tcp,
            limits,
            tls,
            settings,
            self.metrics,
            self.shared.shutdown.clone(),
            self.shared.tracker.clone(),
            move |socket, peer, budget| handle(socket, peer, shutdown.clone(), budget),
        ));
        Ok(())
    }

    fn conn_limits(&self) -> crate::transport::tcp::ConnLimits {
        crate::transport::tcp::ConnLimits {
            max: self.config.max_connections,
            per_ip: self.config.max_connections_per_ip,
            process: self.shared.connections.clone(),
        }
    }

    fn tls(&self) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
        self.config
            .tls
            .as_ref()
            .map(|t| crate::transport::tls::acceptor(t, &self.shared.state_dir))
            .transpose()
    }
}

/// The configuration as the host reads it: each listener typed by its
/// protocol.
pub type Config = crate::config::Config<Settings>;

/// Parses the configuration and checks it whole: the file on its own (see
/// [`crate::config`]), then each listener against its protocol and its
/// plugin's world.
pub fn parse(text: &str) -> anyhow::Result<Config> {
    let mut config = Config::parse(text)?;
    for l in &mut config.listeners {
        let world = &config.plugins[&l.conn.plugin].world;
        l.protocol.check(&mut l.conn, world)?;
    }
    Ok(config)
}

/// Checks one listener as protocol `P`; fills in the protocol's defaults.
fn check<P: Protocol>(
    l: &mut ListenerConfig,
    settings: &P::Settings,
    plugin_world: &str,
) -> anyhow::Result<()> {
    let world = <P::World as World<HostState>>::NAME;
    if plugin_world != world {
        bail!(
            "listener {:?} speaks {} and needs a plugin of world {world:?}; plugin {:?} is world {plugin_world:?}",
            l.name,
            P::NAME,
            l.plugin,
        );
    }
    P::KEYS.check(l, P::NAME)?;
    l.default_max_message_bytes = P::MAX_MESSAGE_BYTES;
    P::check(l, settings)
}

/// Starts serving `listener` (already bound) as protocol `P`.
fn start<P: Protocol>(
    config: &ListenerConfig,
    settings: &P::Settings,
    tcp: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    let plugin = shared
        .plugins
        .get::<P::World>(&config.plugin)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "listener {:?}: plugin {:?} does not implement world {}",
                config.name,
                config.plugin,
                <P::World as World<HostState>>::NAME
            )
        })?;
    P::start(Listen {
        metrics: shared.metrics.listener(&config.name, P::NAME),
        backoff: shared.backoff.clone(),
        limits: shared.limits.clone(),
        config: config.clone(),
        settings: settings.clone(),
        plugin,
        tcp,
        shared: shared.clone(),
    })
}

/// The table of protocols: `"name" => Variant(type)`, one line each.
macro_rules! protocols {
    ($($name:literal => $variant:ident($protocol:ty)),+ $(,)?) => {
        /// A listener's protocol with its own settings; `protocol = "..."`
        /// picks the variant.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "protocol")]
        pub enum Settings {
            $(#[serde(rename = $name)] $variant(<$protocol as Protocol>::Settings),)+
        }

        /// The world of every protocol: what a plugin can implement.
        pub static WORLDS: &[&dyn WorldOps] =
            &[$(&Ops::<<$protocol as Protocol>::World>::NEW,)+];

        // Each literal is its protocol's NAME.
        const _: () = {
            $(assert!(same(<$protocol as Protocol>::NAME, $name));)+
        };

        impl Settings {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Settings::$variant(_) => $name,)+
                }
            }

            fn check(&self, l: &mut ListenerConfig, plugin_world: &str) -> anyhow::Result<()> {
                match self {
                    $(Settings::$variant(s) => check::<$protocol>(l, s, plugin_world),)+
                }
            }

            /// Starts serving `listener` (already bound).
            pub fn start(
                &self,
                config: &ListenerConfig,
                tcp: TcpListener,
                shared: &Shared,
            ) -> anyhow::Result<()> {
                match self {
                    $(Settings::$variant(s) => start::<$protocol>(config, s, tcp, shared),)+
                }
            }
        }
    };
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

protocols! {
    "locker" => Locker(locker::Locker),
    "smarthome" => SmartHome(smarthome::SmartHome),
    "raw" => Raw(raw::Raw),
    "plate" => Plate(plate::Plate),
    "exec" => Exec(exec::Exec),
    "chat" => Chat(chat::Chat),
    "greet" => Greet(greet::Greet),
}

impl Listener<Settings> {
    pub fn start(&self, tcp: TcpListener, shared: &Shared) -> anyhow::Result<()> {
        self.protocol.start(&self.conn, tcp, shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(protocol: &str, world: &str, extra: &str) -> String {
        format!(
            "[plugins.p]\nworld = \"{world}\"\n[[listener]]\nname = \"l\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:0\"\nplugin = \"p\"\n{extra}"
        )
    }

    #[test]
    fn embedded_defaults_parse() {
        let c = parse(crate::config::EMBEDDED).unwrap();
        assert!(
            c.listeners
                .iter()
                .any(|l| l.protocol.name() == "locker" && l.conn.listen.port() == 5000)
        );
        assert_eq!(c.admin.listen.port(), 9000);
    }

    #[test]
    fn listener_plugin_world_mismatch_is_refused() {
        let err = parse(&listener("locker", "raw", "")).unwrap_err();
        assert!(
            format!("{err:#}").contains("needs a plugin of world \"locker\""),
            "{err:#}"
        );
    }

    #[test]
    fn unknown_protocol_and_misplaced_keys_are_refused() {
        let err = parse(&listener("gopher", "raw", "")).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown variant `gopher`"),
            "{err:#}"
        );
        // a key of another protocol
        let err = parse(&listener("locker", "locker", "image_dir = \"x\"")).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `image_dir`"),
            "{err:#}"
        );
        // a connection key the protocol has no use for
        let err = parse(&listener("locker", "locker", "heartbeat_ms = 5")).unwrap_err();
        assert!(
            format!("{err:#}").contains("`heartbeat_ms` does not apply to protocol locker"),
            "{err:#}"
        );
        let err = parse(&listener("smarthome", "smarthome", "outbox_bytes = 5")).unwrap_err();
        assert!(format!("{err:#}").contains("`outbox_bytes`"), "{err:#}");
        // a typo
        let err = parse(&listener("chat", "chat", "heartbeat = 5")).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `heartbeat`"),
            "{err:#}"
        );
    }

    #[test]
    fn protocol_defaults_and_checks() {
        let c = parse(&listener("plate", "plate", "")).unwrap();
        assert_eq!(c.listeners[0].conn.max_message_bytes(), 16 << 20);
        let c = parse(&listener("locker", "locker", "")).unwrap();
        assert_eq!(c.listeners[0].conn.max_message_bytes(), 64 << 10);
        let err = parse(&listener("plate", "plate", "login_attempts = 0")).unwrap_err();
        assert!(format!("{err:#}").contains("must be > 0"), "{err:#}");
        let err = parse(&listener("raw", "raw", "")).unwrap_err();
        assert!(format!("{err:#}").contains("framing"), "{err:#}");
    }

    #[test]
    fn color_names_are_en_or_zh_on_a_plate_listener() {
        use crate::codec::plate::ColorNames;
        let names = |c: &Config| match &c.listeners[0].protocol {
            Settings::Plate(p) => p.color_names,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            names(&parse(&listener("plate", "plate", "")).unwrap()),
            None
        );
        let zh = parse(&listener("plate", "plate", "color_names = \"zh\"")).unwrap();
        assert_eq!(names(&zh), Some(ColorNames::Zh));
        assert!(parse(&listener("plate", "plate", "color_names = \"fr\"")).is_err());
        let err = parse(&listener("exec", "exec", "color_names = \"en\"")).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `color_names`"),
            "{err:#}"
        );
    }
}
