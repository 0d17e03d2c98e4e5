//! `wasmgate-bench`: a load generator for wasmgate (issue 8).
//!
//! Each scenario starts the real `wasmgate` binary as a child process with
//! a configuration of its own (port 0, a private temporary directory,
//! components copied from `target/plugins`), drives it over loopback
//! sockets with many concurrent clients, and reports throughput, latency
//! percentiles, errors, lost messages, dropped connections and the host's
//! peak memory (VmHWM). Protocol scenarios run once per backend (`wasm`,
//! and `native` — the same handlers compiled into the host, selected with
//! `backend = "native"` in the plugin's table) and print WASM/native ratios.
//!
//! ```text
//! cargo build --release -p wasmgate --features bench --bins
//! cargo run --release -p wasmgate --features bench --bin wasmgate-bench -- all
//! cargo run --release -p wasmgate --features bench --bin wasmgate-bench -- locker chat --clients 128 --duration 10
//! ```
//!
//! The hosts are started with `wasmgate-testkit`, the integration tests'
//! harness; its calls block, so they are made through [`blocking`].

mod chat;
mod cluster;
mod conns;
mod exec;
mod locker;
mod plate;
mod report;
mod smarthome;
mod soak;
mod stats;
mod swap;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use report::{Row, round};
use stats::Stats;
use wasmgate_testkit::{Metrics, Setup, repo_root};

const SCENARIOS: [&str; 9] = [
    "locker",
    "chat",
    "exec",
    "plate",
    "smarthome",
    "hotswap",
    "connections",
    "languages",
    "cluster",
];

#[derive(Parser, Debug)]
#[command(
    name = "wasmgate-bench",
    about = "Load generator for wasmgate: every protocol over loopback, WASM against native",
    after_help = "Scenarios: all, locker, chat, exec, plate, smarthome, hotswap, connections, languages, cluster; and soak (not part of all: it runs for --soak-seconds)"
)]
struct Cli {
    /// Scenarios to run (default: all).
    scenarios: Vec<String>,
    /// Seconds of load per scenario and backend.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Concurrent clients (default per scenario: locker 64, chat 64, exec 64 = 32 rooms, smarthome 16).
    #[arg(long)]
    clients: Option<usize>,
    /// Concurrent plate clients (recognition is CPU-bound: 1 measures latency).
    #[arg(long, default_value_t = 1)]
    plate_clients: usize,
    /// Total requests per second, spread over the clients (0 = each client as fast as answers come).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Backends to compare.
    #[arg(long, value_delimiter = ',', default_value = "wasm,native")]
    backends: Vec<String>,
    /// Hot swap: number of plugin replacements.
    #[arg(long, default_value_t = 100)]
    swaps: u32,
    /// Hot swap: steady request rate of the locker load during the swaps.
    #[arg(long, default_value_t = 1000.0)]
    swap_rate: f64,
    /// Hot swap: locker devices.
    #[arg(long, default_value_t = 16)]
    swap_clients: usize,
    /// Hot swap: pause after a new version answered, before the next write (ms).
    #[arg(long, default_value_t = 100)]
    swap_gap_ms: u64,
    /// Host's reload_debounce_ms.
    #[arg(long, default_value_t = 100)]
    debounce_ms: u64,
    /// Soak: how long the mixed load runs (seconds).
    #[arg(long, default_value_t = 300.0)]
    soak_seconds: f64,
    /// Soak: seconds between two samples (the clients reconnect each time).
    #[arg(long, default_value_t = 10.0)]
    soak_interval: f64,
    /// Soak: seconds between two hot swaps of the locker component.
    #[arg(long, default_value_t = 30.0)]
    soak_swap_every: f64,
    /// Connections: idle connections to try (the host's fd limit caps what it can hold).
    #[arg(long, default_value_t = 20000)]
    connections: usize,
    /// Connections: worker processes opening them (fds are per process).
    #[arg(long, default_value_t = 3)]
    conn_workers: usize,
    /// Connections: source addresses 127.0.0.1 .. 127.0.0.N.
    #[arg(long, default_value_t = 4)]
    sources: usize,
    /// Photo for the plate scenario (default: a 1280x720 EasyPR photo from ../shared/data if present, else the synthetic test photo).
    #[arg(long)]
    photo: Option<PathBuf>,
    /// The wasmgate binary (default: next to this one).
    #[arg(long)]
    wasmgate: Option<PathBuf>,
    /// Directory of the built components.
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Directory of the test components (locker_variant.wasm).
    #[arg(long)]
    test_plugins: Option<PathBuf>,
    /// Compile cache shared by every host the bench starts.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Languages: the Python locker component (default PLUGINS/locker_py.wasm).
    #[arg(long)]
    locker_py: Option<PathBuf>,
    /// Languages: the JavaScript chat component (default PLUGINS/chat_js.wasm).
    #[arg(long)]
    chat_js: Option<PathBuf>,
    /// Runs of each protocol scenario and backend (interleaved); the report
    /// shows the run of median throughput, with errors, lost and dropped
    /// summed over all runs.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Seconds a client waits for one answer before counting it lost.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Also write the report as JSON to this file ("-" = stdout).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep each host's temporary directory (config, log).
    #[arg(long)]
    keep: bool,
    /// RUST_LOG of the hosts.
    #[arg(long, default_value = "warn")]
    host_log: String,
}

