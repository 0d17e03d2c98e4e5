//! A remote-execute client: WebSocket (plain or TLS) with the protocol's
//! JSON commands.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::{Host, WAIT};

/// The server heartbeat, word for word.
pub const HEARTBEAT: &str = r#"{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}"#;

/// Plain TCP or TLS under the WebSocket.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

pub struct Client {
    pub ws: WebSocket<Conn>,
}

pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

impl Client {
    pub fn connect(host: &Host) -> Client {
        Client::connect_at(host.addr("exec"))
    }

    /// The exec listener at `addr`, path `/websocket`.
    pub fn connect_at(addr: SocketAddr) -> Client {
        Client::connect_path(addr, "/websocket").unwrap()
    }

    pub fn connect_path(addr: SocketAddr, path: &str) -> Result<Client, tungstenite::Error> {
        let url = format!("ws://{addr}{path}");
        match tungstenite::client(url.as_str(), Conn::Plain(tcp(addr))) {
            Ok((ws, _)) => Ok(Client { ws }),
            Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
            Err(e) => panic!("handshake: {e}"),
        }
    }

    /// wss, trusting the host's self-signed certificate.
    pub fn connect_tls(addr: SocketAddr, cert_pem: &std::path::Path) -> Client {
        let conn = super::tls_client(cert_pem);
        let tls = rustls::StreamOwned::new(conn, tcp(addr));
        let url = format!("wss://localhost:{}/websocket", addr.port());
        let (ws, _) = tungstenite::client(url.as_str(), Conn::Tls(Box::new(tls)))
            .unwrap_or_else(|e| panic!("wss handshake: {e}"));
        Client { ws }
    }

    pub fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).unwrap();
    }

    /// The next text frame, heartbeats included.
    pub fn recv_any(&mut self) -> String {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return t.to_string(),
                Ok(Message::Close(f)) => panic!("closed by the server: {f:?}"),
                Ok(_) => continue,
                Err(e) => panic!("reading: {e}"),
            }
        }
    }

    /// The next text frame that is not the server heartbeat.
    pub fn recv(&mut self) -> String {
        loop {
            let t = self.recv_any();
            if t != HEARTBEAT {
                return t;
            }
        }
    }

    pub fn recv_json(&mut self) -> Value {
        let t = self.recv();
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"))
    }

    /// Sends `{"cmd":"init"}` with `token`; the answer.
    pub fn init(&mut self, token: &str) -> Value {
        self.send(&json!({"cmd":"init","token":token}).to_string());
        self.recv_json()
    }

    pub fn check_device(&mut self) -> String {
        self.send(r#"{"cmd":"checkDevice"}"#);
        let v = self.recv_json();
        assert_eq!(v["cmd"], "checkDevice", "{v}");
        assert_eq!(v["extra"], json!({}), "{v}");
        v["code"].as_str().unwrap().to_string()
    }

    /// True when the server closes the connection (close frame or EOF)
    /// before sending anything but heartbeats.
    pub fn is_closed(&mut self) -> bool {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) if t.as_str() == HEARTBEAT => continue,
                Ok(Message::Text(t)) => panic!("expected the close, got {t}"),
                Ok(Message::Close(_)) => continue, // then the stream ends
                Ok(_) => continue,
                Err(e) if super::timed_out(&e) => return false,
                Err(_) => return true,
            }
        }
    }
}
