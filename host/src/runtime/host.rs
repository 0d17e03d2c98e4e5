//! What a plugin can ask of the host, implemented once: [`PluginCtx`] is a
//! plugin's view of the store, its sessions, its configuration and the log,
//! as the [`wasmgate_sdk::Host`] trait. A component reaches it through its
//! `wasmgate:plugin` imports (`keyvalue`, `blobs`, `passwords`, `logging`,
//! `config`, `sessions`; the WIT impls below only convert arguments and
//! errors); a native plugin (`backend = "native"`) calls it directly. The
//! wall clock and random numbers a component imports are WASI's. Also what a component's store holds ([`HostState`]) and the
//! memory limiter that enforces a plugin's cap and records when it was hit.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmgate_sdk::{Error, Host as _, Level};
use wasmtime::ResourceLimiter;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::wasmgate::plugin::{
    blobs, config, keyvalue, logging, passwords, sessions as wit_sessions, types,
};
use crate::logs::Limit;
use crate::state::kv::{self, KvError, Store};
use crate::state::sessions::{self, Sessions};

/// Longest log line a plugin can write; longer ones are cut.
const MAX_LOG_BYTES: usize = 4096;
/// Longest log context; longer ones are cut.
const MAX_CONTEXT_BYTES: usize = 256;

/// The typed error of a store failure: a limit is `too-large` with the
/// limit, SQLite failing is `unavailable`.
fn kv_error(e: KvError) -> Error {
    match e {
        KvError::KeyTooLong => Error::TooLarge(kv::MAX_KEY_BYTES as u64),
        KvError::ValueTooLong => Error::TooLarge(kv::MAX_VALUE_BYTES as u64),
        KvError::BlobTooLarge => Error::TooLarge(kv::MAX_BLOB_BYTES as u64),
        KvError::OverPayload(limit) => Error::TooLarge(limit),
        KvError::Sqlite(e) => Error::Unavailable(e.to_string()),
        KvError::Unavailable(why) => Error::Unavailable(why),
    }
}

/// `text` cut to at most `max` bytes at a character boundary, and whether
/// it was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], end < text.len())
}

/// One plugin's capabilities: its private keyspace and blobs, the sessions
/// of its listeners, its `[plugins.NAME.config]`, and its log lines.
#[derive(Clone)]
pub struct PluginCtx {
    pub(crate) plugin: Arc<str>,
    pub(crate) kv: Arc<dyn Store>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) config: Arc<BTreeMap<String, String>>,
}

