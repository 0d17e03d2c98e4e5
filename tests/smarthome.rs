//! The smart-home database protocol end to end: an operator uploads a real
//! SQLite file through the admin API; a client does exactly what the
//! article's Python client does — send `struct.pack('<i', 0x4c)`, read until
//! the server closes, strip the 8-byte header — and opens what it got with
//! SQLite.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::smarthome::{header, house_db, request, upload};
use common::{Host, Variant, WAIT};
use serde_json::json;

/// plugins/smarthome as a component.
const WASM: Variant = Variant {
    label: "wasm",
    world: "smarthome",
    file: Some("smarthome.wasm"),
    table: "",
};

/// The same logic compiled into the host.
const NATIVE: Variant = Variant {
    label: "native",
    world: "smarthome",
    file: None,
    table: "backend = \"native\"",
};

variant_tests!(wasm => WASM, native => NATIVE; [
    the_article_client_downloads_a_real_database,
    unknown_command_gets_an_error_frame_and_close,
    a_client_that_sends_nothing_is_closed,
    a_large_schema_is_listed_whole,
]);

const LISTENER: &str = r#"
[[listener]]
name = "smarthome"
protocol = "smarthome"
listen = "127.0.0.1:0"
plugin = "smarthome"
idle_timeout_s = 5
"#;

fn start(v: &Variant) -> Host {
    let body = format!(
        "[plugins.smarthome]\nworld = \"smarthome\"\n{}\n{LISTENER}",
        v.table
    );
    v.start(&body, "smarthome")
}

fn read_devices(dir: &std::path::Path, db: &[u8]) -> Vec<(String, String)> {
    let path = dir.join("received.db");
    std::fs::write(&path, db).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, room FROM devices ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn the_article_client_downloads_a_real_database(v: &Variant) {
    let mut host = start(v);
    let scratch = tempfile::tempdir().unwrap();

    // Nothing uploaded yet: the error frame, then close.
    let got = request(&host, 0x4c);
    let (cmd, len) = header(&got);
    assert_eq!(cmd, 0x45);
    assert_eq!(len as usize, got.len() - 8);
    assert!(String::from_utf8_lossy(&got[8..]).contains("no database"));

    let db = house_db(
        scratch.path(),
        &[
            ("lamp", "kitchen"),
            ("heater", "hall"),
            ("tv", "living room"),
        ],
    );
    let (status, text) = upload(&host, &db);
    assert_eq!(status, 200, "{text}");

    let got = request(&host, 0x4c);
    let (cmd, len) = header(&got);
    assert_eq!(cmd, 0x43);
    assert_eq!(len as usize, db.len());
    let payload = &got[8..]; // what the article's client writes to house.db
    assert_eq!(payload, &db[..]);
    assert_eq!(
        read_devices(scratch.path(), payload),
        [
            ("lamp".into(), "kitchen".into()),
            ("heater".into(), "hall".into()),
            ("tv".into(), "living room".into())
        ]
    );

    // A file that is not SQLite is refused; the served one does not change.
    let (status, text) = upload(&host, b"this is not a database at all, just text, long enough to pass 100 bytes ..................................");
    assert_eq!(status, 400, "{text}");
    assert_eq!(&request(&host, 0x4c)[8..], &db[..]);

    // The admin API says which one is served.
    let current = host.admin_ok("smarthome", json!({"op":"current"}));
    assert_eq!(current["serving"]["bytes"], db.len());
    assert_eq!(current["serving"]["name"], "house.db");
    assert_eq!(
        current["serving"]["tables"],
        json!([{"type":"table","name":"devices"}])
    );

    // A newer upload replaces it, and it is still the one after a kill -9.
    let db2 = house_db(scratch.path(), &[("fan", "attic")]);
    assert_eq!(upload(&host, &db2).0, 200);
    host.restart();
    let got = request(&host, 0x4c);
    assert_eq!(&got[8..], &db2[..]);
    assert_eq!(
        read_devices(scratch.path(), &got[8..]),
        [("fan".into(), "attic".into())]
    );
}

fn unknown_command_gets_an_error_frame_and_close(v: &Variant) {
    let host = start(v);
    let got = request(&host, 0x99);
    let (cmd, len) = header(&got);
    assert_eq!(cmd, 0x45);
    assert_eq!(len as usize, got.len() - 8);
    assert!(String::from_utf8_lossy(&got[8..]).contains("unknown command word 0x99"));
}

fn a_client_that_sends_nothing_is_closed(v: &Variant) {
    let host = start(v);
    let mut s = TcpStream::connect(host.addr("smarthome")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"L\x00").unwrap(); // half a command word, then silence
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap(); // the idle timeout (5 s) closes it
    assert!(all.is_empty());
}

/// The console lists a database's tables: read by the component from the
/// file itself, across interior b-tree pages (small pages, 150 tables) and
/// a schema entry whose SQL overflows its page.
fn a_large_schema_is_listed_whole(v: &Variant) {
    let host = start(v);
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("big.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut sql = String::from("PRAGMA page_size = 512;");
    for i in 0..150 {
        sql += &format!("CREATE TABLE t{i:03} (id INTEGER PRIMARY KEY, v TEXT);");
    }
    let wide: Vec<String> = (0..200)
        .map(|i| format!("column_number_{i} TEXT"))
        .collect();
    sql += &format!("CREATE TABLE wide ({});", wide.join(", "));
    sql += "CREATE INDEX t000_v ON t000 (v); CREATE VIEW every AS SELECT * FROM t001;";
    conn.execute_batch(&sql).unwrap();
    drop(conn);
    let db = std::fs::read(&path).unwrap();
    assert_eq!(u16::from_be_bytes([db[16], db[17]]), 512);
    assert_eq!(upload(&host, &db).0, 200);
    let current = host.admin_ok("smarthome", json!({"op":"current"}));
    let tables = current["serving"]["tables"].as_array().unwrap();
    let mut names: Vec<(&str, &str)> = tables
        .iter()
        .map(|t| (t["type"].as_str().unwrap(), t["name"].as_str().unwrap()))
        .collect();
    names.sort();
    assert_eq!(names.len(), 153, "{current}");
    assert!(names.contains(&("table", "wide")));
    assert!(names.contains(&("index", "t000_v")));
    assert!(names.contains(&("view", "every")));
    assert_eq!(names.iter().filter(|(k, _)| *k == "table").count(), 151);
}
