//! The host as a child process: its configuration, start-up, addresses,
//! admin API, memory, stop and restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::{Metrics, http, repo_root};

/// How hosts are started; one `Setup` starts any number of them.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `wasmgate` binary.
    pub binary: PathBuf,
    /// Built components ([`Setup::component`] looks here first).
    pub plugins: PathBuf,
    /// Test components (looked at second).
    pub test_plugins: PathBuf,
    /// Compile cache shared by every host: each component is compiled once.
    pub cache_dir: PathBuf,
    pub reload_debounce_ms: u64,
    pub shutdown_grace_ms: u64,
    /// More lines for the `[admin]` section (after `listen`).
    pub admin_lines: String,
    /// More lines for the `[runtime]` section (after the settings above).
    pub runtime_lines: String,
    /// `RUST_LOG` of the host.
    pub log_level: String,
    /// More environment variables for the process. `WASMGATE_ADMIN_TOKEN`
    /// is never inherited from the caller's shell, only set here.
    pub env: Vec<(String, String)>,
    /// How long to wait for the host to be ready, or to exit after SIGTERM.
    pub wait: Duration,
    /// Deadline of one admin API exchange.
    pub admin_timeout: Duration,
    /// Start of each host's temporary directory name.
    pub dir_prefix: String,
    /// Keep each host's directory (config, store, log) when it is dropped.
    pub keep_dir: bool,
}

impl Setup {
    /// Hosts of `binary`, with the repository's `target/plugins`,
    /// `target/test-plugins` and `target/wasm-cache`.
    pub fn new(binary: impl Into<PathBuf>) -> Setup {
        let target = repo_root().join("target");
        Setup {
            binary: binary.into(),
            plugins: target.join("plugins"),
            test_plugins: target.join("test-plugins"),
            cache_dir: target.join("wasm-cache"),
            reload_debounce_ms: 100,
            shutdown_grace_ms: 2000,
            admin_lines: String::new(),
            runtime_lines: String::new(),
            log_level: "info,wasmgate=debug".to_string(),
            env: Vec::new(),
            wait: Duration::from_secs(20),
            admin_timeout: Duration::from_secs(20),
            dir_prefix: "wasmgate-".to_string(),
            keep_dir: false,
        }
    }

    /// A component file from [`Setup::plugins`] or [`Setup::test_plugins`].
    pub fn component(&self, file: &str) -> Option<PathBuf> {
        [&self.plugins, &self.test_plugins]
            .into_iter()
            .map(|d| d.join(file))
            .find(|p| p.exists())
    }

    /// Starts a host whose configuration is the harness's `[admin]`,
    /// `[store]` and `[runtime]` sections, then `body` (plugin tables and
    /// listeners). `plugins` are (component file, name in the plugin
    /// directory), copied there first; `tag` goes into the directory's
    /// name. Waits up to [`Setup::wait`] for the ready file.
    pub fn start<P: AsRef<Path>>(
        &self,
        tag: &str,
        body: &str,
        plugins: &[(P, &str)],
    ) -> Result<Host> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}{tag}-", self.dir_prefix))
            .disable_cleanup(self.keep_dir)
            .tempdir()
            .context("making the host's directory")?;
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugin_dir)?;
        for (src, name) in plugins {
            let src = src.as_ref();
            std::fs::copy(src, plugin_dir.join(name))
                .with_context(|| format!("copying {}", src.display()))?;
        }
        std::fs::create_dir_all(&self.cache_dir)
            .with_context(|| format!("making {}", self.cache_dir.display()))?;
        let config = format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n{}\n[store]\npath = {:?}\n[runtime]\nplugin_dir = {:?}\nstate_dir = {:?}\ncache_dir = {:?}\nreload_debounce_ms = {}\nshutdown_grace_ms = {}\n{}\n\n{body}",
            self.admin_lines,
            dir.path().join("kv.db"),
            plugin_dir,
            dir.path(),
            self.cache_dir,
            self.reload_debounce_ms,
            self.shutdown_grace_ms,
            self.runtime_lines,
        );
        let file = dir.path().join("wasmgate.toml");
        std::fs::write(&file, config)?;
        let args = vec!["--config".into(), file.into_os_string()];
        self.launch(dir, None, args)
    }

    /// Starts `serve ARGS` in the working directory `cwd`, with only what
    /// the arguments and `cwd` make the binary find (e.g. a release
    /// bundle's own `wasmgate.toml`). `dir` holds the ready file and the
    /// log, and is removed when the host is dropped.
    pub fn start_in(
        &self,
        dir: tempfile::TempDir,
        cwd: &Path,
        args: &[&std::ffi::OsStr],
    ) -> Result<Host> {
        let args = args.iter().map(|a| a.to_os_string()).collect();
        self.launch(dir, Some(cwd.to_path_buf()), args)
    }

    fn launch(
        &self,
        dir: tempfile::TempDir,
        cwd: Option<PathBuf>,
        args: Vec<std::ffi::OsString>,
    ) -> Result<Host> {
        let mut host = Host {
            setup: self.clone(),
            child: None,
            dir,
            cwd,
            args,
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
            listeners: HashMap::new(),
        };
        host.spawn()?;
        Ok(host)
    }
}

