//! One plugin: its compiled component (swapped atomically on reload), a pool
//! of warm instances, a bound on concurrent calls, and the rules of a call —
//! deadline, memory cap, and what happens when the component fails.
//!
//! A call takes a slot (or is refused as busy), takes a warm instance of the
//! current version (or instantiates one from the `InstancePre`), runs on a
//! blocking thread with an epoch deadline, and gives the instance back. An
//! instance that trapped, timed out or hit its memory cap is dropped, never
//! reused. A reload compiles and checks the new file first and only then
//! swaps; calls in flight finish on the version they started with, and
//! instances of an old version are dropped instead of reused.
//!
//! A plugin configured with `backend = "native"` runs the same Rust logic
//! compiled into the host instead (a [`NativeBuild`], registered when the
//! host is built with the `native` feature): same slots, same metrics, same
//! handler trait, no component. It exists to measure what the
//! WebAssembly boundary costs; it has no deadline, memory cap or reload.

use std::any::Any;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures::future::BoxFuture;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use super::cache::CompileCache;
use super::{HostState, PluginCtx};
use crate::bindings::{Admin, AdminError, World};
use crate::config::{Backend, PluginConfig, RuntimeConfig};
use crate::metrics::{Metrics, PluginMetrics};
use crate::state::kv::Store as StateStore;
use crate::state::sessions::{Link, Sessions};

/// A native build of world `W`: makes its handler from the plugin's
/// capabilities. Registered by `crate::native` (cargo feature `native`).
pub type NativeBuild<W> = fn(PluginCtx) -> Box<<W as World<HostState>>::Handler<'static>>;

/// The native builds this host was compiled with, by world.
#[derive(Default)]
pub struct NativeBuilds(BTreeMap<&'static str, Box<dyn Any + Send + Sync>>);

impl NativeBuilds {
    pub fn add<W: World<HostState>>(&mut self, build: NativeBuild<W>) {
        self.0.insert(W::NAME, Box::new(build));
    }
    pub fn get<W: World<HostState>>(&self) -> Option<NativeBuild<W>> {
        self.0
            .get(W::NAME)?
            .downcast_ref::<NativeBuild<W>>()
            .copied()
    }
    /// Worlds with a native build.
    pub fn worlds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }
}

/// Which slots a call takes: logins have slots of their own (as many as
/// the others, with the same queue timeout), so they never wait for, nor
/// are refused because of, the plugin's long calls (a recognition) — and
/// those never wait for logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Work,
    Login,
}

/// Why a call produced no answer from the component.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("plugin {0} is not loaded")]
    NotLoaded(Arc<str>),
    #[error("busy: all {0} slots of the plugin are in use")]
    Busy(u32),
    #[error("plugin exceeded its deadline of {0} ms")]
    Timeout(u64),
    #[error("plugin exceeded its memory cap of {0} MiB")]
    Memory(u64),
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// A name claim could not reach the cluster's directory during the
    /// call: what the plugin answered rests on a claim not made, so it is
    /// not sent.
    #[error("the cluster is unavailable")]
    Unavailable,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub world: &'static str,
    pub file: String,
    pub loaded: bool,
    pub sha256: Option<String>,
    /// Unix milliseconds.
    pub loaded_at_ms: Option<u64>,
    pub generation: Option<u64>,
    pub last_reload_error: Option<String>,
    pub last_reload_error_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ReloadOutcome {
    Loaded {
        sha256: String,
        generation: u64,
    },
    /// Same bytes as the version already serving.
    Unchanged {
        sha256: String,
    },
    /// A native plugin: compiled into the host, nothing to load.
    Native,
}

/// Operations on a plugin that do not depend on its world (admin API, watcher).
pub trait PluginControl: Send + Sync {
    fn name(&self) -> &str;
    fn world(&self) -> &'static str;
    fn file(&self) -> &Path;
    fn info(&self) -> PluginInfo;
    /// The sessions of the plugin's listeners.
    fn sessions(&self) -> &Arc<Sessions>;
    /// Compiles, checks and swaps in the file on disk. Blocking.
    fn reload(&self) -> Result<ReloadOutcome, String>;
    /// Compiles `bytes` and checks them as a version of this plugin (its
    /// world, its limits) without swapping anything in; their sha256.
    /// Blocking.
    fn check_bytes(&self, bytes: &[u8]) -> Result<String, String>;
    /// Records why a version of the plugin was refused (shown by `info`).
    fn refused(&self, reason: &str);
    fn admin(
        self: Arc<Self>,
        request: String,
    ) -> BoxFuture<'static, Result<Result<String, AdminError>, CallError>>;
}

