//! The WebAssembly side of the host: one wasmtime `Engine` (pooling
//! allocator, epoch interruption), one `Linker` with WASI p2 and the
//! host's imports (`keyvalue`, `blobs`, `sessions`...), and a [`Plugin`] per configured plugin that
//! holds the current compiled version, its warm instances and its limits.
//!
//! It knows worlds (`crate::bindings`), never protocols: a protocol module
//! asks for a `Plugin<W>` of the world it needs and calls its handler; the
//! table of worlds is handed in from above ([`Base::worlds`]).

mod cache;
pub mod deploy;
mod host;
mod plugin;
mod pool;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::Linker;
use wasmtime::{Config as WasmConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::CompileCache;
pub use host::{HostState, PluginCtx};
pub use plugin::{
    Base, CallError, Lane, NativeBuild, NativeBuilds, Ops, Plugin, PluginControl, PluginInfo,
    Plugins, WorldOps, world_ops,
};
pub use pool::cpu;
pub use watch::watch_plugin_dir;

/// Builds the engine. `max_memory_bytes` is the largest memory cap of any
/// plugin; `max_instances` bounds the pooling allocator.
pub fn engine(max_memory_bytes: u64, max_instances: u32) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(4))
        .total_memories(max_instances.saturating_mul(2))
        .total_tables(max_instances.saturating_mul(4))
        .max_memory_size(max_memory_bytes as usize);
    let mut config = WasmConfig::new();
    config
        .wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .max_wasm_stack(1 << 20);
    Engine::new(&config)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("creating the wasmtime engine")
}

/// The linker every plugin is instantiated with: WASI p2 (nothing granted:
/// no files, no sockets, no environment) and the host interface.
pub fn linker(engine: &Engine) -> anyhow::Result<Arc<Linker<HostState>>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    host::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(Arc::new(linker))
}

/// Advances the engine's epoch every `tick`, which is what enforces call
/// deadlines. Runs for the life of the process.
pub fn start_epoch_ticker(engine: Engine, tick: Duration) {
    std::thread::Builder::new()
        .name("wasmgate-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch thread");
}

/// `wasmgate check`: does the file compile, and does it implement `world`
/// (one of `worlds`)? Returns the reason when it does not.
pub fn check_file(
    path: &Path,
    world: &str,
    worlds: &[&'static dyn WorldOps],
) -> anyhow::Result<()> {
    let ops = world_ops(worlds, world).with_context(|| {
        let names: Vec<_> = worlds.iter().map(|w| w.name()).collect();
        format!("unknown world {world:?} (known: {})", names.join(", "))
    })?;
    let engine = engine(64 << 20, 8)?;
    let linker = linker(&engine)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let component = CompileCache::disabled(&engine).component(&engine, &bytes, "")?;
    ops.check(&linker, &component)
}
