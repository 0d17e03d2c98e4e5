//! `soak` (issue 20): one host serving every protocol at a steady rate for
//! a configured time, its locker component hot-swapped at a fixed period,
//! and a few hostile clients at work all along. Every interval the clients
//! reconnect (so connections come and go as in a real site) and the host's
//! memory, descriptors, threads and each protocol's latency are sampled.
//! What a long run must show is a flat line: memory, descriptors and
//! latency of the last intervals no higher than of the first ones.
//!
//! The hostile clients connect from another loopback address (127.0.0.2)
//! than the legitimate ones, as an attacker would: the per-address limits
//! (connection count, login backoff) fall on them, not on everyone.
//!
//! - `drip`: a locker board that sends one byte a second (closed by the
//!   whole-message deadline);
//! - `bomb`: a camera that sends, before logging in, a recognition frame
//!   whose bz2 body expands to 16 MiB (refused without decompressing);
//! - `guess`: a chat client guessing a password in a loop (backed off);
//! - `garbage`: random bytes to the smart-home listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use wasmgate_testkit::{Host, Setup};

use crate::report::{Row, round};
use crate::stats::Stats;
use crate::swap::with_custom_section;
use crate::{Load, backend_body, blocking, chat, exec, locker, plate, smarthome};

pub struct SoakOpts {
    pub duration: Duration,
    pub interval: Duration,
    /// Time between two hot swaps of the locker component.
    pub swap_every: Duration,
    pub photo: Vec<u8>,
}

/// Clients and total request rates per protocol: a steady, moderate load
/// (the soak is about what accumulates, not about peak throughput).
const LOCKER: (usize, f64) = (16, 200.0);
const CHAT: (usize, f64) = (16, 200.0);
const EXEC: (usize, f64) = (16, 100.0);
const SMARTHOME: (usize, f64) = (4, 20.0);
const PLATE: (usize, f64) = (1, 1.0);

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

pub async fn run(setup: &Setup, o: &SoakOpts) -> Row {
    let clients = LOCKER.0 + CHAT.0 + EXEC.0 + SMARTHOME.0 + PLATE.0;
    let mut row = Row::new("soak", "wasm", clients);
    match run_inner(setup, o, &mut row).await {
        Ok(()) => row,
        Err(e) => Row::skipped("soak", "wasm", format!("{e:#}")),
    }
}

