//! The smart-home side of the tests: a real SQLite database, its upload
//! through the admin API, and the article's client.

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use serde_json::json;

use super::{Host, WAIT};

/// A real SQLite database of devices, as a file's bytes.
pub fn house_db(dir: &std::path::Path, devices: &[(&str, &str)]) -> Vec<u8> {
    let path = dir.join(format!("house-{}.db", devices.len()));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL, room TEXT NOT NULL);",
    )
    .unwrap();
    for (name, room) in devices {
        conn.execute(
            "INSERT INTO devices (name, room) VALUES (?1, ?2)",
            [name, room],
        )
        .unwrap();
    }
    drop(conn);
    std::fs::read(&path).unwrap()
}

pub fn upload(host: &Host, bytes: &[u8]) -> (u16, String) {
    let body = json!({"op":"upload","name":"house.db","data_base64": base64::engine::general_purpose::STANDARD.encode(bytes)});
    host.post("/admin/smarthome", &body.to_string())
}

/// The article's client: send the command word, read to EOF.
pub fn request(host: &Host, word: i32) -> Vec<u8> {
    let mut s = TcpStream::connect(host.addr("smarthome")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&word.to_le_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap(); // returns only when the server closes
    all
}

pub fn header(bytes: &[u8]) -> (u32, u32) {
    (
        u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
        u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
    )
}
