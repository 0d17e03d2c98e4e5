//! `wasmgate serve`: builds the host from its configuration, binds every
//! listener, serves until SIGTERM/SIGINT, then shuts down gracefully — stop
//! accepting, let connections finish the message in hand, flush the store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::ClusterView;
use crate::cluster::Cluster;
use crate::cluster::directory::Directory;
use crate::cluster::store::JetStore;
use crate::metrics::Metrics;
use crate::protocol::{self, Config, Shared};
use crate::runtime::deploy::Deployer;
use crate::runtime::{self, Base, NativeBuilds, Plugins};
use crate::state::kv::{Kv, Store};
use crate::state::sessions::Link;

pub async fn run(config: Config, ready_file: Option<&Path>) -> anyhow::Result<()> {
    let state_dir = config.state_dir().to_path_buf();
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
    tracing::info!(dir = %state_dir.display(), "state directory");
    let metrics = Arc::new(Metrics::default());
    let backing = Backing::open(&config, &metrics).await?;

    let max_memory = config
        .plugins
        .values()
        .map(|p| p.memory_mb)
        .max()
        .unwrap_or(64)
        << 20;
    let engine = runtime::engine(max_memory, config.runtime.max_instances)?;
    runtime::start_epoch_ticker(
        engine.clone(),
        Duration::from_millis(config.runtime.epoch_tick_ms),
    );
    let base = Base {
        linker: runtime::linker(&engine)?,
        cache: runtime::CompileCache::new(&engine, config.cache_dir()),
        engine,
        kv: backing.store(),
        link: backing.link(),
        metrics: metrics.clone(),
        worlds: protocol::WORLDS,
        natives: natives(),
    };
    let plugins = Plugins::new(&config.plugins, &config.runtime, &base)?;
    if let Backing::Cluster { directory, .. } = &backing {
        for p in plugins.all() {
            directory.register(p.sessions().clone());
        }
        directory.follow_others();
    }

    let dir = &config.runtime.plugin_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating plugin directory {}", dir.display()))?;
    load_all(&plugins).await;
    let cluster_view = match &backing {
        Backing::Local(_) => None,
        Backing::Cluster {
            cluster, directory, ..
        } => {
            let deployer =
                Deployer::start(cluster.clone(), plugins.clone(), &config.runtime.plugin_dir)
                    .await?;
            tokio::spawn(publish_generations(plugins.clone(), directory.clone()));
            Some(ClusterView {
                cluster: cluster.clone(),
                directory: directory.clone(),
                deployer,
            })
        }
    };
    let _watcher = runtime::watch_plugin_dir(
        dir,
        Duration::from_millis(config.runtime.reload_debounce_ms),
        plugins.clone(),
    )?;
    tracing::info!(dir = %dir.display(), "watching plugin directory");

    let shared = Shared {
        plugins: plugins.clone(),
        state_dir: state_dir.clone(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        backoff: Arc::new(crate::protocol::backoff::Backoff::new(&config.limits)),
        connections: Arc::new(tokio::sync::Semaphore::new(connection_budget(&config))),
        limits: config.limits.clone(),
    };
    // The admin API's certificate before anything serves: a bad one stops
    // the start.
    let admin_tls = match &config.admin.tls {
        None => None,
        Some(tls) => Some((
            crate::transport::tls::acceptor(tls, &state_dir).context("admin API: [admin.tls]")?,
            Duration::from_millis(tls.handshake_timeout_ms),
        )),
    };
    // Bind everything before serving anything: a port in use stops the start.
    let mut bound = BTreeMap::new();
    for l in &config.listeners {
        let c = &l.conn;
        let tcp = TcpListener::bind(c.listen)
            .await
            .with_context(|| format!("listener {:?}: binding {}", c.name, c.listen))?;
        let addr = tcp.local_addr()?;
        l.start(tcp, &shared)?;
        tracing::info!(listener = %c.name, protocol = l.protocol.name(), %addr, plugin = %c.plugin, "listening");
        bound.insert(c.name.clone(), addr);
    }
    let admin = TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("admin API: binding {}", config.admin.listen))?;
    let admin_addr = admin.local_addr()?;
    let token = config.admin.effective_token();
    if token.is_none() && !admin_addr.ip().is_loopback() {
        tracing::warn!(addr = %admin_addr, "admin API on a non-loopback address without a token: set admin.token or WASMGATE_ADMIN_TOKEN");
    }
    if token.is_some() && config.admin.tls.is_none() && !admin_addr.ip().is_loopback() {
        tracing::warn!(addr = %admin_addr, "admin API on a non-loopback address without TLS: its token crosses the network in clear; add [admin.tls]");
    }
    let authenticated = token.is_some();
    let https = admin_tls.is_some();
    let admin = match admin_tls {
        None => crate::admin::Listener::Plain(admin),
        Some((acceptor, timeout)) => crate::admin::Listener::Tls(crate::admin::Https(
            crate::transport::tls::Incoming::new(admin, acceptor, timeout, "admin API")?,
        )),
    };
    let admin_task = tokio::spawn(crate::admin::serve(
        admin,
        plugins.clone(),
        metrics.clone(),
        cluster_view,
        &config,
        shared.shutdown.clone(),
    ));
    tracing::info!(addr = %admin_addr, authenticated, https, "admin API listening");

    let purge = match &backing {
        Backing::Local(kv) => Some(tokio::spawn(purge_expired(kv.clone()))),
        Backing::Cluster { .. } => None,
    };
    let summaries = tokio::spawn(report_suppressed());
    if let Some(path) = ready_file {
        write_ready_file(path, admin_addr, &bound)?;
    }
    tracing::info!("wasmgate ready");

    shutdown_signal().await;
    let grace = Duration::from_millis(config.runtime.shutdown_grace_ms);
    tracing::info!(
        ?grace,
        "shutting down: no new connections, finishing messages in hand"
    );
    if let Backing::Cluster { directory, .. } = &backing {
        directory.shutting_down();
    }
    shared.shutdown.cancel();
    shared.tracker.close();
    if tokio::time::timeout(grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = shared.tracker.len(),
            "connections still open after the grace period; closing them"
        );
    }
    if let Backing::Cluster { directory, .. } = &backing {
        directory.leave(Duration::from_secs(2)).await;
    }
    if let Some(purge) = purge {
        purge.abort();
    }
    summaries.abort();
    crate::logs::report_suppressed();
    let _ = admin_task.await;
    if let Backing::Local(kv) = &backing
        && let Err(e) = kv.checkpoint()
    {
        tracing::warn!(error = %e, "final store checkpoint failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Where plugins' state lives: SQLite in this process, or the cluster's
/// NATS JetStream (`[cluster]`).
enum Backing {
    Local(Arc<Kv>),
    Cluster {
        cluster: Arc<Cluster>,
        store: Arc<JetStore>,
        directory: Arc<Directory>,
    },
}

impl Backing {
    async fn open(config: &Config, metrics: &Arc<Metrics>) -> anyhow::Result<Backing> {
        let Some(cluster) = &config.cluster else {
            let path = config.store_path();
            let kv = Arc::new(Kv::open(&path, config.store.synchronous)?);
            tracing::info!(path = %path.display(), "key-value store open");
            return Ok(Backing::Local(kv));
        };
        for name in config.plugins.keys() {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!(
                    "plugin {name:?}: in a cluster a plugin's name is made of [A-Za-z0-9_-] (it names its buckets)"
                );
            }
        }
        let cluster = Cluster::connect(cluster, metrics.clone()).await?;
        let names: Vec<&str> = config.plugins.keys().map(String::as_str).collect();
        let store = JetStore::open(cluster.clone(), &names).await?;
        let directory = Directory::join(cluster.clone()).await?;
        tracing::info!(
            node_no = directory.node_no(),
            "key-value store: the cluster's JetStream buckets"
        );
        Ok(Backing::Cluster {
            cluster,
            store,
            directory,
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backing::Local(kv) => kv.clone(),
            Backing::Cluster { store, .. } => store.clone(),
        }
    }

    fn link(&self) -> Option<Arc<dyn Link>> {
        match self {
            Backing::Local(_) => None,
            Backing::Cluster { directory, .. } => Some(directory.clone()),
        }
    }
}

/// The native builds compiled into this host (none without the `native`
/// feature).
pub fn natives() -> NativeBuilds {
    #[cfg(feature = "native")]
    return crate::native::builds();
    #[cfg(not(feature = "native"))]
    NativeBuilds::default()
}

/// Finds, reads and checks the configuration (`path`, else the search of
/// [`crate::config::locate`]), with its paths placed (the command line's
/// `placement` first); returns it with where it came from.
pub fn load_config(
    path: Option<&Path>,
    placement: &crate::config::Placement,
) -> anyhow::Result<(Config, String)> {
    let source = crate::config::locate(path)?;
    let mut config =
        protocol::parse(&source.text).with_context(|| format!("in {}", source.origin))?;
    config.place(&source.base, placement);
    Ok((config, source.origin))
}

/// Loads every plugin at start. A plugin that fails to load is reported and
/// left unloaded (its listener answers with the protocol's error) until a
/// good file appears; the rest of the host serves.
async fn load_all(plugins: &Plugins) {
    let tasks: Vec<_> = plugins
        .all()
        .cloned()
        .map(|p| tokio::task::spawn_blocking(move || (p.name().to_string(), p.reload())))
        .collect();
    for t in tasks {
        if let Ok((name, Err(_))) = t.await {
            tracing::error!(plugin = %name, "plugin not loaded at start; its listeners answer errors until its file is fixed");
        }
    }
}

/// Keeps what this host serves (each plugin's generation and sha256) in
/// its liveness record, for `GET /plugins` on every host.
async fn publish_generations(plugins: Plugins, directory: Arc<Directory>) {
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        every.tick().await;
        let status: serde_json::Map<String, serde_json::Value> = plugins
            .all()
            .map(|p| {
                let i = p.info();
                (
                    i.name,
                    serde_json::json!({ "generation": i.generation, "sha256": i.sha256 }),
                )
            })
            .collect();
        directory.set_status(serde_json::Value::Object(status));
    }
}

/// The process's connection budget (`limits`), logged with what the
/// listeners' own limits add up to when they could exceed it.
fn connection_budget(config: &Config) -> usize {
    let fds = fd_limit();
    let budget = config
        .limits
        .open_connections(fds)
        .min(tokio::sync::Semaphore::MAX_PERMITS);
    let listeners: usize = config
        .listeners
        .iter()
        .map(|l| l.conn.max_connections)
        .sum();
    tracing::info!(budget, descriptors = ?fds, "connection budget of all listeners");
    if listeners > budget {
        tracing::warn!(
            budget,
            listeners,
            "the listeners' max_connections add up to more than the connection budget: connections past it are refused"
        );
    }
    budget
}

/// The soft limit of open descriptors (`/proc/self/limits`), if known.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The count of each rate-limited log event suppressed, every 5 s
/// (`crate::logs`).
async fn report_suppressed() {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        crate::logs::report_suppressed();
    }
}

async fn purge_expired(kv: Arc<Kv>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        let kv = kv.clone();
        match tokio::task::spawn_blocking(move || kv.purge_expired()).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(purged = n, "expired entries purged"),
            Ok(Err(e)) => tracing::warn!(error = %e, "purging expired entries failed"),
            _ => {}
        }
    }
}

/// Written once everything is bound, so a supervisor or a test knows the
/// actual addresses (useful with port 0).
fn write_ready_file(
    path: &Path,
    admin: SocketAddr,
    listeners: &BTreeMap<String, SocketAddr>,
) -> anyhow::Result<()> {
    let body =
        serde_json::json!({ "pid": std::process::id(), "admin": admin, "listeners": listeners });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
