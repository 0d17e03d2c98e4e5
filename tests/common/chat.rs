//! A chat client (plain TCP or TLS): writes JSON, reads one JSON object
//! per line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::WAIT;

pub trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// What [`Client::next_within`] found.
pub enum Next {
    Msg(Value),
    Nothing,
    Closed,
}

/// A chat client: writes JSON, reads one JSON object per line.
pub struct Client {
    io: Box<dyn Io>,
    /// The same socket, to set read timeouts.
    pub sock: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn tcp(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_nodelay(true).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            io: Box::new(sock.try_clone().unwrap()),
            sock,
            buf: Vec::new(),
        }
    }

    /// TLS, trusting the host's self-signed certificate.
    pub fn tls(addr: SocketAddr, cert_pem: &Path) -> Client {
        let conn = super::tls_client(cert_pem);
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_nodelay(true).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let tls = rustls::StreamOwned::new(conn, sock.try_clone().unwrap());
        Client {
            io: Box::new(tls),
            sock,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).unwrap();
        self.io.flush().unwrap();
    }

    pub fn send(&mut self, v: Value) {
        self.send_raw(format!("{v}\n").as_bytes());
    }

    /// The next object, heartbeats included; `None` if nothing comes within
    /// `wait`. Panics when the host closes the connection.
    pub fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        match self.next_within(wait) {
            Next::Msg(v) => Some(v),
            Next::Nothing => None,
            Next::Closed => panic!(
                "connection closed; had {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// The next object (heartbeats included), nothing within `wait`, or
    /// the host closed the connection.
    pub fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Next::Msg(serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&line))
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Nothing;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 8192];
            match self.io.read(&mut chunk) {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if super::read_timed_out(&e) => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next object that is not a heartbeat.
    pub fn recv(&mut self) -> Value {
        loop {
            let v = self.recv_within(WAIT).expect("no message within the wait");
            if v != json!({"Command":"14"}) {
                return v;
            }
        }
    }

    /// Asserts that nothing but heartbeats arrives within `wait`.
    pub fn expect_nothing(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Some(v) = self.recv_within(deadline.saturating_duration_since(Instant::now())) {
            assert_eq!(v, json!({"Command":"14"}), "unexpected message");
        }
    }

    pub fn login(&mut self, name: &str) -> Value {
        self.send(json!({"Command":"01","Name":name}));
        self.recv()
    }

    pub fn login_ok(&mut self, name: &str) -> Value {
        let got = self.login(name);
        assert_eq!(got["Command"], "11", "{got}");
        assert_eq!(got["Flag"], 1, "{got}");
        got
    }
}