/// The load of one run.
#[derive(Debug, Clone)]
pub struct Load {
    pub clients: usize,
    pub duration: Duration,
    pub rate: f64,
}

static IO_TIMEOUT: OnceLock<Duration> = OnceLock::new();
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// How long a client waits for one answer.
pub fn io_timeout() -> Duration {
    *IO_TIMEOUT.get_or_init(|| Duration::from_secs(10))
}

/// Nanoseconds since the bench started (timestamps carried in messages).
pub fn epoch_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Runs one of the testkit's blocking calls (starting a host, the admin
/// API) from async code without holding up the runtime's other tasks.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A plugin table template with `{file}` and `{backend}` filled in.
pub fn backend_body(template: &str, file: Option<&str>, backend: &str) -> String {
    let file = file.map(|f| format!("file = \"{f}\"")).unwrap_or_default();
    let backend = if backend == "wasm" {
        String::new()
    } else {
        format!("backend = \"{backend}\"")
    };
    template
        .replace("{file}", &file)
        .replace("{backend}", &backend)
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("conn-worker") {
        std::process::exit(conns::worker(&args[2..]));
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wasmgate-bench: {e}");
            std::process::exit(1);
        }
    };
    std::process::exit(rt.block_on(real_main(cli)));
}

async fn real_main(cli: Cli) -> i32 {
    let _ = IO_TIMEOUT.set(Duration::from_secs_f64(cli.timeout.max(0.1)));
    epoch_ns();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|p| p.to_path_buf()))
        .unwrap_or_default();
    let mut setup = Setup::new(
        cli.wasmgate
            .clone()
            .unwrap_or_else(|| exe_dir.join("wasmgate")),
    );
    if let Some(dir) = &cli.plugins {
        setup.plugins = dir.clone();
    }
    if let Some(dir) = &cli.test_plugins {
        setup.test_plugins = dir.clone();
    }
    if let Some(dir) = &cli.cache_dir {
        setup.cache_dir = dir.clone();
    }
    setup.reload_debounce_ms = cli.debounce_ms;
    setup.shutdown_grace_ms = 1000;
    setup.keep_dir = cli.keep;
    setup.log_level = cli.host_log.clone();
    setup.wait = Duration::from_secs(180);
    setup.admin_timeout = Duration::from_secs(30);
    setup.dir_prefix = "wasmgate-bench-".to_string();
    if !setup.binary.exists() {
        eprintln!(
            "wasmgate-bench: no host binary at {} (`cargo build --release -p wasmgate --features bench --bins` builds both; or pass --wasmgate)",
            setup.binary.display()
        );
        return 2;
    }
    // `cargo run --bin wasmgate-bench` builds this binary only: say so when
    // the host next to it is older.
    if cli.wasmgate.is_none() {
        let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if let (Some(host), Some(me)) = (
            mtime(&setup.binary),
            std::env::current_exe().ok().and_then(|p| mtime(&p)),
        ) && host < me
        {
            println!(
                "note: {} is older than this bench binary; `cargo build --release -p wasmgate --features bench --bins` rebuilds both",
                setup.binary.display()
            );
        }
    }
    let mut scenarios: Vec<String> =
        if cli.scenarios.is_empty() || cli.scenarios.iter().any(|s| s == "all") {
            SCENARIOS.iter().map(|s| s.to_string()).collect()
        } else {
            cli.scenarios.clone()
        };
    scenarios.dedup();
    if let Some(bad) = scenarios
        .iter()
        .find(|s| !SCENARIOS.contains(&s.as_str()) && *s != "soak")
    {
        eprintln!(
            "wasmgate-bench: unknown scenario {bad:?}; known: all, {}, soak",
            SCENARIOS.join(", ")
        );
        return 2;
    }
    let machine = machine();
    println!(
        "machine: {} cpus ({}), {} MiB memory, kernel {}; host {}",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        machine["memory_mib"],
        machine["kernel"].as_str().unwrap_or("?"),
        setup.binary.display()
    );

    let mut rows = Vec::new();
    for sc in &scenarios {
        match sc.as_str() {
            "hotswap" => {
                let load = Load {
                    clients: cli.swap_clients,
                    duration: Duration::ZERO,
                    rate: cli.swap_rate,
                };
                let o = swap::SwapOpts {
                    swaps: cli.swaps,
                    gap: Duration::from_millis(cli.swap_gap_ms),
                };
                let row = swap::run(&setup, &load, &o).await;
                report::print_row(&row);
                rows.push(row);
            }
            "connections" => {
                let o = conns::ConnOpts {
                    target: cli.connections,
                    workers: cli.conn_workers,
                    sources: cli.sources,
                };
                let row = conns::run(&setup, &o).await;
                report::print_row(&row);
                rows.push(row);
            }
            "soak" => {
                let photo = cli.photo.clone().unwrap_or_else(default_photo);
                let photo = match std::fs::read(&photo) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("wasmgate-bench: photo {}: {e}", photo.display());
                        return 2;
                    }
                };
                let secs = |s: f64| Duration::from_secs_f64(s.max(0.1));
                let o = soak::SoakOpts {
                    duration: secs(cli.soak_seconds),
                    interval: secs(cli.soak_interval),
                    swap_every: secs(cli.soak_swap_every),
                    photo,
                };
                let row = soak::run(&setup, &o).await;
                report::print_row(&row);
                rows.push(row);
            }
            "cluster" => {
                let load = Load {
                    clients: cli.clients.unwrap_or(64),
                    duration: Duration::from_secs_f64(cli.duration.max(0.1)),
                    rate: cli.rate,
                };
                rows.extend(cluster::run(&setup, load.clients, &load).await);
            }
            "languages" => {
                for row in languages(&setup, &cli).await {
                    report::print_row(&row);
                    rows.push(row);
                }
            }
            proto => {
                // Backends interleaved run by run, so drift in the machine's
                // load hits both alike.
                let mut runs: Vec<Vec<Row>> = vec![Vec::new(); cli.backends.len()];
                for _ in 0..cli.repeat.max(1) {
                    for (i, backend) in cli.backends.iter().enumerate() {
                        let row =
                            protocol(&setup, &cli, proto, proto, backend, backend, None).await;
                        report::print_row(&row);
                        runs[i].push(row);
                    }
                }
                rows.extend(runs.into_iter().map(report::median));
            }
        }
    }
    report::print_all(&rows);
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.failed())
        .map(|r| format!("{}/{}", r.scenario, r.backend))
        .collect();
    let skipped = rows.iter().filter(|r| r.skipped.is_some()).count();
    println!();
    if failed.is_empty() {
        println!(
            "no errors, lost messages, dropped connections or failed connects in any run ({skipped} skipped)"
        );
    } else {
        println!(
            "errors, lost messages, dropped connections or failed connects in: {}",
            failed.join(", ")
        );
    }
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report::json(&rows, machine)).unwrap_or_default();
        if path.as_os_str() == "-" {
            println!("{text}");
        } else if let Err(e) = std::fs::write(path, text) {
            eprintln!("wasmgate-bench: writing {}: {e}", path.display());
            return 1;
        }
    }
    0
}

fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|v| v.split_once(':'))
                .map(|x| x.1.trim().to_string())
        })
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "memory_mib": mem_kib / 1024,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

fn default_clients(cli: &Cli, proto: &str) -> usize {
    match proto {
        "plate" => cli.plate_clients.max(1),
        _ => cli.clients.unwrap_or(match proto {
            "smarthome" => 16,
            _ => 64,
        }),
    }
}

fn default_photo() -> PathBuf {
    let real = repo_root().join("../shared/data/plates/easypr/京FK5358.jpg");
    if real.exists() {
        real
    } else {
        repo_root().join("tests/data/plate-浙C58306.jpg")
    }
}

/// One protocol scenario against one host: `backend` is what the plugin
/// table asks for, `label` the row's name for it, `file` a component other
/// than PROTO.wasm (the languages scenario).
async fn protocol(
    setup: &Setup,
    cli: &Cli,
    scenario: &str,
    proto: &str,
    backend: &str,
    label: &str,
    file: Option<PathBuf>,
) -> Row {
    let clients = default_clients(cli, proto);
    let mut row = Row::new(scenario, label, clients);
    match protocol_inner(setup, cli, proto, backend, file, &mut row).await {
        Ok(()) => row,
        Err(e) => Row::skipped(scenario, label, format!("{e:#}")),
    }
}

