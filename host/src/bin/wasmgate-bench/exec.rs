//! Remote-execute relays: rooms of 2 (one token each, made through the
//! admin API). In each room A sends `execute`, B answers `execute_result`
//! with the same data, A waits for it: one request = two relays, the
//! latency is A's round trip.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use wasmgate_testkit::Host;

use crate::stats::{Pacer, Schedule, Stats, merge_all};
use crate::{Load, io_timeout};

pub const CONFIG: &str = r#"
[plugins.exec]
world = "exec"
{file}
{backend}
[[listener]]
name = "exec"
protocol = "exec"
listen = "127.0.0.1:0"
plugin = "exec"
max_connections = 100000
max_connections_per_ip = 100000
idle_timeout_s = 3600
heartbeat_ms = 0
outbox_capacity = 100000
"#;

type Ws = WebSocketStream<TcpStream>;

async fn login(addr: SocketAddr, token: &str) -> anyhow::Result<Ws> {
    let go = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut ws, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/websocket"), tcp).await?;
        ws.send(Message::text(
            json!({"cmd":"init","token":token}).to_string(),
        ))
        .await?;
        let v = next_json(&mut ws).await?;
        if v["cmd"] != "init" || v["code"] != "1" {
            anyhow::bail!("init refused: {v}");
        }
        Ok(ws)
    };
    tokio::time::timeout(io_timeout(), go)
        .await
        .map_err(|_| anyhow::anyhow!("login timed out"))?
}

/// The next JSON text message (pings and pongs skipped).
async fn next_json(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str())?),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => anyhow::bail!("unexpected {other:?}"),
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed"),
        }
    }
}

pub struct Room {
    a: Ws,
    b: Ws,
}

/// `clients / 2` rooms with a token made through `host`: member a at
/// `members[0]`, member b at `members[1]` (the same host, or two hosts of
/// a cluster).
pub async fn connect_all(
    host: &Host,
    members: [SocketAddr; 2],
    clients: usize,
    stats: &mut Stats,
) -> anyhow::Result<Vec<Room>> {
    let mut rooms = Vec::new();
    for _ in 0..(clients / 2).max(1) {
        let t = crate::blocking(|| host.admin("exec", &json!({"op":"create-token"})))?;
        let token = t["token"].as_str().unwrap_or_default().to_string();
        // Another host learns the token a moment after it is made.
        let mut b = login(members[1], &token).await;
        for _ in 0..100 {
            if b.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            b = login(members[1], &token).await;
        }
        match (login(members[0], &token).await, b) {
            (Ok(a), Ok(b)) => rooms.push(Room { a, b }),
            _ => stats.connect_failures += 1,
        }
    }
    Ok(rooms)
}

/// Waits until both members of every room see each other (`checkDevice`
/// answers code 1 on each side): the rooms of a cluster are complete on
/// every host before the load starts.
pub async fn all_paired(rooms: &mut [Room]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + io_timeout();
    for (i, room) in rooms.iter_mut().enumerate() {
        for (side, ws) in [("a", &mut room.a), ("b", &mut room.b)] {
            let mut asked = 0u32;
            loop {
                let check = json!({"cmd":"checkDevice","extra":{}}).to_string();
                ws.send(Message::text(check)).await?;
                asked += 1;
                // An answer is always waited for a while, even past the
                // deadline: its absence is then the host's, not ours.
                let wait = deadline.max(tokio::time::Instant::now() + Duration::from_secs(2));
                let v = loop {
                    let v = tokio::time::timeout_at(wait, next_json(ws))
                        .await
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "room {i}, member {side}: no answer to checkDevice {asked}"
                            )
                        })??;
                    if v["cmd"] == "checkDevice" {
                        break v;
                    }
                };
                if v["code"] == "1" {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    anyhow::bail!(
                        "room {i}, member {side}: still alone after {asked} checkDevice in {:?} (last answer {v})",
                        io_timeout()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Ok(())
}

pub async fn run(rooms: Vec<Room>, load: &Load) -> (Stats, Duration) {
    let clock = Schedule::new(rooms.len(), load.rate, load.duration);
    let stop = CancellationToken::new();
    let mut echoes = Vec::new();
    let mut senders = Vec::new();
    for (i, Room { a, b }) in rooms.into_iter().enumerate() {
        echoes.push(tokio::spawn(echo(b, stop.clone())));
        senders.push(tokio::spawn(sender(a, clock.pacer(i), clock.end)));
    }
    let mut total = merge_all(senders).await;
    let elapsed = clock.started.elapsed();
    stop.cancel();
    total.merge(merge_all(echoes).await);
    (total, elapsed)
}

async fn sender(mut ws: Ws, mut pacer: Pacer, end: Instant) -> Stats {
    let mut s = Stats::default();
    let mut seq = 0u64;
    'outer: loop {
        pacer.tick().await;
        if Instant::now() >= end {
            break;
        }
        seq += 1;
        let data = seq.to_string();
        let t = Instant::now();
        let frame =
            json!({"cmd":"execute","extra":{"data":data, "shell":"echo bench"}}).to_string();
        if ws.send(Message::text(frame)).await.is_err() {
            s.dropped += 1;
            s.lost += 1;
            break;
        }
        let deadline = tokio::time::Instant::now() + io_timeout();
        loop {
            match tokio::time::timeout_at(deadline, next_json(&mut ws)).await {
                Err(_) => {
                    s.lost += 1;
                    break 'outer;
                }
                Ok(Err(_)) => {
                    s.lost += 1;
                    s.dropped += 1;
                    break 'outer;
                }
                Ok(Ok(v)) if v["cmd"] == "execute_result" && v["extra"]["data"] == data => {
                    s.ok(t.elapsed());
                    break;
                }
                Ok(Ok(v)) if v["cmd"] == "Heartbeat" => {}
                Ok(Ok(_)) => s.errors += 1,
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    s
}

/// B: answers every `execute` with an `execute_result` carrying its data.
async fn echo(mut ws: Ws, stop: CancellationToken) -> Stats {
    let mut s = Stats::default();
    loop {
        let v = tokio::select! {
            _ = stop.cancelled() => break,
            v = next_json(&mut ws) => v,
        };
        match v {
            Ok(v) if v["cmd"] == "execute" => {
                let back = json!({"cmd":"execute_result","extra":{"data":v["extra"]["data"], "output":"bench"}});
                if ws.send(Message::text(back.to_string())).await.is_err() {
                    s.dropped += 1;
                    break;
                }
            }
            Ok(v) if v["cmd"] == "Heartbeat" => {}
            Ok(_) => s.errors += 1,
            Err(_) => {
                s.dropped += 1;
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    s
}
