//! The host under test: the real `wasmgate` binary started as a child
//! process (`serve --config X --ready-file Y`, every port 0) in a private
//! temporary directory, with a configuration written by the bench; its
//! admin API (a minimal HTTP/1.1 client with timeouts) and its memory as
//! the kernel reports it (/proc/PID/status).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the host binary, the components and the compile cache are.
#[derive(Debug, Clone)]
pub struct Env {
    pub wasmgate: PathBuf,
    pub plugins: PathBuf,
    pub test_plugins: PathBuf,
    pub cache_dir: PathBuf,
    pub debounce_ms: u64,
    /// Keep each host's directory (config, log) after the run.
    pub keep: bool,
    /// RUST_LOG for the host.
    pub log_level: String,
}

impl Env {
    /// A component from `--plugins` or `--test-plugins`.
    pub fn component(&self, file: &str) -> Option<PathBuf> {
        [&self.plugins, &self.test_plugins]
            .into_iter()
            .map(|d| d.join(file))
            .find(|p| p.exists())
    }
}

/// Memory of the host process, KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub struct HostProc {
    child: Option<Child>,
    pub dir: PathBuf,
    keep: bool,
    pub admin: SocketAddr,
    pub listeners: HashMap<String, SocketAddr>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl HostProc {
    /// Starts a host with `body` (plugin tables and listeners) after the
    /// bench's admin/store/runtime sections; `plugins` are (component file,
    /// name in the plugin directory). Waits for the ready file.
    pub fn start(
        env: &Env,
        tag: &str,
        body: &str,
        plugins: &[(PathBuf, &str)],
    ) -> Result<HostProc> {
        let dir = std::env::temp_dir().join(format!(
            "wasmgate-bench-{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("plugins"))?;
        for (src, name) in plugins {
            std::fs::copy(src, dir.join("plugins").join(name))
                .with_context(|| format!("copying {}", src.display()))?;
        }
        std::fs::create_dir_all(&env.cache_dir)?;
        let config = format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[store]\npath = {:?}\n[runtime]\nplugin_dir = {:?}\ncache_dir = {:?}\nreload_debounce_ms = {}\nshutdown_grace_ms = 1000\n\n{body}",
            dir.join("kv.db"),
            dir.join("plugins"),
            env.cache_dir,
            env.debounce_ms,
        );
        std::fs::write(dir.join("wasmgate.toml"), config)?;
        let ready = dir.join("ready.json");
        let log = std::fs::File::create(dir.join("host.log"))?;
        let child = Command::new(&env.wasmgate)
            .arg("serve")
            .arg("--config")
            .arg(dir.join("wasmgate.toml"))
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", &env.log_level)
            // its own private host: no admin token from the caller's shell
            .env_remove("WASMGATE_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", env.wasmgate.display()))?;
        let mut host = HostProc {
            child: Some(child),
            dir,
            keep: env.keep,
            admin: "0.0.0.0:0".parse().unwrap(),
            listeners: HashMap::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                host.admin = v["admin"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| anyhow!("ready file without admin: {text}"))?;
                if let Some(l) = v["listeners"].as_object() {
                    for (k, a) in l {
                        if let Some(a) = a.as_str().and_then(|a| a.parse().ok()) {
                            host.listeners.insert(k.clone(), a);
                        }
                    }
                }
                return Ok(host);
            }
            if let Some(status) = host.child.as_mut().unwrap().try_wait()? {
                bail!(
                    "wasmgate exited ({status}) before it was ready: {}",
                    host.log_tail(6)
                );
            }
            if started.elapsed() > Duration::from_secs(180) {
                bail!("wasmgate not ready in 180 s: {}", host.log_tail(6));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn addr(&self, listener: &str) -> Result<SocketAddr> {
        self.listeners
            .get(listener)
            .copied()
            .ok_or_else(|| anyhow!("the host has no listener {listener}"))
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.join("plugins")
    }

    /// The last `n` non-empty lines of the host's log, on one line, at
    /// most 400 characters.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("host.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "|")
            .collect();
        let mut s = lines[lines.len().saturating_sub(n)..].join(" | ");
        if s.len() > 400 {
            let mut cut = 400;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }

    /// The host's resident and peak resident memory.
    pub fn mem(&self) -> Mem {
        proc_mem(self.pid())
    }

    /// Open file descriptors of the host.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Installs a plugin file the way a deployment does: a temporary name
    /// in the plugin directory, then a rename over the old file.
    pub fn replace_plugin(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.plugin_dir().join(format!(".{name}.bench-tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.plugin_dir().join(name))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        http(self.admin, "GET", path, "").await
    }

    pub async fn post(&self, path: &str, body: &str) -> Result<(u16, String)> {
        http(self.admin, "POST", path, body).await
    }

    /// POST /admin/{plugin}, expecting 200; the JSON answer.
    pub async fn admin(&self, plugin: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let (status, text) = self
            .post(&format!("/admin/{plugin}"), &body.to_string())
            .await?;
        if status != 200 {
            bail!("POST /admin/{plugin} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Every sample of GET /metrics, keyed by name with labels.
    pub async fn metrics(&self) -> Result<Metrics> {
        let (status, text) = self.get("/metrics").await?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        Ok(Metrics::parse(&text))
    }

    /// The plugin's entry in GET /plugins.
    pub async fn plugin_info(&self, name: &str) -> Result<serde_json::Value> {
        let (_, text) = self.get("/plugins").await?;
        let list: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        list.into_iter()
            .find(|p| p["name"] == name)
            .ok_or_else(|| anyhow!("no plugin {name} in /plugins"))
    }
}

impl Drop for HostProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn proc_mem(pid: u32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// One HTTP/1.1 request (Connection: close), at most 30 s in all.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| anyhow!("{method} {path}: no answer in 30 s"))??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: bad HTTP answer"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// One kept-alive HTTP/1.1 connection to the admin API, opened before a
/// run that may leave the host without a free file descriptor (the
/// connections scenario), so the bench can still read /metrics.
pub struct AdminConn {
    conn: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl AdminConn {
    pub async fn open(addr: SocketAddr) -> Result<AdminConn> {
        let s = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .map_err(|_| anyhow!("admin connect timed out"))??;
        Ok(AdminConn {
            conn: tokio::io::BufReader::new(s),
        })
    }

    /// GET `path`; the body (needs a Content-Length answer).
    pub async fn get(&mut self, path: &str) -> Result<String> {
        use tokio::io::AsyncBufReadExt;
        let conn = &mut self.conn;
        let go = async move {
            let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
            conn.get_mut().write_all(req.as_bytes()).await?;
            let mut line = String::new();
            let mut len = None;
            let mut status = 0u16;
            loop {
                line.clear();
                if conn.read_line(&mut line).await? == 0 {
                    bail!("admin connection closed");
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
                    status = code
                        .split(' ')
                        .next()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                } else if let Some((k, v)) = l.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse::<usize>().ok();
                }
            }
            let len = len.ok_or_else(|| anyhow!("GET {path}: no Content-Length"))?;
            let mut body = vec![0; len];
            conn.read_exact(&mut body).await?;
            if status != 200 {
                bail!("GET {path} answered {status}");
            }
            Ok(String::from_utf8_lossy(&body).into_owned())
        };
        tokio::time::timeout(Duration::from_secs(30), go)
            .await
            .map_err(|_| anyhow!("GET {path}: no answer in 30 s"))?
    }

    pub async fn metrics(&mut self) -> Result<Metrics> {
        Ok(Metrics::parse(&self.get("/metrics").await?))
    }
}

/// Prometheus samples: `name{labels}` → value.
#[derive(Debug, Default, Clone)]
pub struct Metrics(pub HashMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    Some((k.to_string(), v.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    pub fn plugin(&self, name: &str, plugin: &str) -> f64 {
        self.get(&format!("{name}{{plugin=\"{plugin}\"}}"))
    }

    /// Samples of a plugin whose name mentions memory in bytes (an
    /// instance-memory gauge, if the host has one).
    pub fn plugin_memory(&self, plugin: &str) -> Vec<(String, f64)> {
        let label = format!("plugin=\"{plugin}\"");
        let mut v: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| {
                k.starts_with("wasmgate_")
                    && k.contains("memory")
                    && k.contains("bytes")
                    && k.contains(&label)
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The repository root this binary was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