struct Loaded<W: World<HostState>> {
    generation: u64,
    pre: W::Pre,
    sha256: String,
    loaded_at_ms: u64,
}

struct Warm<W: World<HostState>> {
    generation: u64,
    store: Store<HostState>,
    bindings: W::Bindings,
}

pub struct Plugin<W: World<HostState>> {
    name: Arc<str>,
    path: PathBuf,
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: CompileCache,
    ctx: PluginCtx,
    /// `backend = "native"`: calls run this native build, not the component.
    native: Option<NativeBuild<W>>,
    deadline: Duration,
    deadline_ticks: u64,
    memory_cap: usize,
    max_concurrency: u32,
    queue_timeout: Duration,
    current: ArcSwapOption<Loaded<W>>,
    warm: Mutex<Vec<Warm<W>>>,
    slots: Arc<Semaphore>,
    /// Slots of [`Lane::Login`] calls.
    login_slots: Arc<Semaphore>,
    reload_lock: Mutex<()>,
    last_error: Mutex<Option<(String, u64)>>,
    generations: AtomicU64,
    metrics: Arc<PluginMetrics>,
}

/// What building one plugin needs.
pub struct PluginSpec<'a> {
    pub name: &'a str,
    pub config: &'a PluginConfig,
    pub plugin_dir: &'a Path,
    pub epoch_tick: Duration,
    pub base: &'a Base,
}

impl<W: World<HostState>> Plugin<W> {
    fn new(spec: PluginSpec<'_>) -> Self {
        let c = spec.config;
        let deadline = c.deadline();
        let tick = spec.epoch_tick.as_nanos().max(1);
        Plugin {
            name: spec.name.into(),
            path: spec.plugin_dir.join(c.file_name(spec.name)),
            engine: spec.base.engine.clone(),
            linker: spec.base.linker.clone(),
            cache: spec.base.cache.clone(),
            ctx: PluginCtx {
                plugin: spec.name.into(),
                kv: spec.base.kv.clone(),
                sessions: Arc::new(Sessions::new(spec.name, spec.base.link.clone())),
                config: Arc::new(c.string_values()),
            },
            native: if c.backend == Backend::Native {
                spec.base.natives.get::<W>()
            } else {
                None
            },
            deadline,
            deadline_ticks: (deadline.as_nanos().div_ceil(tick) as u64).max(1),
            memory_cap: (c.memory_mb as usize).saturating_mul(1 << 20),
            max_concurrency: c.max_concurrency,
            queue_timeout: Duration::from_millis(c.queue_timeout_ms),
            current: ArcSwapOption::empty(),
            warm: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(c.max_concurrency as usize)),
            login_slots: Arc::new(Semaphore::new(c.max_concurrency as usize)),
            reload_lock: Mutex::new(()),
            last_error: Mutex::new(None),
            generations: AtomicU64::new(0),
            metrics: spec.base.metrics.plugin(spec.name),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sessions of every listener this plugin serves.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.ctx.sessions
    }

    /// Counts an error the component answered with (not a failure of the call).
    pub fn note_component_error(&self) {
        self.metrics.errors.fetch_add(1, Relaxed);
    }

