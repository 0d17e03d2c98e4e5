//! Idle connections: as many as the host accepts, opened by several worker
//! processes (this binary again, `conn-worker`), because file descriptors
//! are counted per process and this machine caps them at 20 000 each. The
//! workers spread their sockets over several 127.0.0.x source addresses so
//! ephemeral ports never run out. Host memory per connection is the growth
//! of its resident memory (VmRSS) divided by the connections it holds.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmgate_testkit::Setup;

use crate::report::Row;
use crate::{backend_body, blocking, locker};

pub struct ConnOpts {
    pub target: usize,
    pub workers: usize,
    pub sources: usize,
}

/// `conn-worker ADDR COUNT SRC,SRC,... PORT`: opens COUNT connections from
/// the source addresses in turn, each bound to an explicit port counting
/// up from PORT (a kernel-chosen port costs a scan of every bound socket,
/// which grows with each connection), prints one line `opened N failed M
/// error E`, and holds them until stdin closes.
pub fn worker(args: &[String]) -> i32 {
    let (Some(addr), Some(count), Some(srcs)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: wasmgate-bench conn-worker ADDR COUNT SRC,SRC,... PORT");
        return 2;
    };
    let srcs: Vec<Ipv4Addr> = srcs.split(',').filter_map(|s| s.parse().ok()).collect();
    let srcs = if srcs.is_empty() {
        vec![Ipv4Addr::LOCALHOST]
    } else {
        srcs
    };
    let first_port: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    // Several threads: a loopback connect waits for the handshake to be
    // processed, which takes milliseconds on a busy machine.
    const THREADS: usize = 8;
    let srcs = &srcs;
    let results: Vec<(Vec<socket2::Socket>, usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut socks = Vec::new();
                    let mut failed = 0usize;
                    let mut in_a_row = 0;
                    let mut last_error = String::from("-");
                    for i in (t..count).step_by(THREADS) {
                        let port = if first_port == 0 {
                            0
                        } else {
                            first_port + i / srcs.len()
                        };
                        match open(addr, srcs[i % srcs.len()], port) {
                            Ok(s) => {
                                socks.push(s);
                                in_a_row = 0;
                            }
                            Err(e) => {
                                failed += 1;
                                in_a_row += 1;
                                last_error = e.to_string().replace(' ', "_");
                                if in_a_row >= 20 {
                                    break;
                                }
                            }
                        }
                    }
                    (socks, failed, last_error)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let failed: usize = results.iter().map(|r| r.1).sum();
    let last_error = results
        .iter()
        .map(|r| r.2.clone())
        .find(|e| e != "-")
        .unwrap_or_else(|| "-".into());
    let socks: Vec<socket2::Socket> = results.into_iter().flat_map(|r| r.0).collect();
    println!("opened {} failed {failed} error {last_error}", socks.len());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    0
}

fn open(addr: SocketAddr, src: Ipv4Addr, port: usize) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // Ports left in TIME_WAIT by an earlier run may be bound again.
    s.set_reuse_address(true)?;
    let port = u16::try_from(port).unwrap_or(0);
    if s.bind(&SocketAddr::new(src.into(), port).into()).is_err() {
        s.bind(&SocketAddr::new(src.into(), 0).into())?;
    }
    s.connect_timeout(&addr.into(), Duration::from_secs(3))?;
    Ok(s)
}

pub async fn run(setup: &Setup, o: &ConnOpts) -> Row {
    let mut row = Row::new("connections", "wasm", o.target);
    match run_inner(setup, o, &mut row).await {
        Ok(()) => row,
        Err(e) => Row::skipped("connections", "wasm", format!("{e:#}")),
    }
}

async fn run_inner(setup: &Setup, o: &ConnOpts, row: &mut Row) -> anyhow::Result<()> {
    let real = setup
        .component("locker.wasm")
        .ok_or_else(|| anyhow::anyhow!("locker.wasm not found (scripts/build-plugins)"))?;
    let body = backend_body(locker::CONFIG, None, "wasm");
    let host = blocking(|| setup.start("connections", &body, &[(real, "locker.wasm")]))?;
    let addr = host.addr("locker")?;
    let open_key = "wasmgate_connections_open{listener=\"locker\",protocol=\"locker\"}";
    // Opened now: at the end the host may have no descriptor left to accept one.
    let mut admin = blocking(|| host.admin_conn())?;
    blocking(|| admin.metrics())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = host.mem()?;
    let fds_before = host.fds()?;
    let exe = std::env::current_exe()?;
    let workers = o.workers.max(1);
    let per = o.target.div_ceil(workers);
    let srcs: Vec<String> = (1..=o.sources.clamp(1, 250))
        .map(|i| format!("127.0.0.{i}"))
        .collect();
    let started = Instant::now();
    let mut children = Vec::new();
    for w in 0..workers {
        let count = per.min(o.target.saturating_sub(w * per));
        if count == 0 {
            break;
        }
        // Each worker starts on another source address.
        let mut mine = srcs.clone();
        mine.rotate_left(w % srcs.len());
        let mut c = Command::new(&exe)
            .arg("conn-worker")
            .arg(addr.to_string())
            .arg(count.to_string())
            .arg(mine.join(","))
            // Ports below the ephemeral range, one block per worker.
            .arg((10_000 + w * per.div_ceil(srcs.len())).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = c.stdout.take();
        children.push((c, out));
    }
    let mut opened = 0u64;
    let mut failed = 0u64;
    let mut errors = Vec::new();
    for (_, out) in children.iter_mut() {
        let Some(out) = out.take() else { continue };
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(300), line).await??;
        let f: Vec<&str> = line.split_whitespace().collect();
        opened += f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0u64);
        failed += f.get(3).and_then(|v| v.parse().ok()).unwrap_or(0u64);
        if let Some(e) = f.get(5).filter(|e| **e != "-") {
            errors.push(e.to_string());
        }
    }
    let opening = started.elapsed();
    // Wait until the host's count of open connections stops moving.
    let mut open = 0.0;
    let mut stable_since = Instant::now();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(60) {
        let now = blocking(|| admin.metrics())?.get(open_key);
        if now != open {
            open = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = host.mem()?;
    let fds_after = host.fds()?;
    let m = blocking(|| admin.metrics())?;
    row.clients = opened as usize;
    row.requests = open as u64;
    row.duration_s = opening.as_secs_f64();
    row.host_rss_kib = after.rss_kib;
    row.host_peak_rss_kib = after.hwm_kib;
    row.errors = 0;
    row.connect_failures = failed;
    let per_conn = if open > 0.0 {
        (after.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0) / open
    } else {
        0.0
    };
    row.set("target", o.target as u64);
    row.set("opened_by_clients", opened);
    row.set("open_in_host", open);
    row.set(
        "refused",
        m.get("wasmgate_connections_refused_total{listener=\"locker\",protocol=\"locker\"}"),
    );
    row.set("host_fds_before", fds_before as u64);
    row.set("host_fds_after", fds_after as u64);
    row.set("rss_before_kib", before.rss_kib);
    row.set("rss_after_kib", after.rss_kib);
    row.set("bytes_per_connection", per_conn.round());
    row.set("workers", children.len() as u64);
    row.set("sources", srcs.len() as u64);
    if !errors.is_empty() {
        errors.dedup();
        row.set("client_errors", errors.join(","));
    }
    // Close: the workers exit when their stdin closes.
    for (mut c, _) in children {
        drop(c.stdin.take());
        let _ = tokio::task::spawn_blocking(move || c.wait()).await;
    }
    Ok(())
}
