//! Locker boards: N devices, each on its own TCP connection, each sending
//! its report and waiting for the answer (closed loop, optionally paced).
//! An answer is right when it is a whole `ACon_V1.0 … CLOSE` block that
//! echoes the report's SEND; `ERROR:` answers are errors.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::stats::{Schedule, Stats, merge_all};
use crate::{Load, io_timeout};

pub const CONFIG: &str = r#"
[plugins.locker]
world = "locker"
{file}
{backend}
[[listener]]
name = "locker"
protocol = "locker"
listen = "127.0.0.1:0"
plugin = "locker"
max_connections = 100000
max_connections_per_ip = 100000
idle_timeout_s = 3600
"#;

/// The cell code the test component `locker_variant` always answers.
pub const VARIANT_MARK: &str = "(1,424242,1)";

pub fn device(i: usize) -> String {
    format!("bench-{i}")
}

pub fn report(id: &str, send: u64) -> String {
    format!(
        "ACon_V1.0\r\nID={id}\r\nSEND={send}\r\nCONNECTION=1\r\nWIFI_STATE=0\r\nGSM_STATE=0\r\nRESET=0\r\nSTATE=0\r\nCOLS=8\r\nROWS=8\r\nACT_CON=01011011,11111111,10110111,11111111,10011111,11111111,10110111,11111111\r\nBOX_TO=33\r\nBOX_ACC=1,54\r\nCLOSE\r\n"
    )
}

pub enum Outcome {
    /// A right answer; whether it came from the variant component.
    Ok {
        variant: bool,
    },
    Error,
    Lost,
    Dropped,
}

pub struct Device {
    id: String,
    send: u64,
    conn: BufReader<TcpStream>,
    line: String,
    answer: String,
}

impl Device {
    pub async fn connect(addr: SocketAddr, id: String) -> std::io::Result<Device> {
        let s = tokio::time::timeout(io_timeout(), TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        s.set_nodelay(true)?;
        Ok(Device {
            id,
            send: 0,
            conn: BufReader::new(s),
            line: String::new(),
            answer: String::new(),
        })
    }

    /// One report and its answer, waiting at most `timeout`.
    pub async fn exchange(&mut self, timeout: Duration) -> Outcome {
        self.send += 1;
        let msg = report(&self.id, self.send);
        match tokio::time::timeout(timeout, self.exchange_inner(msg)).await {
            Err(_) => Outcome::Lost,
            Ok(Err(_)) => Outcome::Dropped,
            Ok(Ok(false)) => Outcome::Error,
            Ok(Ok(true)) => Outcome::Ok {
                variant: self.answer.contains(VARIANT_MARK),
            },
        }
    }

    async fn exchange_inner(&mut self, msg: String) -> std::io::Result<bool> {
        self.conn.get_mut().write_all(msg.as_bytes()).await?;
        self.answer.clear();
        loop {
            self.line.clear();
            if self.conn.read_line(&mut self.line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = self.line.trim_end();
            if l.starts_with("ERROR:") {
                return Ok(false);
            }
            self.answer.push_str(l);
            self.answer.push('\n');
            if l == "CLOSE" {
                let want = format!("SEND={}\n", self.send);
                return Ok(self.answer.starts_with("ACon_V1.0\n") && self.answer.contains(&want));
            }
        }
    }
}

/// Connects `n` devices and sends each one report (not counted), so every
/// board is known to the plugin before the clock starts.
pub async fn connect_all(addr: SocketAddr, n: usize, stats: &mut Stats) -> Vec<Device> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let mut d = Device::connect(addr, device(i)).await.ok()?;
                match d.exchange(io_timeout()).await {
                    Outcome::Ok { .. } => Some(d),
                    _ => None,
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Some(d)) => out.push(d),
            _ => stats.connect_failures += 1,
        }
    }
    out
}

/// Watches for the first answer of a new component version after a swap.
#[derive(Default)]
pub struct SwapWatch {
    inner: Mutex<Option<Watch>>,
}

struct Watch {
    at: Instant,
    want_variant: bool,
    seen: Option<Duration>,
}

impl SwapWatch {
    pub fn arm(&self, want_variant: bool) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(Watch {
            at: Instant::now(),
            want_variant,
            seen: None,
        });
    }

    pub fn observe(&self, variant: bool) {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = g.as_mut()
            && w.seen.is_none()
            && w.want_variant == variant
        {
            w.seen = Some(now - w.at);
        }
    }

    pub fn seen(&self) -> Option<Duration> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|w| w.seen)
    }
}

/// Runs the devices for `load.duration`; returns the merged counts and the
/// elapsed time.
pub async fn run(
    devices: Vec<Device>,
    load: &Load,
    watch: Option<Arc<SwapWatch>>,
    stop: CancellationToken,
) -> (Stats, Duration) {
    let clock = Schedule::new(devices.len(), load.rate, load.duration);
    let end = clock.end;
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            let watch = watch.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut s = Stats::default();
                let mut pacer = clock.pacer(i);
                loop {
                    pacer.tick().await;
                    if Instant::now() >= end || stop.is_cancelled() {
                        break;
                    }
                    let t = Instant::now();
                    match d.exchange(io_timeout()).await {
                        Outcome::Ok { variant } => {
                            s.ok(t.elapsed());
                            if let Some(w) = &watch {
                                w.observe(variant);
                            }
                        }
                        Outcome::Error => s.errors += 1,
                        Outcome::Lost => {
                            s.lost += 1;
                            break;
                        }
                        Outcome::Dropped => {
                            s.lost += 1;
                            s.dropped += 1;
                            break;
                        }
                    }
                }
                s
            })
        })
        .collect();
    (merge_all(tasks).await, clock.started.elapsed())
}