    /// Calls the plugin: `f` gets the world's handler and `arg` — a warm
    /// instance of the current component version, within the plugin's
    /// limits, or the native build. It runs on a blocking thread, holding
    /// one of the plugin's slots of `lane`.
    pub async fn call<A, R, F>(self: &Arc<Self>, lane: Lane, arg: A, f: F) -> Result<R, CallError>
    where
        A: Send + 'static,
        R: Send + 'static,
        F: FnOnce(&mut W::Handler<'_>, A) -> wasmtime::Result<R> + Send + 'static,
    {
        let slots = match lane {
            Lane::Work => &self.slots,
            Lane::Login => &self.login_slots,
        };
        let permit = self.acquire_slot(slots).await?;
        let this = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _unreachable = crate::state::sessions::UnreachableCheck::start();
            let result = match this.native {
                Some(build) => this.call_native(|ctx| f(&mut *build(ctx.clone()), arg)),
                None => this.call_blocking(|b, store| W::with_guest(b, store, |h| f(h, arg))),
            };
            drop(permit);
            match result {
                Ok(_) if _unreachable.hit() => Err(CallError::Unavailable),
                other => other,
            }
        })
        .await;
        joined.unwrap_or_else(|e| Err(CallError::Trap(format!("host task failed: {e}"))))
    }

    /// A call of the native build: counted and timed like a component call;
    /// a panic is what a trap is for a component.
    fn call_native<R>(
        &self,
        f: impl FnOnce(&PluginCtx) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.metrics.calls.fetch_add(1, Relaxed);
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&self.ctx)));
        self.metrics.latency.observe(started.elapsed());
        let result = result.map_err(|panic| {
            self.metrics.traps.fetch_add(1, Relaxed);
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            let err = CallError::Trap(format!("native plugin panicked: {why}"));
            crate::limited!(warn, plugin = %self.name, error = %err, "call failed");
            err
        })?;
        // A native build's calls do not fail; an error is its own bug.
        result.map_err(|e| CallError::Trap(format!("native plugin failed: {e:#}")))
    }

    async fn acquire_slot(
        &self,
        slots: &Arc<Semaphore>,
    ) -> Result<OwnedSemaphorePermit, CallError> {
        let slots = slots.clone();
        let permit = if self.queue_timeout.is_zero() {
            slots.try_acquire_owned().ok()
        } else {
            tokio::time::timeout(self.queue_timeout, slots.acquire_owned())
                .await
                .ok()
                .and_then(|r| r.ok())
        };
        permit.ok_or_else(|| {
            self.metrics.busy.fetch_add(1, Relaxed);
            CallError::Busy(self.max_concurrency)
        })
    }

    fn call_blocking<R>(
        &self,
        f: impl FnOnce(&W::Bindings, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.metrics.calls.fetch_add(1, Relaxed);
        let started = Instant::now();
        let loaded = self
            .current
            .load_full()
            .ok_or_else(|| CallError::NotLoaded(self.name.clone()))?;
        let mut warm = match self.take_warm(loaded.generation) {
            Some(w) => w,
            None => self
                .instantiate(&loaded)
                .map_err(|(e, mem)| self.fail(&e, mem))?,
        };
        warm.store.data_mut().memory_exceeded = false;
        warm.store.set_epoch_deadline(self.deadline_ticks);
        let result = f(&warm.bindings, &mut warm.store);
        self.metrics.latency.observe(started.elapsed());
        self.metrics
            .instance_memory_peak
            .fetch_max(warm.store.data().memory_bytes as u64, Relaxed);
        match result {
            Ok(r) => {
                self.give_back(warm);
                Ok(r)
            }
            Err(e) => {
                let mem = warm.store.data().memory_exceeded;
                drop(warm); // never reuse an instance that failed
                Err(self.fail(&e, mem))
            }
        }
    }

    fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(self.ctx.clone(), self.memory_cap);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks);
        store
    }

    fn instantiate(&self, loaded: &Loaded<W>) -> Result<Warm<W>, (wasmtime::Error, bool)> {
        let mut store = self.new_store();
        match W::instantiate(&loaded.pre, &mut store) {
            Ok(bindings) => Ok(Warm {
                generation: loaded.generation,
                store,
                bindings,
            }),
            Err(e) => {
                let mem = store.data().memory_exceeded;
                Err((e, mem))
            }
        }
    }

    fn take_warm(&self, generation: u64) -> Option<Warm<W>> {
        let mut stale = Vec::new();
        let found = {
            let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match warm.pop() {
                    Some(w) if w.generation == generation => break Some(w),
                    Some(w) => stale.push(w),
                    None => break None,
                }
            }
        };
        drop(stale); // outside the lock
        found
    }

    fn give_back(&self, w: Warm<W>) {
        let current = self.current.load().as_ref().map(|l| l.generation);
        if current != Some(w.generation) {
            return; // a reload happened meanwhile: let the old instance go
        }
        let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
        if warm.len() < self.max_concurrency as usize {
            warm.push(w);
        }
    }

    /// Turns a failed call into a [`CallError`], counting and logging it.
    fn fail(&self, e: &wasmtime::Error, memory_exceeded: bool) -> CallError {
        let err = if memory_exceeded {
            self.metrics.memory_exceeded.fetch_add(1, Relaxed);
            CallError::Memory((self.memory_cap >> 20) as u64)
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => {
                    self.metrics.timeouts.fetch_add(1, Relaxed);
                    CallError::Timeout(self.deadline.as_millis() as u64)
                }
                Some(trap) => {
                    self.metrics.traps.fetch_add(1, Relaxed);
                    CallError::Trap(trap.to_string())
                }
                None => {
                    self.metrics.traps.fetch_add(1, Relaxed);
                    CallError::Trap(
                        format!("{e:#}")
                            .lines()
                            .next()
                            .unwrap_or("unknown error")
                            .to_string(),
                    )
                }
            }
        };
        crate::limited!(warn, plugin = %self.name, error = %err, "call failed; instance discarded");
        err
    }

    /// Compiles `bytes` and checks them against the world, without touching
    /// what is serving.
    fn prepare(&self, bytes: &[u8], sha256: &str) -> anyhow::Result<W::Pre> {
        let component = self.cache.component(&self.engine, bytes, sha256)?;
        let pre = prepare::<W>(&self.linker, &component)?;
        // Instantiate once, so a component that cannot start under this
        // plugin's limits is refused here rather than on the first message.
        let mut store = self.new_store();
        W::instantiate(&pre, &mut store).map_err(|e| {
            if store.data().memory_exceeded {
                anyhow::anyhow!(
                    "its initial memory exceeds the cap of {} MiB",
                    self.memory_cap >> 20
                )
            } else {
                anyhow::anyhow!("instantiation failed: {e:#}")
            }
        })?;
        Ok(pre)
    }

    fn load_from_disk(&self) -> Result<ReloadOutcome, String> {
        // A file can be seen while being written (cp writes in pieces) or
        // briefly absent (cargo unlinks, then links): try a few times.
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(150));
            }
            let bytes = match std::fs::read(&self.path) {
                Ok(b) => b,
                Err(e) => {
                    last = format!("reading {}: {e}", self.path.display());
                    continue;
                }
            };
            let sha256 = hex::encode(Sha256::digest(&bytes));
            if let Some(cur) = self.current.load().as_ref()
                && cur.sha256 == sha256
            {
                return Ok(ReloadOutcome::Unchanged { sha256 });
            }
            match self.prepare(&bytes, &sha256) {
                Ok(pre) => {
                    let generation = self.generations.fetch_add(1, Relaxed) + 1;
                    let loaded = Loaded {
                        generation,
                        pre,
                        sha256: sha256.clone(),
                        loaded_at_ms: crate::state::now_ms(),
                    };
                    self.current.store(Some(Arc::new(loaded)));
                    let old =
                        std::mem::take(&mut *self.warm.lock().unwrap_or_else(|p| p.into_inner()));
                    drop(old);
                    return Ok(ReloadOutcome::Loaded { sha256, generation });
                }
                Err(e) => last = format!("{e:#}"),
            }
        }
        Err(last)
    }
}