impl wasmgate_sdk::Host for PluginCtx {
    fn kv_get(&self, key: &str) -> Result<Option<String>, Error> {
        self.kv.get(&self.plugin, key).map_err(kv_error)
    }
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), Error> {
        self.kv
            .set(&self.plugin, key, value, ttl_ms)
            .map_err(kv_error)
    }
    fn kv_delete(&self, key: &str) -> Result<bool, Error> {
        self.kv.delete(&self.plugin, key).map_err(kv_error)
    }
    fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, Error> {
        self.kv.list(&self.plugin, prefix, limit).map_err(kv_error)
    }
    fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        self.kv.blob_get(&self.plugin, name).map_err(kv_error)
    }
    fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        self.kv.blob_set(&self.plugin, name, data).map_err(kv_error)
    }
    fn blob_delete(&self, name: &str) -> Result<bool, Error> {
        self.kv.blob_delete(&self.plugin, name).map_err(kv_error)
    }
    fn password_hash(&self, password: &str) -> Result<String, Error> {
        password::hash(password)
    }
    fn password_verify(&self, password: &str, phc: &str) -> bool {
        password::verify(password, phc)
    }
    fn now_ms(&self) -> u64 {
        crate::state::now_ms()
    }
    fn log(&self, level: Level, context: &str, message: &str) {
        let (msg, cut_msg) = cut(message, MAX_LOG_BYTES);
        // What a plugin logs often quotes a peer: escaped like theirs.
        let msg = crate::logs::EscText(msg);
        let more = if cut_msg { "…" } else { "" };
        let (context, _) = cut(context, MAX_CONTEXT_BYTES);
        let plugin = &*self.plugin;
        // A plugin logs what its peers make it log (a refused login each):
        // rate-limited, problems apart from the rest so a flood of the one
        // cannot hide the other.
        static NOTES: Limit = Limit::new("plugin log (trace to info)");
        static PROBLEMS: Limit = Limit::new("plugin log (warn and above)");
        let limit = match level {
            Level::Trace | Level::Debug | Level::Info => &NOTES,
            Level::Warn | Level::Error | Level::Critical => &PROBLEMS,
        };
        let Some(suppressed) = limit.check() else {
            return;
        };
        let suppressed = (suppressed > 0).then_some(suppressed);
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", plugin, context, suppressed, "{msg}{more}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", plugin, context, suppressed, "{msg}{more}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", plugin, context, suppressed, "{msg}{more}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", plugin, context, suppressed, "{msg}{more}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", plugin, context, suppressed, "{msg}{more}")
            }
            // tracing has no level above error.
            Level::Critical => {
                tracing::error!(target: "plugin", plugin, context, suppressed, critical = true, "{msg}{more}")
            }
        }
    }
    fn config_get(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }
    fn config_all(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    fn info(&self, session: u64) -> Option<wasmgate_sdk::SessionInfo> {
        self.sessions.info(session).map(sdk_info)
    }
    fn get_attr(&self, session: u64, key: &str) -> Option<String> {
        self.sessions.get_attr(session, key)
    }
    fn set_attr(&self, session: u64, key: &str, value: Option<&str>) {
        self.sessions
            .set_attr(session, key, value.map(str::to_string))
    }
    fn join(&self, session: u64, group: &str) {
        self.sessions.join(session, group)
    }
    fn leave(&self, session: u64, group: &str) {
        self.sessions.leave(session, group)
    }
    fn members(&self, group: &str) -> Vec<wasmgate_sdk::SessionInfo> {
        self.sessions
            .members(group)
            .into_iter()
            .map(sdk_info)
            .collect()
    }
    fn claim(&self, session: u64, name: &str) -> bool {
        self.sessions.claim(session, name)
    }
    fn release(&self, session: u64, name: &str) {
        self.sessions.release(session, name)
    }
    fn close(&self, session: u64) {
        self.sessions.close(session)
    }
}

fn sdk_info(i: sessions::Info) -> wasmgate_sdk::SessionInfo {
    wasmgate_sdk::SessionInfo {
        id: i.id,
        listener: i.listener,
        peer: i.peer,
        attrs: i.attrs,
    }
}

/// A component's stderr: each line logged (escaped, rate-limited) with
/// the plugin's name, at warn level — it is where a guest's panic message
/// goes.
struct PluginStderr {
    plugin: Arc<str>,
}

impl wasmtime_wasi::cli::IsTerminal for PluginStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for PluginStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(StderrLines {
            plugin: self.plugin.clone(),
            line: Vec::new(),
        })
    }
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(StderrLines {
            plugin: self.plugin.clone(),
            line: Vec::new(),
        })
    }
}

/// The writer of [`PluginStderr`]: collects a line, logs it whole.
struct StderrLines {
    plugin: Arc<str>,
    line: Vec<u8>,
}

impl StderrLines {
    /// Longest line kept; a longer one is logged in pieces.
    const MAX_LINE: usize = 4096;

    fn take(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || self.line.len() == Self::MAX_LINE {
                self.emit();
            }
            if b != b'\n' {
                self.line.push(b);
            }
        }
    }

    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        static STDERR: Limit = Limit::new("plugin stderr");
        if let Some(suppressed) = STDERR.check() {
            let text = String::from_utf8_lossy(&self.line);
            let suppressed = (suppressed > 0).then_some(suppressed);
            tracing::warn!(target: "plugin", plugin = &*self.plugin, suppressed, "stderr: {}", crate::logs::EscText(&text));
        }
        self.line.clear();
    }
}

impl Drop for StderrLines {
    fn drop(&mut self) {
        self.emit();
    }
}

