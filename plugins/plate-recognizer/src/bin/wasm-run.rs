//! Runs a `wasm32-wasip2` command component natively with wasmtime, with one
//! host directory preopened (read-only) — used to time the recogniser inside
//! a component on this machine:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2 -p plate-recognizer --bin plate-accuracy
//! cargo run --release -p plate-recognizer --features wasm-runner --bin wasm-run -- \
//!     target/wasm32-wasip2/release/plate-accuracy.wasm /work/shared/data/plates/easypr \
//!     /data --bench
//! ```
//!
//! Usage: `wasm-run [--no-epoch] [--perfmap] COMPONENT.wasm HOST_DIR [ARGS...]`; the
//! guest sees HOST_DIR as `/data` and gets ARGS as its arguments (after its
//! name).
//!
//! Engine settings follow the host's (`host/src/runtime/mod.rs::engine`):
//! Cranelift optimised for speed, component model, no concurrency support,
//! epoch interruption with a thread advancing the epoch every 10 ms (the
//! store's deadline is never reached), pooling allocator, 1 MiB wasm stack.
//! `--no-epoch` turns epoch interruption off (the plain wasmtime figure);
//! `--perfmap` writes `/tmp/perf-PID.map` so that `perf` names the guest's
//! functions.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), String> {
    use wasmtime::component::{Component, Linker, ResourceTable};
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
    use wasmtime_wasi::p2::bindings::sync::Command;
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

    let mut args: Vec<String> = std::env::args().collect();
    let mut flag = |name: &str| match args.iter().position(|a| a == name) {
        Some(i) if i < 3 => {
            args.remove(i);
            true
        }
        _ => false,
    };
    let epoch = !flag("--no-epoch");
    let perfmap = flag("--perfmap");
    if args.len() < 3 {
        return Err(
            "usage: wasm-run [--no-epoch] [--perfmap] COMPONENT.wasm HOST_DIR [ARGS...]".into(),
        );
    }
    let e = |e: wasmtime::Error| format!("{e:#}");
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
    let engine = Engine::new(&config).map_err(e)?;
    eprintln!(
        "epoch interruption: {}",
        if epoch { "on (10 ms ticks)" } else { "off" }
    );
    if epoch {
        let engine = engine.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(10));
                engine.increment_epoch();
            }
        });
    }
    let t = std::time::Instant::now();
    let component = Component::from_file(&engine, &args[1]).map_err(e)?;
    eprintln!("compiled in {:.1} s", t.elapsed().as_secs_f32());
    if let Ok(path) = std::env::var("WASM_RUN_SAVE_CODE") {
        std::fs::write(&path, component.serialize().map_err(e)?).map_err(|e| e.to_string())?;
    }
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(e)?;
    let mut b = WasiCtx::builder();
    b.inherit_stdio();
    // the recogniser's development switches (PLATE_DEBUG, PLATE_BENCH_*)
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("PLATE_")) {
        b.env(k, v);
    }
    b.arg("plate-accuracy");
    for a in &args[3..] {
        b.arg(a);
    }
    b.preopened_dir(&args[2], "/data", FsPerms::ReadOnly)
        .map_err(e)?;
    let mut store = Store::new(
        &engine,
        State {
            ctx: b.build(),
            table: ResourceTable::new(),
        },
    );
    // about 115 days of 10 ms ticks: never reached during a run
    store.set_epoch_deadline(1 << 30);
    let cmd = Command::instantiate(&mut store, &component, &linker).map_err(e)?;
    cmd.wasi_cli_run()
        .call_run(&mut store)
        .map_err(e)?
        .map_err(|()| "the component's run returned an error".to_string())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