/// One sample: the host after an interval, and the interval's latencies.
struct Sample {
    at_s: f64,
    rss_kib: u64,
    fds: usize,
    threads: u64,
    p99_us: Vec<(&'static str, f64)>,
    requests: u64,
}

impl Sample {
    fn json(&self) -> Value {
        let mut v = json!({
            "t_s": round(self.at_s),
            "rss_kib": self.rss_kib,
            "fds": self.fds,
            "threads": self.threads,
            "requests": self.requests,
        });
        for (proto, p99) in &self.p99_us {
            v[format!("{proto}_p99_us")] = json!(round(*p99));
        }
        v
    }
}

async fn run_inner(setup: &Setup, o: &SoakOpts, row: &mut Row) -> anyhow::Result<()> {
    let component = |f: &str| {
        setup
            .component(f)
            .ok_or_else(|| anyhow::anyhow!("{f} not found (scripts/build-plugins)"))
    };
    let locker_path = component("locker.wasm")?;
    let real = std::fs::read(&locker_path)?;
    let variant = std::fs::read(component("locker_variant.wasm")?)?;
    let files = [
        (locker_path, "locker.wasm"),
        (component("chat.wasm")?, "chat.wasm"),
        (component("exec.wasm")?, "exec.wasm"),
        (component("smarthome.wasm")?, "smarthome.wasm"),
        (component("plate.wasm")?, "plate.wasm"),
    ];
    // A whole locker report or smart-home request arrives in milliseconds:
    // 5 s (not the default 30) closes the drip-feeding clients within an
    // interval. Each template ends in its listener table.
    let deadline = "message_timeout_ms = 5000\n";
    let body = [
        (locker::CONFIG, deadline),
        (chat::CONFIG, ""),
        (exec::CONFIG, ""),
        (smarthome::CONFIG, deadline),
        (&plate::config(PLATE.0), ""),
    ]
    .iter()
    .map(|(t, extra)| backend_body(t, None, "wasm") + extra)
    .collect::<Vec<_>>()
    .join("\n");
    let host = blocking(|| setup.start("soak", &body, &files))?;
    let db = smarthome::house_db(host.dir(), 500)?;
    smarthome::upload(&host, &db)?;

    let stop = CancellationToken::new();
    let hostile = Hostile::start(&host, stop.clone())?;
    let mut swaps = 0u64;
    let swapper = async {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(o.swap_every) => {}
            }
            // New bytes every time (a custom section), as each deploy is:
            // the compile cache sees a new entry each swap.
            let k = swaps + 1;
            let base = if k % 2 == 1 { &variant } else { &real };
            let bytes = with_custom_section(base, "wasmgate-soak", format!("{k}").as_bytes());
            if host.replace_plugin("locker.wasm", &bytes).is_ok() {
                swaps = k;
            }
        }
    };

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut per_proto =
        ["locker", "chat", "exec", "smarthome", "plate"].map(|p| (p, Stats::default()));
    let sampler = async {
        while started.elapsed() < o.duration {
            let interval = o.interval.min(o.duration - started.elapsed());
            let load = |(_, rate): (usize, f64)| Load {
                clients: 0,
                duration: interval,
                rate,
            };
            let (l, c, e, s, p) = tokio::join!(
                locker_interval(&host, load(LOCKER)),
                chat_interval(&host, load(CHAT)),
                exec_interval(&host, load(EXEC)),
                smarthome_interval(&host, db.len(), load(SMARTHOME)),
                plate_interval(&host, &o.photo, load(PLATE)),
            );
            let mut p99_us = Vec::new();
            let mut requests = 0;
            for ((proto, all), stats) in per_proto.iter_mut().zip([l, c, e, s, p]) {
                let mut stats = stats?;
                p99_us.push((*proto, stats.percentiles_us().1));
                requests += stats.requests;
                all.merge(stats);
            }
            let mem = host.mem()?;
            let sample = Sample {
                at_s: started.elapsed().as_secs_f64(),
                rss_kib: mem.rss_kib,
                fds: host.fds()?,
                threads: host.threads()?,
                p99_us,
                requests,
            };
            println!("soak: {}", sample.json());
            samples.push(sample);
        }
        stop.cancel();
        anyhow::Ok(started.elapsed())
    };
    let ((), elapsed) = tokio::join!(swapper, sampler);
    let elapsed = elapsed?;
    let attacks = hostile.finish().await;
    let mut total = Stats::default();
    for (_, stats) in &per_proto {
        total.merge(stats.clone());
    }
    row.fill(total, elapsed, host.mem()?);

    row.set(
        "samples",
        Value::Array(samples.iter().map(Sample::json).collect()),
    );
    // Flat or growing: the mean of the last third of the samples against
    // the first third (the first sample, warm-up, left out).
    let third = |f: &dyn Fn(&Sample) -> f64| -> Option<(f64, f64)> {
        let s = samples.get(1..)?;
        let n = (s.len() / 3).max(1);
        if s.len() < 2 {
            return None;
        }
        let mean = |xs: &[Sample]| xs.iter().map(f).sum::<f64>() / xs.len() as f64;
        Some((mean(&s[..n]), mean(&s[s.len() - n..])))
    };
    if let Some((first, last)) = third(&|s| s.rss_kib as f64) {
        row.set("rss_first_third_kib", round(first));
        row.set("rss_last_third_kib", round(last));
    }
    if let Some((first, last)) = third(&|s| s.fds as f64) {
        row.set("fds_first_third", round(first));
        row.set("fds_last_third", round(last));
    }
    for (proto, _) in &per_proto {
        if let Some((first, last)) = third(&|s| {
            s.p99_us
                .iter()
                .find(|(p, _)| p == proto)
                .map_or(0.0, |x| x.1)
        }) {
            row.set(&format!("{proto}_p99_first_third_us"), round(first));
            row.set(&format!("{proto}_p99_last_third_us"), round(last));
        }
    }
    for (proto, mut stats) in per_proto {
        let (p50, p99, _) = stats.percentiles_us();
        row.set(
            proto,
            json!({
                "requests": stats.requests, "p50_us": round(p50), "p99_us": round(p99),
                "errors": stats.errors, "lost": stats.lost, "dropped": stats.dropped,
                "connect_failures": stats.connect_failures,
            }),
        );
    }
    row.set("swaps", swaps);
    let generation = blocking(|| host.plugin_info("locker"))?["generation"].clone();
    row.set("locker_generation", generation);
    for (kind, (tries, refused)) in attacks {
        row.set(
            &format!("hostile_{kind}"),
            json!({"tries": tries, "refused": refused}),
        );
    }
    let m = blocking(|| host.metrics())?;
    row.set(
        "refused_connections",
        m.get("wasmgate_connections_refused_total"),
    );
    Ok(())
}

