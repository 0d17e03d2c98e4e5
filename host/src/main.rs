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
        /// Configuration file; when it does not exist, the embedded defaults are used.
        #[arg(long, default_value = "config/wasmgate.toml")]
        config: PathBuf,
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
        Command::Serve { config, ready_file } => {
            let (config, origin) = match wasmgate::server::load_config(&config, true) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("wasmgate: {e:#}");
                    return ExitCode::from(2);
                }
            };
            tracing::info!(config = %origin, "starting");
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
        Command::Check { file, world } => {
            match wasmgate::runtime::check_file(&file, &world, wasmgate::protocol::WORLDS) {
                Ok(()) => {
                    println!("ok: {} implements world {world:?}", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!(
                        "no: {} does not implement world {world:?}: {e:#}",
                        file.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
    }
}
