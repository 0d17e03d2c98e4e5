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

/// Large buffers (a password hash's 7 MiB, a plate image, a relayed exec
/// result) are mapped and unmapped by the allocator, so memory follows the
/// load back down. glibc raises its mmap threshold to the size of each
/// mapped buffer freed, after which such buffers stay in the arena of the
/// thread that made them, one arena per blocking thread: a password flood
/// left 1.4 GB resident after it ended (tests/hostile.rs,
/// `memory_follows_a_password_flood_back_down`). Setting the threshold
/// turns that adjustment off.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 1 << 20;
        // SAFETY: mallopt only sets a parameter of glibc's allocator, under
        // its own locks.
        if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) } != 1 {
            tracing::warn!("could not set the allocator's mmap threshold");
        }
    }
}

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
            fix_mmap_threshold();
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