async fn locker_interval(host: &Host, mut load: Load) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    let devices = locker::connect_all(host.addr("locker")?, LOCKER.0, &mut s).await;
    load.clients = devices.len();
    let (r, _) = locker::run(devices, &load, None, CancellationToken::new()).await;
    s.merge(r);
    Ok(s)
}

async fn chat_interval(host: &Host, load: Load) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    let users = chat::connect_all(&[host.addr("chat")?], CHAT.0, &mut s).await;
    let (r, _) = chat::run(users, &load, &|_| false).await;
    s.merge(r);
    // The same names log in again next interval: wait until the host has
    // seen every one of them leave.
    chat::wait_online(host, |n| n == 0).await?;
    Ok(s)
}

async fn exec_interval(host: &Host, load: Load) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    let addr = host.addr("exec")?;
    let rooms = exec::connect_all(host, [addr, addr], EXEC.0, &mut s).await?;
    let (r, _) = exec::run(rooms, &load).await;
    s.merge(r);
    Ok(s)
}

async fn smarthome_interval(host: &Host, db_len: usize, load: Load) -> anyhow::Result<Stats> {
    let (s, _) = smarthome::run(host.addr("smarthome")?, SMARTHOME.0, db_len, &load).await;
    Ok(s)
}

async fn plate_interval(host: &Host, photo: &[u8], load: Load) -> anyhow::Result<Stats> {
    let mut s = Stats::default();
    let addr = host.addr("plate")?;
    let mut conns = Vec::new();
    for _ in 0..PLATE.0 {
        match plate::connect(addr).await {
            Ok(ws) => conns.push(ws),
            Err(_) => s.connect_failures += 1,
        }
    }
    let (o, _) = plate::run(conns, photo, &load).await;
    s.merge(o.stats);
    Ok(s)
}

/// The hostile clients, each a loop until stopped, counting its tries and
/// how many of them the host refused or closed.
struct Hostile {
    tasks: Vec<(&'static str, tokio::task::JoinHandle<(u64, u64)>)>,
}

impl Hostile {
    fn start(host: &Host, stop: CancellationToken) -> anyhow::Result<Hostile> {
        let locker = host.addr("locker")?;
        let plate = host.addr("plate")?;
        let chat = host.addr("chat")?;
        let smarthome = host.addr("smarthome")?;
        Ok(Hostile {
            tasks: vec![
                ("drip", tokio::spawn(drip(locker, stop.clone()))),
                ("bomb", tokio::spawn(bomb(plate, stop.clone()))),
                ("guess", tokio::spawn(guess(chat, stop.clone()))),
                ("garbage", tokio::spawn(garbage(smarthome, stop))),
            ],
        })
    }

    async fn finish(self) -> Vec<(&'static str, (u64, u64))> {
        let mut out = Vec::new();
        for (kind, t) in self.tasks {
            out.push((kind, t.await.unwrap_or((0, 0))));
        }
        out
    }
}

async fn connect_from(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(ATTACKER, 0))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Waits for the host to end the connection (EOF or reset) while `feed`
/// writes; true when it did before `stop`.
async fn closed_by_host(
    stream: &mut TcpStream,
    stop: &CancellationToken,
    mut feed: impl FnMut(u64) -> Option<Vec<u8>>,
    every: Duration,
) -> bool {
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(every);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return false,
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            _ = tick.tick() => {
                if let Some(bytes) = feed(n)
                    && stream.write_all(&bytes).await.is_err()
                {
                    return true;
                }
                n += 1;
            }
        }
    }
}

