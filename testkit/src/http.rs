//! A minimal blocking HTTP/1.1 client for the host's admin API (and the
//! tests' WebDriver, which needs a real Host header): one
//! request per connection ([`request`]), or one kept-alive connection
//! ([`Conn`]) opened ahead of a moment when the host may have no file
//! descriptor left to accept a new one. Every exchange has a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// One request (`Connection: close`) with a JSON body and `headers`
/// (name, value); the status and the body, within `timeout` in all.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl AsRef<[u8]>,
    timeout: Duration,
) -> Result<(u16, String)> {
    let body = body.as_ref();
    let deadline = Instant::now() + timeout;
    let what = || format!("{method} {path} to {addr}");
    let stream = TcpStream::connect_timeout(&addr, timeout).with_context(what)?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    send(&stream, &[head.as_bytes(), body], deadline).with_context(what)?;
    read_response(&mut BufReader::new(stream), deadline).with_context(what)
}

/// One kept-alive connection to the admin API.
pub struct Conn {
    conn: BufReader<TcpStream>,
    timeout: Duration,
}

impl Conn {
    /// Connects; each later exchange gets `timeout`.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("connecting to {addr}"))?;
        Ok(Conn {
            conn: BufReader::new(stream),
            timeout,
        })
    }

    /// GET `path` on this connection; the status and the body.
    pub fn get(&mut self, path: &str) -> Result<(u16, String)> {
        let deadline = Instant::now() + self.timeout;
        let head = format!("GET {path} HTTP/1.1\r\nHost: wasmgate\r\n\r\n");
        send(self.conn.get_ref(), &[head.as_bytes()], deadline)
            .and_then(|()| read_response(&mut self.conn, deadline))
            .with_context(|| format!("GET {path}"))
    }
}

fn send(mut stream: &TcpStream, parts: &[&[u8]], deadline: Instant) -> Result<()> {
    for part in parts {
        stream.set_write_timeout(Some(left(deadline)?))?;
        stream.write_all(part)?;
    }
    Ok(())
}

/// Time left before `deadline`, an error once it has passed.
fn left(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("no answer in time");
    }
    Ok(left)
}

/// Reads one response: its status and its body, delimited by
/// Content-Length, or else by the end of the connection.
fn read_response(conn: &mut BufReader<TcpStream>, deadline: Instant) -> Result<(u16, String)> {
    let mut line = String::new();
    let mut status = None;
    let mut length = None;
    loop {
        line.clear();
        conn.get_ref().set_read_timeout(Some(left(deadline)?))?;
        if conn.read_line(&mut line)? == 0 {
            bail!("connection closed before the end of the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if status.is_none() {
            status = Some(
                l.strip_prefix("HTTP/1.1 ")
                    .or_else(|| l.strip_prefix("HTTP/1.0 "))
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|code| code.parse::<u16>().ok())
                    .ok_or_else(|| anyhow!("bad status line {l:?}"))?,
            );
        } else if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.trim().parse::<usize>()?);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                bail!("unsupported Transfer-Encoding {}", v.trim());
            }
        }
    }
    let status = status.ok_or_else(|| anyhow!("empty response"))?;
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    while length.is_none_or(|n| body.len() < n) {
        conn.get_ref().set_read_timeout(Some(left(deadline)?))?;
        let want = length.map_or(chunk.len(), |n| (n - body.len()).min(chunk.len()));
        let n = conn.read(&mut chunk[..want])?;
        if n == 0 {
            if let Some(n) = length {
                bail!("connection closed after {} of {n} body bytes", body.len());
            }
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers each request read from one connection with
    /// the next of `answers`, then closes.
    fn serve(answers: Vec<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s);
            for answer in answers {
                let mut line = String::new();
                let mut length = 0;
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; length];
                r.read_exact(&mut body).unwrap();
                r.get_mut().write_all(answer.as_bytes()).unwrap();
            }
        });
        addr
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn one_request_reads_status_and_body() {
        let addr = serve(vec![
            "HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nnope!",
        ]);
        let got = request(addr, "POST", "/x", &[("X-A", "b")], "{}", T).unwrap();
        assert_eq!(got, (404, "nope!".to_string()));
    }

    #[test]
    fn without_content_length_the_body_ends_with_the_connection() {
        let addr = serve(vec!["HTTP/1.1 200 OK\r\n\r\nall of it"]);
        let got = request(addr, "GET", "/", &[], "", T).unwrap();
        assert_eq!(got, (200, "all of it".to_string()));
    }

    #[test]
    fn kept_alive_connection_reads_answers_in_turn() {
        let addr = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
            "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\ntwo",
        ]);
        let mut c = Conn::open(addr, T).unwrap();
        assert_eq!(c.get("/a").unwrap(), (200, "one".to_string()));
        assert_eq!(c.get("/b").unwrap(), (500, "two".to_string()));
        assert!(c.get("/c").is_err(), "the server has closed");
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let err = request(addr, "GET", "/", &[], "", Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{err:#}");
        drop(listener);
    }
}