/// Links `component` against the host's imports and type-checks its exports
/// against world `W`.
fn prepare<W: World<HostState>>(
    linker: &Linker<HostState>,
    component: &Component,
) -> anyhow::Result<W::Pre> {
    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| anyhow::anyhow!("it needs imports the host does not provide: {e:#}"))?;
    W::pre(instance_pre)
        .map_err(|e| anyhow::anyhow!("it does not implement world {:?}: {e:#}", W::NAME))
}

impl<W: World<HostState>> PluginControl for Plugin<W> {
    fn name(&self) -> &str {
        &self.name
    }
    fn sessions(&self) -> &Arc<Sessions> {
        &self.ctx.sessions
    }
    fn check_bytes(&self, bytes: &[u8]) -> Result<String, String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.prepare(bytes, &sha256)
            .map(|_| sha256)
            .map_err(|e| format!("{e:#}"))
    }
    fn refused(&self, reason: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((reason.to_string(), crate::state::now_ms()));
        self.metrics.reload_failures.fetch_add(1, Relaxed);
    }
    fn world(&self) -> &'static str {
        W::NAME
    }
    fn file(&self) -> &Path {
        &self.path
    }

    fn info(&self) -> PluginInfo {
        let cur = self.current.load_full();
        let err = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // A native plugin never loads a file: no version, no reload error.
        let file = if self.native.is_some() {
            "(native build)".to_string()
        } else {
            self.path.display().to_string()
        };
        PluginInfo {
            name: self.name.to_string(),
            world: W::NAME,
            file,
            loaded: self.native.is_some() || cur.is_some(),
            sha256: cur.as_ref().map(|l| l.sha256.clone()),
            loaded_at_ms: cur.as_ref().map(|l| l.loaded_at_ms),
            generation: cur.as_ref().map(|l| l.generation),
            last_reload_error: err.as_ref().map(|e| e.0.clone()),
            last_reload_error_at_ms: err.map(|e| e.1),
        }
    }

    fn reload(&self) -> Result<ReloadOutcome, String> {
        if self.native.is_some() {
            return Ok(ReloadOutcome::Native);
        }
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let outcome = self.load_from_disk();
        match &outcome {
            Ok(ReloadOutcome::Loaded { sha256, generation }) => {
                self.metrics.reloads.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(plugin = %self.name, world = W::NAME, %sha256, generation,
                    ms = started.elapsed().as_millis() as u64, "plugin loaded");
            }
            Ok(ReloadOutcome::Native) => {}
            Ok(ReloadOutcome::Unchanged { .. }) => {
                tracing::debug!(plugin = %self.name, "plugin file unchanged; nothing to reload");
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((e.clone(), crate::state::now_ms()));
                let serving = self.current.load().as_ref().map(|l| l.generation);
                tracing::error!(plugin = %self.name, file = %self.path.display(), error = %e,
                    serving_generation = ?serving, "plugin load refused; the previous version keeps serving");
            }
        }
        outcome
    }

    fn admin(
        self: Arc<Self>,
        request: String,
    ) -> BoxFuture<'static, Result<Result<String, AdminError>, CallError>> {
        Box::pin(async move {
            self.call(Lane::Work, request, |h, request| h.admin(&request))
                .await
        })
    }
}