async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

async fn drip(addr: SocketAddr, stop: CancellationToken) -> (u64, u64) {
    let report = locker::report("drip", 1).into_bytes();
    let (mut tries, mut refused) = (0, 0);
    while !stop.is_cancelled() {
        tries += 1;
        if let Ok(mut s) = connect_from(addr).await {
            let feed = |i: u64| {
                report
                    .get(i as usize % report.len()..)
                    .map(|b| b[..1].to_vec())
            };
            if closed_by_host(&mut s, &stop, feed, Duration::from_secs(1)).await {
                refused += 1;
            }
        }
        pause(&stop, Duration::from_millis(200)).await;
    }
    (tries, refused)
}

async fn bomb(addr: SocketAddr, stop: CancellationToken) -> (u64, u64) {
    let body = wasmgate::codec::plate::recognition_body("bomb", "x", &vec![0u8; 16 << 20]);
    let mut z = Vec::new();
    let compressed = {
        use std::io::Write;
        let mut e = bzip2::write::BzEncoder::new(&mut z, bzip2::Compression::best());
        e.write_all(&body).and_then(|()| e.finish().map(|_| ()))
    };
    if compressed.is_err() {
        return (0, 0);
    }
    let frame = [vec![3u8, 1], z].concat();
    let (mut tries, mut refused) = (0, 0);
    while !stop.is_cancelled() {
        tries += 1;
        let go = async {
            let tcp = connect_from(addr).await?;
            let (mut ws, _) =
                tokio_tungstenite::client_async(format!("ws://{addr}/park1"), tcp).await?;
            ws.send(Message::binary(frame.clone())).await?;
            // The answer is the protocol's error (not logged in), or a close.
            let answer = ws.next().await;
            anyhow::Ok(
                matches!(answer, Some(Ok(Message::Binary(ref b))) if b.first() == Some(&4))
                    || !matches!(answer, Some(Ok(_))),
            )
        };
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(10), go).await {
            refused += 1;
        }
        pause(&stop, Duration::from_millis(500)).await;
    }
    (tries, refused)
}

async fn guess(addr: SocketAddr, stop: CancellationToken) -> (u64, u64) {
    let (mut tries, mut refused) = (0, 0);
    while !stop.is_cancelled() {
        let Ok(mut s) = connect_from(addr).await else {
            pause(&stop, Duration::from_millis(200)).await;
            continue;
        };
        // Guesses on one connection until the host closes it.
        let mut buf = Vec::new();
        loop {
            tries += 1;
            let line = format!(
                "{{\"Command\":\"01\",\"Name\":\"victim\",\"Password\":\"guess{tries}\"}}\n"
            );
            if s.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let answer = tokio::select! {
                _ = stop.cancelled() => return (tries, refused),
                a = tokio::time::timeout(Duration::from_secs(30), read_line(&mut s, &mut buf)) => a,
            };
            match answer {
                Ok(Some(v)) if v["Command"] == "11" && v["Flag"] != 1 => refused += 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
    (tries, refused)
}

async fn read_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Value> {
    loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            match serde_json::from_slice::<Value>(&line) {
                Ok(v) if v["Command"] == "11" => return Some(v),
                _ => continue,
            }
        }
        let mut chunk = [0u8; 1024];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn garbage(addr: SocketAddr, stop: CancellationToken) -> (u64, u64) {
    let (mut tries, mut refused) = (0, 0);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while !stop.is_cancelled() {
        tries += 1;
        if let Ok(mut s) = connect_from(addr).await {
            let mut junk = [0u8; 64];
            for b in &mut junk {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let feed = |i: u64| (i == 0).then(|| junk.to_vec());
            if closed_by_host(&mut s, &stop, feed, Duration::from_millis(100)).await {
                refused += 1;
            }
        }
        pause(&stop, Duration::from_millis(200)).await;
    }
    (tries, refused)
}