impl tokio::io::AsyncWrite for StderrLines {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.take(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.emit();
        std::task::Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::p2::OutputStream for StderrLines {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for StderrLines {
    async fn ready(&mut self) {}
}

/// What a component's store holds.
pub struct HostState {
    pub(crate) ctx: PluginCtx,
    pub(crate) memory_cap: usize,
    /// Set when the component asked for more memory than its cap; read
    /// after a trap to tell "out of memory" from other traps.
    pub(crate) memory_exceeded: bool,
    /// Bytes of linear memory the instance holds (every memory of it).
    pub(crate) memory_bytes: usize,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub fn new(ctx: PluginCtx, memory_cap: usize) -> Self {
        // Nothing is granted: no preopened directories, no environment, no
        // network. stderr goes to the host's log, a line at a time with the
        // plugin's name, so a guest panic message is seen.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(PluginStderr {
                plugin: ctx.plugin.clone(),
            })
            .build();
        HostState {
            ctx,
            memory_cap,
            memory_exceeded: false,
            memory_bytes: 0,
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            return Ok(false);
        }
        // Called for a new memory too (current = 0).
        self.memory_bytes = self
            .memory_bytes
            .saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    keyvalue::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    blobs::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    passwords::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    logging::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    wit_sessions::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl From<Error> for types::Error {
    fn from(e: Error) -> types::Error {
        match e {
            Error::TooLarge(limit) => types::Error::TooLarge(limit),
            Error::Unavailable(why) => types::Error::Unavailable(why),
            Error::Other(why) => types::Error::Other(why),
        }
    }
}

impl types::Host for HostState {}

impl keyvalue::Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<String>, types::Error> {
        Ok(self.ctx.kv_get(&key)?)
    }
    fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), types::Error> {
        Ok(self.ctx.kv_set(&key, &value, ttl_ms)?)
    }
    fn delete(&mut self, key: String) -> Result<bool, types::Error> {
        Ok(self.ctx.kv_delete(&key)?)
    }
    fn list_entries(
        &mut self,
        prefix: String,
        limit: u32,
    ) -> Result<Vec<(String, String)>, types::Error> {
        Ok(self.ctx.kv_list(&prefix, limit)?)
    }
}

impl blobs::Host for HostState {
    fn get(&mut self, name: String) -> Result<Option<Vec<u8>>, types::Error> {
        Ok(self.ctx.blob_get(&name)?)
    }
    fn set(&mut self, name: String, data: Vec<u8>) -> Result<(), types::Error> {
        Ok(self.ctx.blob_set(&name, &data)?)
    }
    fn delete(&mut self, name: String) -> Result<bool, types::Error> {
        Ok(self.ctx.blob_delete(&name)?)
    }
}

impl passwords::Host for HostState {
    fn hash(&mut self, password: String) -> Result<String, types::Error> {
        Ok(self.ctx.password_hash(&password)?)
    }
    fn verify(&mut self, password: String, phc: String) -> bool {
        self.ctx.password_verify(&password, &phc)
    }
}

impl logging::Host for HostState {
    fn log(&mut self, level: logging::Level, context: String, message: String) {
        let level = match level {
            logging::Level::Trace => Level::Trace,
            logging::Level::Debug => Level::Debug,
            logging::Level::Info => Level::Info,
            logging::Level::Warn => Level::Warn,
            logging::Level::Error => Level::Error,
            logging::Level::Critical => Level::Critical,
        };
        self.ctx.log(level, &context, &message)
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.ctx.config_get(&key)
    }
    fn get_all(&mut self) -> Vec<(String, String)> {
        self.ctx.config_all()
    }
}

impl From<sessions::Info> for wit_sessions::SessionInfo {
    fn from(i: sessions::Info) -> Self {
        wit_sessions::SessionInfo {
            id: i.id,
            listener: i.listener,
            peer: i.peer,
            attrs: i.attrs,
        }
    }
}

impl From<wit_sessions::Target> for sessions::Target {
    fn from(t: wit_sessions::Target) -> Self {
        match t {
            wit_sessions::Target::Reply => sessions::Target::Reply,
            wit_sessions::Target::Session(id) => sessions::Target::Session(id),
            wit_sessions::Target::Group(g) => sessions::Target::Group(g),
            wit_sessions::Target::GroupOthers(g) => sessions::Target::GroupOthers(g),
        }
    }
}

impl wit_sessions::Host for HostState {
    fn info(&mut self, session: u64) -> Option<wit_sessions::SessionInfo> {
        self.ctx.sessions.info(session).map(Into::into)
    }
    fn get_attr(&mut self, session: u64, key: String) -> Option<String> {
        self.ctx.sessions.get_attr(session, &key)
    }
    fn set_attr(&mut self, session: u64, key: String, value: Option<String>) {
        self.ctx.sessions.set_attr(session, &key, value)
    }
    fn join(&mut self, session: u64, group: String) {
        self.ctx.sessions.join(session, &group)
    }
    fn leave(&mut self, session: u64, group: String) {
        self.ctx.sessions.leave(session, &group)
    }
    fn members(&mut self, group: String) -> Vec<wit_sessions::SessionInfo> {
        self.ctx
            .sessions
            .members(&group)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    fn claim(&mut self, session: u64, name: String) -> bool {
        self.ctx.sessions.claim(session, &name)
    }
    fn release(&mut self, session: u64, name: String) {
        self.ctx.sessions.release(session, &name)
    }
    fn close(&mut self, session: u64) {
        self.ctx.sessions.close(session)
    }
}

/// Password hashing for plugins (`password-hash`, `password-verify`):
/// argon2id with OWASP's low-memory parameters (7 MiB, 5 passes, 1 lane),
/// about 10-20 ms per hash on one core. Passwords are never logged.
mod password {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    use wasmgate_sdk::Error;