/// Memory of the host process as the kernel reports it, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    /// Resident now (VmRSS).
    pub rss_kib: u64,
    /// Peak resident so far (VmHWM).
    pub hwm_kib: u64,
}

/// A running host (or one stopped by [`Host::kill`] or [`Host::terminate`]
/// and not restarted). Dropping it kills the process and removes its
/// directory unless [`Setup::keep_dir`].
pub struct Host {
    setup: Setup,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Working directory of the process (None: the caller's).
    cwd: Option<PathBuf>,
    /// What follows `serve` (before `--ready-file`).
    args: Vec<std::ffi::OsString>,
    admin: SocketAddr,
    listeners: HashMap<String, SocketAddr>,
}

impl Host {
    /// Starts the process on the host's directory and waits for its ready
    /// file (the listeners' and admin addresses).
    fn spawn(&mut self) -> Result<()> {
        let ready = self.dir.path().join("ready.json");
        let _ = std::fs::remove_file(&ready);
        // Appended to: a restarted host's log follows the earlier one's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut command = Command::new(&self.setup.binary);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let child = command
            .arg("serve")
            .args(&self.args)
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", &self.setup.log_level)
            // from the caller's shell or a systemd unit, never inherited
            .env_remove("WASMGATE_ADMIN_TOKEN")
            .env_remove("STATE_DIRECTORY")
            .envs(self.setup.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.setup.binary.display()))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            // Written once (a rename), so a file that is there is whole.
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let (admin, listeners) =
                    parse_ready(&text).with_context(|| format!("ready file {text}"))?;
                self.admin = admin;
                self.listeners = listeners;
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().expect("just started").try_wait()? {
                self.child = None;
                bail!(
                    "wasmgate exited ({status}) before it was ready; log: {}",
                    self.log_tail(8)
                );
            }
            if started.elapsed() > self.setup.wait {
                bail!(
                    "wasmgate not ready in {:?}; log: {}",
                    self.setup.wait,
                    self.log_tail(8)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host's directory: `wasmgate.toml`, the store, `plugins/`,
    /// `host.log`, and whatever the host writes (e.g. `tls/`), which is its
    /// state directory (for [`Setup::start_in`], only the log and the
    /// ready file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir().join("plugins")
    }

    /// The process's stderr (it logs there), across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("host.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last `n` non-empty lines of the log on one line, at most 800
    /// characters.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "|")
            .collect();
        let mut s = lines[lines.len().saturating_sub(n)..].join(" | ");
        if s.len() > 800 {
            let mut cut = 800;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }

    /// The admin API's address (new after a restart).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Every listener's address by name (new after a restart).
    pub fn listeners(&self) -> &HashMap<String, SocketAddr> {
        &self.listeners
    }

    /// The address of the listener `name`.
    pub fn addr(&self, name: &str) -> Result<SocketAddr> {
        self.listeners
            .get(name)
            .copied()
            .ok_or_else(|| anyhow!("the host has no listener {name}"))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn running(&self) -> Result<u32> {
        self.pid().ok_or_else(|| anyhow!("the host is not running"))
    }

    /// The process's resident and peak resident memory (/proc/PID/status).
    pub fn mem(&self) -> Result<Mem> {
        let [rss_kib, hwm_kib] = self.status(["VmRSS:", "VmHWM:"])?;
        Ok(Mem { rss_kib, hwm_kib })
    }

    /// The process's threads now.
    pub fn threads(&self) -> Result<u64> {
        let [n] = self.status(["Threads:"])?;
        Ok(n)
    }

    /// Number fields of /proc/PID/status (the first word after each name),
    /// read at one instant.
    fn status<const N: usize>(&self, names: [&str; N]) -> Result<[u64; N]> {
        let path = format!("/proc/{}/status", self.running()?);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let mut out = [0; N];
        for (v, name) in out.iter_mut().zip(names) {
            *v = text
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("no {name} in {path}"))?;
        }
        Ok(out)
    }

    /// The process's open file descriptors (/proc/PID/fd).
    pub fn fds(&self) -> Result<usize> {
        let path = format!("/proc/{}/fd", self.running()?);
        Ok(std::fs::read_dir(&path)
            .with_context(|| format!("reading {path}"))?
            .count())
    }

    /// Installs a plugin file the way a deployment does: written under a
    /// temporary name in the plugin directory, then renamed over the old.
    pub fn replace_plugin(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.plugin_dir().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.plugin_dir().join(name))
    }

