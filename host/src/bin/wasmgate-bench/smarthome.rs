//! Smart-home downloads: the operator uploads a real SQLite database (made
//! here with rusqlite); each client connects, sends the command word 0x4c,
//! reads until the server closes, checks the 0x43 header and the length:
//! one request = one connection, the latency is connect → close.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use wasmgate_testkit::Host;

use crate::stats::{Schedule, Stats, merge_all};
use crate::{Load, io_timeout};

pub const CONFIG: &str = r#"
[plugins.smarthome]
world = "smarthome"
{file}
{backend}
[[listener]]
name = "smarthome"
protocol = "smarthome"
listen = "127.0.0.1:0"
plugin = "smarthome"
max_connections = 100000
max_connections_per_ip = 100000
idle_timeout_s = 30
"#;

/// A database of `devices` rows, as a file's bytes.
pub fn house_db(dir: &Path, devices: usize) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("bench-house.db");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL, room TEXT NOT NULL, kind TEXT NOT NULL, state INTEGER NOT NULL);",
    )?;
    for i in 0..devices {
        conn.execute(
            "INSERT INTO devices (name, room, kind, state) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                format!("device {i}"),
                format!("room {}", i % 12),
                ["lamp", "plug", "sensor"][i % 3],
                (i % 2) as i64
            ],
        )?;
    }
    drop(conn);
    Ok(std::fs::read(&path)?)
}

pub fn upload(host: &Host, db: &[u8]) -> anyhow::Result<()> {
    let upload =
        serde_json::json!({"op":"upload","name":"bench-house.db","data_base64": crate::base64(db)});
    crate::blocking(|| host.admin("smarthome", &upload))?;
    Ok(())
}

enum Outcome {
    Ok,
    Error,
    Lost,
    Dropped,
}

async fn download(addr: SocketAddr, want_len: usize) -> Outcome {
    let go = async {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        s.write_all(&0x4cu32.to_le_bytes()).await?;
        let mut got = Vec::with_capacity(want_len + 8);
        s.read_to_end(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    };
    match tokio::time::timeout(io_timeout(), go).await {
        Err(_) => Outcome::Lost,
        Ok(Err(_)) => Outcome::Dropped,
        Ok(Ok(got)) => {
            let ok = got.len() == want_len + 8
                && got[..4] == 0x43u32.to_le_bytes()
                && got[4..8] == (want_len as u32).to_le_bytes();
            if ok { Outcome::Ok } else { Outcome::Error }
        }
    }
}

pub async fn run(
    addr: SocketAddr,
    clients: usize,
    db_len: usize,
    load: &Load,
) -> (Stats, Duration) {
    let n = clients.max(1);
    let clock = Schedule::new(n, load.rate, load.duration);
    let end = clock.end;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let mut s = Stats::default();
                let mut pacer = clock.pacer(i);
                loop {
                    pacer.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    let t = Instant::now();
                    match download(addr, db_len).await {
                        Outcome::Ok => s.ok(t.elapsed()),
                        Outcome::Error => s.errors += 1,
                        Outcome::Lost => s.lost += 1,
                        // A connection refused or reset: nothing was answered.
                        Outcome::Dropped => {
                            s.lost += 1;
                            s.dropped += 1;
                        }
                    }
                }
                s
            })
        })
        .collect();
    (merge_all(tasks).await, clock.started.elapsed())
}
