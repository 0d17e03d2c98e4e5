//! What a component's store holds, and the `wasmgate:plugin/host` imports
//! implemented on it: kv, clock, log, config. Also the memory limiter that
//! enforces a plugin's cap and records when it was hit.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::worlds::wasmgate::plugin::host::{self as wit, LogLevel};
use super::worlds::wasmgate::plugin::sessions as wit_sessions;
use crate::state::kv::Kv;
use crate::state::sessions::{self, Sessions};

/// Longest log line a plugin can write; longer ones are cut.
const MAX_LOG_BYTES: usize = 4096;

pub struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) kv: Arc<Kv>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) memory_cap: usize,
    /// Set when the component asked for more memory than its cap; read
    /// after a trap to tell "out of memory" from other traps.
    pub(crate) memory_exceeded: bool,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub fn new(
        plugin: Arc<str>,
        kv: Arc<Kv>,
        sessions: Arc<Sessions>,
        config: Arc<BTreeMap<String, String>>,
        memory_cap: usize,
    ) -> Self {
        // Nothing is granted: no preopened directories, no environment, no
        // network. stderr goes to the host's so a guest panic message is seen.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .inherit_stderr()
            .build();
        HostState {
            plugin,
            kv,
            sessions,
            config,
            memory_cap,
            memory_exceeded: false,
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
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            return Ok(false);
        }
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
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    wit_sessions::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl wit::Host for HostState {
    fn kv_get(&mut self, key: String) -> Result<Option<String>, String> {
        self.kv.get(&self.plugin, &key).map_err(|e| e.to_string())
    }

    fn kv_set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), String> {
        self.kv
            .set(&self.plugin, &key, &value, ttl_ms)
            .map_err(|e| e.to_string())
    }

    fn kv_delete(&mut self, key: String) -> Result<bool, String> {
        self.kv
            .delete(&self.plugin, &key)
            .map_err(|e| e.to_string())
    }

    fn kv_list(&mut self, prefix: String, limit: u32) -> Result<Vec<(String, String)>, String> {
        self.kv
            .list(&self.plugin, &prefix, limit)
            .map_err(|e| e.to_string())
    }

    fn now_ms(&mut self) -> u64 {
        crate::state::now_ms()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let mut msg = message;
        if msg.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push_str("…");
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{msg}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{msg}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin, "{msg}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin, "{msg}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin, "{msg}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
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
        self.sessions.info(session).map(Into::into)
    }
    fn get_attr(&mut self, session: u64, key: String) -> Option<String> {
        self.sessions.get_attr(session, &key)
    }
    fn set_attr(&mut self, session: u64, key: String, value: Option<String>) {
        self.sessions.set_attr(session, &key, value)
    }
    fn join(&mut self, session: u64, group: String) {
        self.sessions.join(session, &group)
    }
    fn leave(&mut self, session: u64, group: String) {
        self.sessions.leave(session, &group)
    }
    fn members(&mut self, group: String) -> Vec<wit_sessions::SessionInfo> {
        self.sessions
            .members(&group)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    fn claim(&mut self, session: u64, name: String) -> bool {
        self.sessions.claim(session, &name)
    }
    fn release(&mut self, session: u64, name: String) {
        self.sessions.release(session, &name)
    }
    fn close(&mut self, session: u64) {
        self.sessions.close(session)
    }
}
