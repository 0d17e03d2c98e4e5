//! A parking camera's side of the plate protocol: a WebSocket client that
//! sends binary frames and reads the answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use tungstenite::{Message, WebSocket};

use super::WAIT;

pub type Ws = WebSocket<TcpStream>;

/// A camera connected to the plate listener at `addr` (path `/park1`, as
/// the original's cameras use).
pub fn connect(addr: SocketAddr) -> Ws {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tungstenite::client(format!("ws://{addr}/park1"), tcp)
        .unwrap()
        .0
}

/// The next binary message (pings are answered by tungstenite on read).
pub fn read<S: Read + Write>(ws: &mut WebSocket<S>) -> Vec<u8> {
    loop {
        match ws.read().unwrap() {
            Message::Binary(b) => return b.to_vec(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Sends `frame`, returns the answer.
pub fn ask<S: Read + Write>(ws: &mut WebSocket<S>, frame: Vec<u8>) -> Vec<u8> {
    ws.send(Message::binary(frame)).unwrap();
    read(ws)
}