async fn protocol_inner(
    setup: &Setup,
    cli: &Cli,
    proto: &str,
    backend: &str,
    file: Option<PathBuf>,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = Load {
        clients: row.clients,
        duration: Duration::from_secs_f64(cli.duration.max(0.1)),
        rate: cli.rate,
    };
    let component = match &file {
        Some(f) => f.clone(),
        None => setup.component(&format!("{proto}.wasm")).ok_or_else(|| {
            anyhow::anyhow!(
                "{proto}.wasm not found in {} (scripts/build-plugins)",
                setup.plugins.display()
            )
        })?,
    };
    let name = component
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("plugin.wasm")
        .to_string();
    let file_key = file.as_ref().map(|_| name.as_str());
    let template = match proto {
        "locker" => locker::CONFIG.to_string(),
        "chat" => chat::CONFIG.to_string(),
        "exec" => exec::CONFIG.to_string(),
        "smarthome" => smarthome::CONFIG.to_string(),
        "plate" => plate::config(row.clients),
        other => anyhow::bail!("no protocol scenario {other}"),
    };
    let body = backend_body(&template, file_key, backend);
    let host =
        blocking(|| setup.start(&format!("{proto}-{backend}"), &body, &[(component, &name)]))
            .map_err(|e| anyhow::anyhow!("host with backend {backend:?} did not start: {e:#}"))?;
    let started_mem = host.mem()?;
    let mut stats = Stats::default();
    let stop = CancellationToken::new();
    let (m0, mem0, outcome) = match proto {
        "locker" => {
            let addr = host.addr("locker")?;
            let devices = locker::connect_all(addr, load.clients, &mut stats).await;
            // Each board gets one active code, so answers carry a BOX_ENG line.
            for i in 0..devices.len() {
                let assign = json!({"op":"assign","device":locker::device(i),"cell":2,"code":"1234","minutes":600});
                if let Err(e) = blocking(|| host.admin("locker", &assign)) {
                    row.set("assign_error", format!("{e:#}"));
                    break;
                }
            }
            let (m0, mem0) = (blocking(|| host.metrics())?, host.mem()?);
            (m0, mem0, locker::run(devices, &load, None, stop).await)
        }
        "chat" => {
            let users = chat::connect_all(&[host.addr("chat")?], load.clients, &mut stats).await;
            let (m0, mem0) = (blocking(|| host.metrics())?, host.mem()?);
            (m0, mem0, chat::run(users, &load, &|_| false).await)
        }
        "exec" => {
            let addr = host.addr("exec")?;
            let rooms = exec::connect_all(&host, [addr, addr], load.clients, &mut stats).await?;
            let (m0, mem0) = (blocking(|| host.metrics())?, host.mem()?);
            (m0, mem0, exec::run(rooms, &load).await)
        }
        "smarthome" => {
            let db = smarthome::house_db(host.dir(), 500)?;
            smarthome::upload(&host, &db)?;
            row.set("db_bytes", db.len() as u64);
            let (m0, mem0) = (blocking(|| host.metrics())?, host.mem()?);
            (
                m0,
                mem0,
                smarthome::run(host.addr("smarthome")?, load.clients, db.len(), &load).await,
            )
        }
        "plate" => {
            let photo = cli.photo.clone().unwrap_or_else(default_photo);
            let image = std::fs::read(&photo)
                .map_err(|e| anyhow::anyhow!("photo {}: {e}", photo.display()))?;
            let addr = host.addr("plate")?;
            let mut conns = Vec::new();
            for _ in 0..load.clients {
                match plate::connect(addr).await {
                    Ok(ws) => conns.push(ws),
                    Err(_) => stats.connect_failures += 1,
                }
            }
            let dims = plate::dimensions(&image)
                .map(|(w, h)| format!("{w}x{h}"))
                .unwrap_or_else(|| "?".into());
            row.set(
                "photo",
                format!(
                    "{} ({dims}, {} KiB)",
                    photo
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    image.len() / 1024
                ),
            );
            let (m0, mem0) = (blocking(|| host.metrics())?, host.mem()?);
            let (o, elapsed) = plate::run(conns, &image, &load).await;
            row.set("plates", o.plates);
            row.set("no_plate", o.no_plate);
            if let Some(p) = o.last {
                row.set("answer", p);
            }
            if let Some(e) = o.first_error {
                row.set("first_error", e);
            }
            (m0, mem0, (o.stats, elapsed))
        }
        _ => unreachable!(),
    };
    let (s, elapsed) = outcome;
    stats.merge(s);
    let m1 = blocking(|| host.metrics())?;
    let mem1 = host.mem()?;
    row.fill(stats, elapsed, mem1);
    host_figures(
        row,
        proto,
        &m0,
        &m1,
        started_mem.rss_kib,
        mem0.rss_kib,
        mem1.rss_kib,
    );
    Ok(())
}