/// A world's entry in the table of worlds, usable without knowing `W`.
pub trait WorldOps: Sync {
    fn name(&self) -> &'static str;
    fn check(&self, linker: &Linker<HostState>, component: &Component) -> anyhow::Result<()>;
    fn create(&self, spec: PluginSpec<'_>) -> (Arc<dyn PluginControl>, Arc<dyn Any + Send + Sync>);
}

pub struct Ops<W>(PhantomData<fn() -> W>);

impl<W> Ops<W> {
    pub const NEW: Self = Ops(PhantomData);
}

impl<W: World<HostState>> WorldOps for Ops<W> {
    fn name(&self) -> &'static str {
        W::NAME
    }
    fn check(&self, linker: &Linker<HostState>, component: &Component) -> anyhow::Result<()> {
        prepare::<W>(linker, component).map(|_| ())
    }
    fn create(&self, spec: PluginSpec<'_>) -> (Arc<dyn PluginControl>, Arc<dyn Any + Send + Sync>) {
        let p = Arc::new(Plugin::<W>::new(spec));
        (p.clone(), p)
    }
}

/// The world called `name` among `worlds`.
pub fn world_ops(worlds: &[&'static dyn WorldOps], name: &str) -> Option<&'static dyn WorldOps> {
    worlds.iter().copied().find(|o| o.name() == name)
}

/// What every plugin is built with.
pub struct Base {
    pub engine: Engine,
    pub linker: Arc<Linker<HostState>>,
    pub cache: CompileCache,
    pub kv: Arc<dyn StateStore>,
    /// The other hosts of a cluster, for the plugins' sessions.
    pub link: Option<Arc<dyn Link>>,
    pub metrics: Arc<Metrics>,
    /// The worlds a plugin can implement (the protocol table's).
    pub worlds: &'static [&'static dyn WorldOps],
    pub natives: NativeBuilds,
}

/// Every configured plugin, by name.
#[derive(Clone, Default)]
pub struct Plugins {
    control: BTreeMap<String, Arc<dyn PluginControl>>,
    typed: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
}

impl Plugins {
    /// Creates every plugin of `plugins` (nothing is loaded yet).
    pub fn new(
        plugins: &BTreeMap<String, PluginConfig>,
        runtime: &RuntimeConfig,
        base: &Base,
    ) -> anyhow::Result<Plugins> {
        let mut all = Plugins::default();
        for (name, pc) in plugins {
            let ops = world_ops(base.worlds, &pc.world)
                .ok_or_else(|| anyhow::anyhow!("plugin {name:?}: unknown world {:?}", pc.world))?;
            if pc.backend == Backend::Native && !base.natives.worlds().any(|w| w == pc.world) {
                anyhow::bail!(
                    "plugin {name:?}: this wasmgate has no native build of world {:?} (native builds exist for the benchmarks: cargo feature `native`{})",
                    pc.world,
                    match base.natives.worlds().collect::<Vec<_>>() {
                        w if w.is_empty() => String::new(),
                        w => format!("; built with: {}", w.join(", ")),
                    }
                );
            }
            let (control, typed) = ops.create(PluginSpec {
                name,
                config: pc,
                plugin_dir: &runtime.plugin_dir,
                epoch_tick: Duration::from_millis(runtime.epoch_tick_ms),
                base,
            });
            all.control.insert(name.clone(), control);
            all.typed.insert(name.clone(), typed);
        }
        Ok(all)
    }

    /// The plugin `name`, if it exists and implements world `W`.
    pub fn get<W: World<HostState>>(&self, name: &str) -> Option<Arc<Plugin<W>>> {
        self.typed.get(name).cloned()?.downcast::<Plugin<W>>().ok()
    }

    pub fn control(&self, name: &str) -> Option<Arc<dyn PluginControl>> {
        self.control.get(name).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn PluginControl>> {
        self.control.values()
    }

    /// Plugins loaded from the file called `file_name`.
    pub fn using_file(&self, file_name: &OsStr) -> Vec<Arc<dyn PluginControl>> {
        self.control
            .values()
            .filter(|p| p.file().file_name() == Some(file_name))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::locker::LockerWorld;
    use crate::config::Synchronous;

    fn base(dir: &Path, natives: NativeBuilds) -> Base {
        let engine = super::super::engine(64 << 20, 8).unwrap();
        Base {
            linker: super::super::linker(&engine).unwrap(),
            cache: CompileCache::disabled(&engine),
            engine,
            kv: Arc::new(
                crate::state::kv::Kv::open(&dir.join("kv.db"), Synchronous::Normal).unwrap(),
            ),
            link: None,
            metrics: Arc::new(Metrics::default()),
            worlds: &[&Ops::<LockerWorld>::NEW],
            natives,
        }
    }

    fn plugins(text: &str) -> BTreeMap<String, PluginConfig> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn native_backend_needs_a_native_build() {
        let dir = tempfile::tempdir().unwrap();
        let native = plugins("[l]\nworld = \"locker\"\nbackend = \"native\"\n");
        let without = base(dir.path(), NativeBuilds::default());
        let err = Plugins::new(&native, &RuntimeConfig::default(), &without)
            .err()
            .expect("refused");
        let err = format!("{err:#}");
        assert!(
            err.contains("no native build of world \"locker\"")
                && err.contains("cargo feature `native`"),
            "{err}"
        );
        // The same host with a native build of the world accepts it and
        // calls it.
        let mut natives = NativeBuilds::default();
        natives.add::<LockerWorld>(|_| panic!("a native build that fails"));
        let with = base(dir.path(), natives);
        let all = Plugins::new(&native, &RuntimeConfig::default(), &with).unwrap();
        let plugin = all.get::<LockerWorld>("l").expect("a locker plugin");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = rt.block_on(plugin.call(Lane::Work, (), |h, ()| h.admin("{}")));
        assert!(
            matches!(&answer, Err(CallError::Trap(why)) if why.contains("a native build that fails")),
            "{answer:?}"
        );
        // A world nobody implements.
        let err = Plugins::new(
            &plugins("[x]\nworld = \"gopher\"\n"),
            &RuntimeConfig::default(),
            &with,
        )
        .err()
        .expect("refused");
        assert!(
            format!("{err:#}").contains("unknown world \"gopher\""),
            "{err:#}"
        );
    }
}
