//! Protocols: for each, what its listener does with a connection — decode
//! with its codec, call its plugin's world, encode the answer. The table
//! below is what the configuration's `protocol = "..."` can name.

pub mod chat;
pub mod exec;
pub mod locker;
pub mod plate;
pub mod raw;
pub mod smarthome;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ListenerConfig;
use crate::metrics::Metrics;
use crate::runtime::Plugins;

/// (protocol, the world its plugin must implement)
pub const PROTOCOLS: &[(&str, &str)] = &[("locker", "locker"), ("smarthome", "smarthome"), ("raw", "raw"), ("plate", "plate"), ("exec", "exec"), ("chat", "chat")];

pub fn world_of(protocol: &str) -> Option<&'static str> {
    PROTOCOLS.iter().find(|p| p.0 == protocol).map(|p| p.1)
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
