//! Chat private messages: N guest users online, user i sends 04 to user
//! i+1 (mod N) and waits for its receipt 14 before the next one. The
//! latency is from the send to the 13 arriving at the friend (the message
//! carries its send time); a message sent (receipt Flag 1) that never
//! reaches its friend is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use wasmgate_testkit::Host;

use crate::stats::{Pacer, Schedule, Stats};
use crate::{Load, epoch_ns, io_timeout};

pub const CONFIG: &str = r#"
[plugins.chat]
world = "chat"
{file}
{backend}
[[listener]]
name = "chat"
protocol = "chat"
listen = "127.0.0.1:0"
plugin = "chat"
max_connections = 100000
max_connections_per_ip = 100000
idle_timeout_s = 3600
heartbeat_ms = 0
outbox_capacity = 100000
"#;

pub fn user(i: usize) -> String {
    format!("bench{i:05}")
}

struct User {
    write: OwnedWriteHalf,
    read: BufReader<OwnedReadHalf>,
}

async fn login(addr: SocketAddr, name: String) -> anyhow::Result<User> {
    let go = async {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(format!("{{\"Command\":\"01\",\"Name\":\"{name}\"}}\n").as_bytes())
            .await?;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                anyhow::bail!("closed during login");
            }
            let v: Value = serde_json::from_str(line.trim())?;
            if v["Command"] == "11" {
                if v["Flag"] != 1 {
                    anyhow::bail!("login refused: {line}");
                }
                return Ok(User { write: w, read: r });
            }
        }
    };
    tokio::time::timeout(io_timeout(), go)
        .await
        .map_err(|_| anyhow::anyhow!("login timed out"))?
}

/// Logs in `n` users, user i at `addrs[i % addrs.len()]` (one host, or
/// hosts of a cluster in turn).
pub async fn connect_all(
    addrs: &[SocketAddr],
    n: usize,
    stats: &mut Stats,
) -> Vec<Option<(usize, UserConn)>> {
    // Logins one after the other: each is broadcast (30) to everyone online.
    let mut out = Vec::new();
    for i in 0..n {
        match login(addrs[i % addrs.len()], user(i)).await {
            Ok(u) => out.push(Some((i, UserConn(u)))),
            Err(_) => {
                stats.connect_failures += 1;
                out.push(None);
            }
        }
    }
    out
}

