//! Protocols: for each, what its listener does with a connection — decode
//! with its codec, call its plugin's world, encode the answer. The table
//! below is what the configuration's `protocol = "..."` can name.

pub mod chat;
pub mod exec;
pub mod locker;
pub mod plate;
pub mod raw;
pub mod smarthome;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ListenerConfig;
use crate::metrics::{ListenerMetrics, Metrics};
use crate::runtime::{Plugin, Plugins, World};
use crate::state::outbox::{self, Weigh};
use crate::transport::ws;

/// (protocol, the world its plugin must implement)
pub const PROTOCOLS: &[(&str, &str)] = &[
    ("locker", "locker"),
    ("smarthome", "smarthome"),
    ("raw", "raw"),
    ("plate", "plate"),
    ("exec", "exec"),
    ("chat", "chat"),
];

pub fn world_of(protocol: &str) -> Option<&'static str> {
    PROTOCOLS.iter().find(|p| p.0 == protocol).map(|p| p.1)
}

/// A session outbox bounded as the listener says (`outbox_capacity`
/// messages, `outbox_bytes` bytes).
pub fn session_outbox<M: Weigh>(
    config: &ListenerConfig,
) -> (outbox::Sender<M>, outbox::Receiver<M>) {
    outbox::channel(config.outbox_capacity, config.outbox_bytes)
}

/// What every listener shares.
#[derive(Clone)]
pub struct Shared {
    pub plugins: Plugins,
    /// Directory of the store; TLS keeps its self-signed certificate here.
    pub data_dir: std::path::PathBuf,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

impl Shared {
    /// The listener's plugin; the configuration check made sure it
    /// implements the protocol's world `W`.
    pub fn plugin<W: World>(&self, config: &ListenerConfig) -> anyhow::Result<Arc<Plugin<W>>> {
        self.plugins.get::<W>(&config.plugin).ok_or_else(|| {
            anyhow::anyhow!(
                "listener {:?}: plugin {:?} does not implement world {}",
                config.name,
                config.plugin,
                W::NAME
            )
        })
    }

    /// The listener's TLS acceptor when it has a `[listener.tls]`.
    pub fn tls(&self, config: &ListenerConfig) -> anyhow::Result<Option<TlsAcceptor>> {
        config
            .tls
            .as_ref()
            .map(|t| crate::transport::tls::acceptor(t, &self.data_dir))
            .transpose()
    }

    /// WebSocket settings of the listener; `default_path` when it names no
    /// `ws_path` (empty: any path).
    pub fn ws_settings(config: &ListenerConfig, default_path: &str) -> ws::Settings {
        ws::Settings {
            path: config
                .ws_path
                .clone()
                .unwrap_or_else(|| default_path.to_string()),
            max_message_bytes: config.max_message_bytes(),
            handshake_timeout: config.handshake_timeout(),
        }
    }

    /// Serves every TCP connection of `listener` with `handle` (connection
    /// limit, tracking and shutdown as in [`crate::transport::tcp`]).
    pub fn serve_tcp<F, Fut>(
        &self,
        config: &ListenerConfig,
        listener: TcpListener,
        metrics: Arc<ListenerMetrics>,
        handle: F,
    ) where
        F: Fn(TcpStream, SocketAddr, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        tokio::spawn(crate::transport::tcp::accept_loop(
            listener,
            config.max_connections,
            metrics,
            self.shutdown.clone(),
            self.tracker.clone(),
            move |stream, peer| handle(stream, peer, shutdown.clone()),
        ));
    }

    /// Serves every WebSocket connection of `listener` with `handle` (TLS
    /// when configured, then the handshake; see [`crate::transport::ws`]).
    pub fn serve_ws<F, Fut>(
        &self,
        config: &ListenerConfig,
        listener: TcpListener,
        settings: ws::Settings,
        metrics: Arc<ListenerMetrics>,
        handle: F,
    ) -> anyhow::Result<()>
    where
        F: Fn(WebSocketStream<ws::BoxedIo>, SocketAddr, CancellationToken) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        tokio::spawn(ws::accept_loop(
            listener,
            config.max_connections,
            self.tls(config)?,
            settings,
            metrics,
            self.shutdown.clone(),
            self.tracker.clone(),
            move |socket, peer| handle(socket, peer, shutdown.clone()),
        ));
        Ok(())
    }
}

/// Starts serving `listener` (already bound) as `config.protocol`.
pub fn start(
    config: &ListenerConfig,
    listener: TcpListener,
    shared: &Shared,
) -> anyhow::Result<()> {
    match config.protocol.as_str() {
        "locker" => locker::start(config, listener, shared),
        "exec" => exec::start(config, listener, shared),
        "chat" => chat::start(config, listener, shared),
        "smarthome" => smarthome::start(config, listener, shared),
        "raw" => raw::start(config, listener, shared),
        "plate" => plate::start(config, listener, shared),
        other => anyhow::bail!("unknown protocol {other:?}"),
    }
}
