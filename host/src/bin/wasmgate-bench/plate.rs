//! Plate recognition: each client logs in (a static token from the
//! plugin's config) and sends the photo again and again, one at a time.
//! An answer with a plate (status 0) or "no plate found" (status 1,
//! errCode 0) is a right answer; any other status or code is an error.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Schedule, Stats};
use crate::{Load, io_timeout};

pub const TOKEN: &str = "bench-static-token";

pub fn config(clients: usize) -> String {
    format!(
        r#"
[plugins.plate]
world = "plate"
{{file}}
{{backend}}
deadline_ms = 60000
memory_mb = 512
max_concurrency = {clients}
queue_timeout_ms = 60000
config = {{ token_key = "bench-key", static_tokens = "{TOKEN}" }}
[[listener]]
name = "plate"
protocol = "plate"
listen = "127.0.0.1:0"
plugin = "plate"
max_connections = 100000
max_connections_per_ip = 100000
max_message_bytes = 67108864
login_timeout_ms = 10000
heartbeat_ms = 600000
"#
    )
}

type Ws = WebSocketStream<TcpStream>;

fn login_frame() -> Vec<u8> {
    wasmgate::codec::plate::login_frame(TOKEN)
}

pub fn recognition_frame(camera: &str, identify: &str, image: &[u8]) -> Vec<u8> {
    [
        vec![3, 0],
        wasmgate::codec::plate::recognition_body(camera, identify, image),
    ]
    .concat()
}

async fn next_binary(ws: &mut Ws) -> anyhow::Result<Vec<u8>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => anyhow::bail!("unexpected {other:?}"),
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed"),
        }
    }
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<Ws> {
    let go = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut ws, _) =
            tokio_tungstenite::client_async(format!("ws://{addr}/park1"), tcp).await?;
        ws.send(Message::binary(login_frame())).await?;
        let a = next_binary(&mut ws).await?;
        if a != [2, 0, 0] {
            anyhow::bail!("login refused: {a:?}");
        }
        Ok(ws)
    };
    tokio::time::timeout(io_timeout(), go)
        .await
        .map_err(|_| anyhow::anyhow!("login timed out"))?
}

/// What one recognition answer says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Plate { color: String, plate: String },
    NoPlate,
    Failed(String),
}

pub fn parse_answer(camera: &str, a: &[u8]) -> Answer {
    let head = 3 + camera.len() + 19;
    if a.len() < head + 1 || a[0] != 4 || a[2] as usize != camera.len() {
        return Answer::Failed(format!("malformed answer of {} bytes", a.len()));
    }
    let text = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .to_string()
    };
    match (a[head], a.get(head + 1)) {
        (0, _) if a.len() >= head + 1 + 24 => Answer::Plate {
            color: text(&a[head + 1..head + 9]),
            plate: text(&a[head + 9..head + 25]),
        },
        (1, Some(0)) => Answer::NoPlate,
        (status, code) => Answer::Failed(format!("status {status} errCode {code:?}")),
    }
}

pub struct Outcome {
    pub stats: Stats,
    pub plates: u64,
    pub no_plate: u64,
    pub last: Option<String>,
    pub first_error: Option<String>,
}

pub async fn run(conns: Vec<Ws>, image: &[u8], load: &Load) -> (Outcome, Duration) {
    let clock = Schedule::new(conns.len(), load.rate, load.duration);
    let end = clock.end;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let image = image.to_vec();
            tokio::spawn(async move {
                let camera = format!("cam{i}");
                let mut o = Outcome {
                    stats: Stats::default(),
                    plates: 0,
                    no_plate: 0,
                    last: None,
                    first_error: None,
                };
                let mut pacer = clock.pacer(i);
                let mut seq = 0u64;
                loop {
                    pacer.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    seq += 1;
                    let identify = format!("{seq:019}");
                    let frame = recognition_frame(&camera, &identify, &image);
                    let t = Instant::now();
                    let r = tokio::time::timeout(Duration::from_secs(60), async {
                        ws.send(Message::binary(frame)).await?;
                        next_binary(&mut ws).await
                    })
                    .await;
                    match r {
                        Err(_) => {
                            o.stats.lost += 1;
                            break;
                        }
                        Ok(Err(_)) => {
                            o.stats.lost += 1;
                            o.stats.dropped += 1;
                            break;
                        }
                        Ok(Ok(a)) => match parse_answer(&camera, &a) {
                            Answer::Plate { color, plate } => {
                                o.stats.ok(t.elapsed());
                                o.plates += 1;
                                o.last = Some(format!("{color} {plate}"));
                            }
                            Answer::NoPlate => {
                                o.stats.ok(t.elapsed());
                                o.no_plate += 1;
                            }
                            Answer::Failed(why) => {
                                o.stats.errors += 1;
                                o.first_error.get_or_insert(why);
                            }
                        },
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                o
            })
        })
        .collect();
    let mut total = Outcome {
        stats: Stats::default(),
        plates: 0,
        no_plate: 0,
        last: None,
        first_error: None,
    };
    for t in tasks {
        match t.await {
            Ok(o) => {
                total.stats.merge(o.stats);
                total.plates += o.plates;
                total.no_plate += o.no_plate;
                total.last = total.last.or(o.last);
                total.first_error = total.first_error.or(o.first_error);
            }
            Err(_) => total.stats.errors += 1,
        }
    }
    (total, clock.started.elapsed())
}

/// Width and height of a JPEG (from its SOF marker) or PNG (IHDR).
pub fn dimensions(img: &[u8]) -> Option<(u32, u32)> {
    if img.starts_with(b"\x89PNG\r\n\x1a\n") && img.len() >= 24 {
        let w = u32::from_be_bytes(img[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(img[20..24].try_into().ok()?);
        return Some((w, h));
    }
    if !img.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < img.len() {
        if img[i] != 0xFF {
            i += 1;
            continue;
        }
        let m = img[i + 1];
        if matches!(m, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([img[i + 5], img[i + 6]]) as u32;
            let w = u16::from_be_bytes([img[i + 7], img[i + 8]]) as u32;
            return Some((w, h));
        }
        if m == 0xD8 || m == 0x01 || (0xD0..=0xD7).contains(&m) || m == 0xFF {
            i += if m == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = u16::from_be_bytes([img[i + 2], img[i + 3]]) as usize;
        i += 2 + len;
    }
    None
}