    const M_COST_KIB: u32 = 7 * 1024;
    const T_COST: u32 = 5;
    /// Largest costs accepted from a stored PHC string, so that a corrupt or
    /// hostile one cannot make a verification take seconds or gigabytes.
    const MAX_M_COST_KIB: u32 = 64 * 1024;
    const MAX_T_COST: u32 = 16;
    /// Longest password hashed; longer ones are refused, not truncated.
    const MAX_PASSWORD_BYTES: usize = 1024;

    fn argon2(m: u32, t: u32, p: u32) -> Result<Argon2<'static>, Error> {
        let params = Params::new(m, t, p, None).map_err(|e| Error::Other(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// `too-large` for a password over 1024 bytes; an argon2 failure is
    /// `other`.
    pub fn hash(password: &str) -> Result<String, Error> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::TooLarge(MAX_PASSWORD_BYTES as u64));
        }
        let salt = SaltString::generate(&mut OsRng);
        argon2(M_COST_KIB, T_COST, 1)?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Other(format!("hashing failed: {e}")))
    }

    pub fn verify(password: &str, phc: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident()
            || params.m_cost() > MAX_M_COST_KIB
            || params.t_cost() > MAX_T_COST
            || params.p_cost() > 4
        {
            return false;
        }
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn hash_and_verify() {
            let phc = super::hash("s3cret").unwrap();
            assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
            assert!(!phc.contains("s3cret"));
            assert!(super::verify("s3cret", &phc));
            assert!(!super::verify("s3creT", &phc));
            assert!(!super::verify("s3cret", "not a phc string"));
            assert_ne!(phc, super::hash("s3cret").unwrap(), "salted");
        }

        #[test]
        fn a_too_long_password_is_too_large() {
            let long = "p".repeat(super::MAX_PASSWORD_BYTES + 1);
            assert_eq!(super::hash(&long), Err(wasmgate_sdk::Error::TooLarge(1024)));
            assert!(super::hash(&long[1..]).is_ok());
        }

        #[test]
        fn absurd_costs_are_refused() {
            let phc = super::hash("pw")
                .unwrap()
                .replace("m=7168,t=5", "m=4000000,t=5");
            assert!(!super::verify("pw", &phc));
        }
    }
}