    /// SIGKILL (no shutdown code runs), then reaps the process. Nothing
    /// happens if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status, within [`Setup::wait`] (after that
    /// the process is killed and this is an error).
    pub fn terminate(&mut self) -> Result<ExitStatus> {
        let pid = self.running()?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .context("running kill")?;
        if !sent.success() {
            bail!("kill -TERM {pid}: {sent}");
        }
        let started = Instant::now();
        loop {
            let c = self.child.as_mut().expect("running");
            if let Some(status) = c.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if started.elapsed() > self.setup.wait {
                self.kill();
                bail!("wasmgate did not stop in {:?} on SIGTERM", self.setup.wait);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the host and starts it again on the same directory (config,
    /// store, plugins); its addresses are new.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    pub fn get(&self, path: &str) -> Result<(u16, String)> {
        self.request("GET", path, "")
    }

    pub fn post(&self, path: &str, body: &str) -> Result<(u16, String)> {
        self.request("POST", path, body)
    }

    /// One admin API request with extra headers (name, value).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<(u16, String)> {
        http::request(
            self.admin,
            method,
            path,
            headers,
            body,
            self.setup.admin_timeout,
        )
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        self.request_with(method, path, &[], body)
    }

    /// PUT /plugins/{name}: a new version of the plugin, the `.wasm` bytes.
    pub fn upload_plugin(&self, name: &str, wasm: &[u8]) -> Result<(u16, String)> {
        self.request_with("PUT", &format!("/plugins/{name}"), &[], wasm)
    }

    /// POST /admin/{plugin}, expecting 200; the JSON answer.
    pub fn admin(&self, plugin: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let path = format!("/admin/{plugin}");
        let (status, text) = self.post(&path, &body.to_string())?;
        if status != 200 {
            bail!("POST {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path} answered {text}"))
    }

    /// The plugin's entry in GET /plugins.
    pub fn plugin_info(&self, name: &str) -> Result<serde_json::Value> {
        let (status, text) = self.get("/plugins")?;
        if status != 200 {
            bail!("GET /plugins answered {status}: {text}");
        }
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&text).with_context(|| format!("GET /plugins answered {text}"))?;
        list.into_iter()
            .find(|p| p["name"] == name)
            .ok_or_else(|| anyhow!("no plugin {name} in /plugins: {text}"))
    }

    /// Every sample of GET /metrics.
    pub fn metrics(&self) -> Result<Metrics> {
        metrics_of(self.get("/metrics")?)
    }

    /// A kept-alive admin connection, for a moment when the host may have
    /// no descriptor left to accept a new one.
    pub fn admin_conn(&self) -> Result<AdminConn> {
        Ok(AdminConn(http::Conn::open(
            self.admin,
            self.setup.admin_timeout,
        )?))
    }
}

/// A kept-alive connection to a host's admin API ([`Host::admin_conn`]).
pub struct AdminConn(http::Conn);

impl AdminConn {
    /// GET /metrics on this connection.
    pub fn metrics(&mut self) -> Result<Metrics> {
        metrics_of(self.0.get("/metrics")?)
    }
}

fn metrics_of((status, text): (u16, String)) -> Result<Metrics> {
    if status != 200 {
        bail!("GET /metrics answered {status}: {text}");
    }
    Ok(Metrics::parse(&text))
}

/// The admin address and the listeners' addresses of a ready file.
fn parse_ready(text: &str) -> Result<(SocketAddr, HashMap<String, SocketAddr>)> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let addr = |a: &serde_json::Value| -> Result<SocketAddr> {
        Ok(a.as_str()
            .ok_or_else(|| anyhow!("{a} is no address"))?
            .parse()?)
    };
    let admin = addr(&v["admin"])?;
    let listeners = v["listeners"]
        .as_object()
        .ok_or_else(|| anyhow!("no listeners"))?
        .iter()
        .map(|(name, a)| Ok((name.clone(), addr(a)?)))
        .collect::<Result<_>>()?;
    Ok((admin, listeners))
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_file_gives_the_addresses() {
        let (admin, listeners) = parse_ready(
            r#"{"pid":1,"admin":"127.0.0.1:9","listeners":{"locker":"127.0.0.1:10","chat":"[::1]:11"}}"#,
        )
        .unwrap();
        assert_eq!(admin, "127.0.0.1:9".parse().unwrap());
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners["chat"], "[::1]:11".parse().unwrap());
    }

    #[test]
    fn a_bad_ready_file_is_an_error() {
        assert!(parse_ready(r#"{"admin":"nowhere","listeners":{}}"#).is_err());
        assert!(parse_ready(r#"{"admin":"127.0.0.1:9"}"#).is_err());
        assert!(parse_ready(r#"{"admin":"127.0.0.1:9","listeners":{"a":1}}"#).is_err());
    }

    /// A "binary" that exits at once: the start fails and says so.
    #[test]
    fn a_host_that_exits_before_it_is_ready_is_an_error() {
        let mut setup = Setup::new("/bin/false");
        setup.cache_dir = std::env::temp_dir();
        let err = setup
            .start("false", "", &[] as &[(PathBuf, &str)])
            .err()
            .expect("/bin/false never becomes ready");
        assert!(format!("{err:#}").contains("exited"), "{err:#}");
    }
}
