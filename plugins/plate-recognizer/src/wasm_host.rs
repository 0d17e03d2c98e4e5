//! Runs `wasm32-wasip2` command components natively with wasmtime (feature
//! `wasm-runner`), with the engine configured as the host's
//! (`host/src/runtime/mod.rs::engine`): Cranelift optimised for speed,
//! component model, no concurrency support, epoch interruption with a
//! thread advancing the epoch every 10 ms (the store's deadline is never
//! reached), pooling allocator, 1 MiB wasm stack. Used by `wasm-run` and by
//! `plate-accuracy --component` to time the recogniser inside a component.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

struct State {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn err(e: wasmtime::Error) -> String {
    format!("{e:#}")
}

/// A compiled command component, ready to be run (each run is a new store
/// and instance: a command's `run` can be called once per instance).
pub struct Runner {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
}

impl Runner {
    /// Compiles `wasm` with the host's engine settings (`epoch`: epoch
    /// interruption on, as in the host; `perfmap`: write
    /// `/tmp/perf-PID.map` so that `perf` names the guest's functions).
    pub fn new(wasm: &str, epoch: bool, perfmap: bool) -> Result<Runner, String> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(4)
            .total_core_instances(16)
            .total_memories(8)
            .total_tables(16)
            .max_memory_size(1 << 30);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(epoch)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .max_wasm_stack(1 << 20);
        if perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(err)?;
        if epoch {
            let engine = engine.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    engine.increment_epoch();
                }
            });
        }
        let component = Component::from_file(&engine, wasm).map_err(err)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        Ok(Runner {
            engine,
            component,
            linker,
        })
    }

    /// The compiled code, for `WASM_RUN_SAVE_CODE`.
    pub fn serialize(&self) -> Result<Vec<u8>, String> {
        self.component.serialize().map_err(err)
    }

    /// Runs the component once in a new instance: `args` after the program
    /// name `plate-accuracy`, `host_dir` preopened read-only as `/data`, the
    /// `PLATE_*` environment variables passed on, stderr inherited. With
    /// `capture`, the guest's stdout is returned instead of printed.
    pub fn run(
        &self,
        host_dir: &std::path::Path,
        args: &[String],
        capture: bool,
    ) -> Result<Option<Vec<u8>>, String> {
        let mut b = WasiCtx::builder();
        b.inherit_stderr();
        let out = capture.then(|| MemoryOutputPipe::new(64 << 20));
        match &out {
            Some(pipe) => {
                b.stdout(pipe.clone());
            }
            None => {
                b.inherit_stdout();
            }
        }
        // the recogniser's development switches (PLATE_DEBUG, PLATE_BENCH_*)
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("PLATE_")) {
            b.env(k, v);
        }
        b.arg("plate-accuracy");
        for a in args {
            b.arg(a);
        }
        b.preopened_dir(host_dir, "/data", FsPerms::ReadOnly)
            .map_err(err)?;
        let mut store = Store::new(
            &self.engine,
            State {
                ctx: b.build(),
                table: ResourceTable::new(),
            },
        );
        // about 115 days of 10 ms ticks: never reached during a run
        store.set_epoch_deadline(1 << 30);
        let cmd = Command::instantiate(&mut store, &self.component, &self.linker).map_err(err)?;
        cmd.wasi_cli_run()
            .call_run(&mut store)
            .map_err(err)?
            .map_err(|()| "the component's run returned an error".to_string())?;
        drop(store);
        Ok(out.map(|p| p.contents().to_vec()))
    }
}