/// Figures from the host's own metrics and memory for one run.
fn host_figures(
    row: &mut Row,
    plugin: &str,
    m0: &Metrics,
    m1: &Metrics,
    rss_start: u64,
    rss_loaded: u64,
    rss_end: u64,
) {
    let d = |name: &str| m1.plugin(name, plugin) - m0.plugin(name, plugin);
    let calls = d("wasmgate_plugin_call_seconds_count");
    let sum = d("wasmgate_plugin_call_seconds_sum");
    if calls > 0.0 {
        row.set("host_call_mean_us", round(sum / calls * 1e6));
    }
    row.set("host_calls", calls);
    for (k, key) in [
        ("traps", "wasmgate_plugin_traps_total"),
        ("timeouts", "wasmgate_plugin_timeouts_total"),
        ("busy", "wasmgate_plugin_busy_total"),
        ("plugin_errors", "wasmgate_plugin_errors_total"),
    ] {
        let v = d(key);
        if v > 0.0 {
            row.set(k, v);
        }
    }
    row.set("rss_start_kib", rss_start);
    row.set("rss_growth_kib", rss_end as i64 - rss_loaded as i64);
    for (k, v) in m1.plugin_memory(plugin) {
        let short = k
            .split('{')
            .next()
            .unwrap_or(&k)
            .trim_start_matches("wasmgate_")
            .to_string();
        row.set(&short, v);
    }
}

/// The same locker and chat loads against each language's component and
/// against native.
async fn languages(setup: &Setup, cli: &Cli) -> Vec<Row> {
    let mut rows = Vec::new();
    let py = cli
        .locker_py
        .clone()
        .unwrap_or_else(|| setup.plugins.join("locker_py.wasm"));
    let js = cli
        .chat_js
        .clone()
        .unwrap_or_else(|| setup.plugins.join("chat_js.wasm"));
    // (scenario, protocol, [(label, component file other than PROTO.wasm)])
    type Set = (
        &'static str,
        &'static str,
        Vec<(&'static str, Option<PathBuf>)>,
    );
    let sets: [Set; 2] = [
        (
            "lang-locker",
            "locker",
            vec![("rust-wasm", None), ("python-wasm", Some(py))],
        ),
        (
            "lang-chat",
            "chat",
            vec![("rust-wasm", None), ("js-wasm", Some(js))],
        ),
    ];
    for (scenario, proto, variants) in sets {
        let mut runnable: Vec<(&str, &str, Option<PathBuf>)> = Vec::new();
        for (label, file) in variants {
            if let Some(f) = &file
                && !f.exists()
            {
                println!(
                    "languages: skipping {label} for {proto}: {} does not exist",
                    f.display()
                );
                rows.push(Row::skipped(
                    scenario,
                    label,
                    format!("{} does not exist", f.display()),
                ));
                continue;
            }
            runnable.push((label, "wasm", file));
        }
        if cli.backends.iter().any(|b| b == "native") {
            runnable.push(("native", "native", None));
        }
        let mut runs: Vec<Vec<Row>> = vec![Vec::new(); runnable.len()];
        for _ in 0..cli.repeat.max(1) {
            for (i, (label, backend, file)) in runnable.iter().enumerate() {
                let row = protocol(setup, cli, scenario, proto, backend, label, file.clone()).await;
                report::print_row(&row);
                runs[i].push(row);
            }
        }
        rows.extend(runs.into_iter().map(report::median));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn backend_lines() {
        let b = backend_body("[p]\n{file}\n{backend}\n", Some("x.wasm"), "native");
        assert_eq!(b, "[p]\nfile = \"x.wasm\"\nbackend = \"native\"\n");
        assert_eq!(backend_body("{file}{backend}", None, "wasm"), "");
    }
}