/// Waits (up to the io timeout) until the number of chat users `host`
/// sees online, cluster-wide (the component's `online` admin op), passes
/// `want`.
pub async fn wait_online(host: &Host, want: impl Fn(usize) -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + io_timeout();
    loop {
        let v = crate::blocking(|| host.admin("chat", &serde_json::json!({"op": "online"})))?;
        let seen = v["online"].as_array().map_or(0, Vec::len);
        if want(seen) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("the host still sees {seen} chat users online");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct UserConn(User);

/// What a user's reader saw.
#[derive(Default)]
struct ReadOut {
    stats: Stats,
}

struct Shared {
    delivered: AtomicU64,
}

/// Runs the load. `lossy(i)`: user i's friend may vanish (its host is
/// killed), so what user i sends is not counted as sent, delivered or lost.
pub async fn run(
    users: Vec<Option<(usize, UserConn)>>,
    load: &Load,
    lossy: &dyn Fn(usize) -> bool,
) -> (Stats, Duration) {
    let n = users.len().max(1);
    let clock = Schedule::new(n, load.rate, load.duration);
    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (i, UserConn(u)) in users.into_iter().flatten() {
        let (tx, rx) = mpsc::unbounded_channel::<Option<i64>>();
        let User { write, read } = u;
        let counted = !lossy((i + n - 1) % n);
        readers.push(tokio::spawn(reader(
            read,
            tx,
            shared.clone(),
            counted,
            stop.clone(),
        )));
        let friend = user((i + 1) % n);
        let counts_sent = !lossy(i);
        let w = tokio::spawn(writer(write, rx, friend, clock.pacer(i), clock.end));
        writers.push((w, counts_sent));
    }
    let mut total = Stats::default();
    let mut sent = 0u64;
    // Write halves stay open until every reader is done: a user that left
    // early would make the messages still queued for it look lost.
    let mut open = Vec::new();
    for (w, counts) in writers {
        match w.await {
            Ok((s, n_sent, w)) if counts => {
                total.merge(s);
                sent += n_sent;
                open.push(w);
            }
            Ok((_, _, w)) => open.push(w),
            Err(_) => total.errors += 1,
        }
    }
    // Let the last messages arrive.
    let drain = Instant::now();
    while shared.delivered.load(Relaxed) < sent && drain.elapsed() < io_timeout() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = clock.started.elapsed();
    stop.cancel();
    for r in readers {
        match r.await {
            Ok((out, true)) => total.merge(out.stats),
            Ok((_, false)) => {}
            Err(_) => total.errors += 1,
        }
    }
    total.lost += sent.saturating_sub(shared.delivered.load(Relaxed));
    drop(open);
    (total, elapsed)
}

/// Sends private messages until `end`; returns its counts (errors, lost
/// receipts), the number of messages the host accepted (receipt Flag 1)
/// and the write half (closed by the caller).
async fn writer(
    mut w: OwnedWriteHalf,
    mut receipts: mpsc::UnboundedReceiver<Option<i64>>,
    friend: String,
    mut pacer: Pacer,
    end: Instant,
) -> (Stats, u64, OwnedWriteHalf) {
    let mut s = Stats::default();
    let mut sent = 0;
    loop {
        pacer.tick().await;
        if Instant::now() >= end {
            break;
        }
        let msg = format!(
            "{{\"Command\":\"04\",\"FriendName\":\"{friend}\",\"Message\":\"t{}\"}}\n",
            epoch_ns()
        );
        if w.write_all(msg.as_bytes()).await.is_err() {
            s.dropped += 1;
            break;
        }
        match tokio::time::timeout(io_timeout(), receipts.recv()).await {
            Ok(Some(Some(1))) => sent += 1,
            Ok(Some(_)) => s.errors += 1,
            // The reader ended (connection gone) or no receipt in time.
            Ok(None) => {
                s.lost += 1;
                break;
            }
            Err(_) => {
                s.lost += 1;
                break;
            }
        }
    }
    (s, sent, w)
}

/// Reads the user's messages: 13s (latency from their send time), 14
/// receipts and 99 errors (to the writer), the rest (presence) ignored.
async fn reader(
    mut r: BufReader<OwnedReadHalf>,
    receipts: mpsc::UnboundedSender<Option<i64>>,
    shared: Arc<Shared>,
    counted: bool,
    stop: CancellationToken,
) -> (ReadOut, bool) {
    let mut out = ReadOut::default();
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::select! {
            _ = stop.cancelled() => break,
            n = r.read_line(&mut line) => n,
        };
        match n {
            Ok(0) | Err(_) => {
                out.stats.dropped += 1;
                break;
            }
            Ok(_) => {}
        }
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            out.stats.errors += 1;
            continue;
        };
        match v["Command"].as_str() {
            Some("13") => {
                let sent_at = v["Message"]
                    .as_str()
                    .and_then(|m| m.strip_prefix('t'))
                    .and_then(|t| t.parse::<u64>().ok());
                match sent_at {
                    Some(t) => {
                        out.stats
                            .ok(Duration::from_nanos(epoch_ns().saturating_sub(t)));
                        if counted {
                            shared.delivered.fetch_add(1, Relaxed);
                        }
                    }
                    None => out.stats.errors += 1,
                }
            }
            Some("14") if v.get("Flag").is_some() => {
                let _ = receipts.send(v["Flag"].as_i64());
            }
            Some("99") => {
                let _ = receipts.send(None);
            }
            _ => {}
        }
    }
    (out, counted)
}
