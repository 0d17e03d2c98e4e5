use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wasmgate",
    version,
    about = "Protocol router: sockets and framing in the host, decisions in WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new plugin project for a world: handler, unit test, build
    /// script, README and the world's WIT.
    New {
        /// The world to implement.
        #[arg(value_parser = PossibleValuesParser::new(wasmgate::kit::world_names()))]
        world: String,
        /// The language of the project.
        #[arg(long, value_parser = PossibleValuesParser::new(wasmgate::kit::Lang::ALL.map(|l| l.name())))]
        lang: String,
        /// The plugin's name (default: DIR's name, else my-<world>).
        #[arg(long)]
        name: Option<String>,
        /// Where to write it, absent or empty (default: ./<name>).
        dir: Option<PathBuf>,
    },
    /// Start every listener in the configuration.
    Serve {
        /// Configuration file. Default: ./wasmgate.toml, else
        /// ./config/wasmgate.toml, else wasmgate.toml beside this binary,
        /// else the embedded defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Directory of the plugins' .wasm files (instead of
        /// runtime.plugin_dir).
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// Directory of the store, the compile cache and the self-signed TLS
        /// certificate (instead of $STATE_DIRECTORY or runtime.state_dir).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Write the bound addresses here (JSON) once every listener is up.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Say whether a .wasm file implements a world, and why not.
    Check {
        file: PathBuf,
        #[arg(long)]
        world: String,
    },
    /// A running host's plugins, through its admin API: list, reload, check.
    Plugins(wasmgate::remote::PluginsArgs),
}

/// glibc's allocator, set for a server whose plugin calls run on a pool of
/// blocking threads, each with an arena of its own. Either setting can be
/// given instead through glibc's own environment (`GLIBC_TUNABLES=
/// glibc.malloc.mmap_threshold=…:glibc.malloc.trim_threshold=…`, or
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`); one given there is
/// left as it is.
///
/// - mmap threshold, 1 MiB: large buffers (a password hash's 7 MiB, a plate
///   image, a relayed exec result) are mapped and unmapped, so memory follows
///   the load back down. glibc raises its threshold to the size of each
///   mapped buffer freed, after which such buffers stay in the arena of the
///   thread that made them: a password flood left 1.4 GB resident after it
///   ended (tests/hostile.rs, `memory_follows_a_password_flood_back_down`).
///   Setting the threshold turns that adjustment off.
/// - trim threshold, [`TRIM_THRESHOLD`], only when a plugin runs natively
///   (`backend = "native"`): with the adjustment off, glibc gives an arena's
///   free top back to the kernel once it exceeds 128 KiB, so a native
///   plugin's working buffers (under 1 MiB each) were unmapped after every
///   call and faulted in again, zeroed, by the next: the native plate
///   recogniser took twice its own time through the host on one machine
///   (BENCHMARKS.md, "Plate through the host"). An arena then keeps up to
///   this much free memory at its top. Components do not need it (a warm
///   instance keeps its linear memory): for a host of components alone it
///   changed no latency measurably and cost the soak 33 MB more resident
///   memory, 84 MB instead of 51.
#[cfg_attr(
    not(all(target_os = "linux", target_env = "gnu")),
    allow(unused_variables)
)]
fn tune_allocator(native_plugins: bool) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let given = |name: &str, env: &str| {
            tunables.contains(&format!("glibc.malloc.{name}=")) || std::env::var_os(env).is_some()
        };
        let mut settings = vec![(
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
            "mmap_threshold",
            "MALLOC_MMAP_THRESHOLD_",
        )];
        if native_plugins {
            settings.push((
                libc::M_TRIM_THRESHOLD,
                TRIM_THRESHOLD,
                "trim_threshold",
                "MALLOC_TRIM_THRESHOLD_",
            ));
        }
        for (param, value, name, env) in settings {
            if given(name, env) {
                tracing::info!(setting = name, "allocator setting left to the environment");
                continue;
            }
            // SAFETY: mallopt only sets a parameter of glibc's allocator,
            // under its own locks.
            if unsafe { libc::mallopt(param, value) } == 1 {
                tracing::info!(setting = name, bytes = value, "allocator tuned");
            } else {
                tracing::warn!(setting = name, "could not set the allocator's {name}");
            }
        }
    }
}

/// See [`tune_allocator`].
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;
/// See [`tune_allocator`].
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 32 << 20;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,cranelift=warn,wasmtime=warn")
            }),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::New {
            world,
            lang,
            name,
            dir,
        } => match wasmgate::kit::new_command(&world, &lang, name.as_deref(), dir.as_deref()) {
            Ok(said) => {
                // A closed stdout (`| head`) is no failure of the command.
                let _ = writeln!(std::io::stdout(), "{said}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wasmgate new: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve {
            config,
            plugins,
            state_dir,
            ready_file,
        } => {
            let placement = wasmgate::config::Placement {
                plugin_dir: plugins,
                state_dir,
            };
            let (config, origin) =
                match wasmgate::server::load_config(config.as_deref(), &placement) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("wasmgate: {e:#}");
                        return ExitCode::from(2);
                    }
                };
            tracing::info!(config = %origin, "starting");
            tune_allocator(
                config
                    .plugins
                    .values()
                    .any(|p| p.backend == wasmgate::config::Backend::Native),
            );
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .max_blocking_threads(config.runtime.max_blocking_threads)
                .build();
            let rt = match rt {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("wasmgate: starting the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(wasmgate::server::run(config, ready_file.as_deref())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { file, world } => wasmgate::remote::check(&file, &world),
        Command::Plugins(args) => wasmgate::remote::main(args),
    }
}
