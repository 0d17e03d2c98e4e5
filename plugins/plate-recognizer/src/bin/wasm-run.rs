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
//! Engine settings follow the host's (`host/src/runtime/mod.rs::engine`;
//! see `plate_recognizer::wasm_host`, shared with `plate-accuracy
//! --component`): Cranelift optimised for speed, component model, no
//! concurrency support, epoch interruption with a thread advancing the
//! epoch every 10 ms (the store's deadline is never reached), pooling
//! allocator, 1 MiB wasm stack.
//! `--no-epoch` turns epoch interruption off (the plain wasmtime figure);
//! `--perfmap` writes `/tmp/perf-PID.map` so that `perf` names the guest's
//! functions.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), String> {
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
    eprintln!(
        "epoch interruption: {}",
        if epoch { "on (10 ms ticks)" } else { "off" }
    );
    let t = std::time::Instant::now();
    let runner = plate_recognizer::wasm_host::Runner::new(&args[1], epoch, perfmap)?;
    eprintln!("compiled in {:.1} s", t.elapsed().as_secs_f32());
    if let Ok(path) = std::env::var("WASM_RUN_SAVE_CODE") {
        std::fs::write(&path, runner.serialize()?).map_err(|e| e.to_string())?;
    }
    runner
        .run(std::path::Path::new(&args[2]), &args[3..], false)
        .map(|_| ())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
