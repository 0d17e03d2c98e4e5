//! wasmgate smart-home component (world `smarthome`): serves the home's
//! device database, which operators upload through the admin API.
//!
//! The database is a blob named [`DB_BLOB`]; its description (name, size,
//! sha256, upload time) is the kv entry [`DB_META`]. Only a file that looks
//! like an SQLite database is accepted, so clients never receive junk.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const DOWNLOAD: u32 = 0x4c;
pub const DATABASE: u32 = 0x43;
pub const DB_BLOB: &str = "database";
pub const DB_META: &str = "database/meta";

pub use wasmgate_sdk::Host;

/// The answer to a client's command word.
pub fn handle<H: Host>(h: &H, command: u32) -> Result<(u32, Vec<u8>), String> {
    if command != DOWNLOAD {
        return Err(format!(
            "unknown command word 0x{command:x} (only 0x4c is known)"
        ));
    }
    match h
        .blob_get(DB_BLOB)
        .map_err(|e| format!("storage error: {e}"))?
    {
        Some(db) => Ok((DATABASE, db)),
        None => Err("no database has been uploaded yet".to_string()),
    }
}

/// Checks that `bytes` is an SQLite 3 database file: the header string, a
/// valid page size, and a length that is a whole number of pages.
pub fn check_sqlite(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 100 || &bytes[..16] != b"SQLite format 3\0" {
        return Err("not an SQLite database (no SQLite header)".into());
    }
    let page = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65_536usize,
        p if p >= 512 && p.is_power_of_two() => p as usize,
        p => return Err(format!("not an SQLite database (page size {p})")),
    };
    if !bytes.len().is_multiple_of(page) {
        return Err(format!(
            "truncated SQLite database ({} bytes, pages of {page})",
            bytes.len()
        ));
    }
    Ok(())
}

/// The schema's entries (tables, indexes, views, triggers) of an SQLite
/// file that [`check_sqlite`] accepted, as (type, name), read from the
/// schema b-tree that starts on page 1 (no SQLite needed: the file is only
/// read, never opened). Bounded: at most 10 000 pages are visited, so a
/// crafted file with a loop in its b-tree cannot hold the call.
pub fn schema(db: &[u8]) -> Result<Vec<(String, String)>, String> {
    check_sqlite(db)?;
    let page_size = match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65_536usize,
        p => p as usize,
    };
    let usable = page_size - db[20] as usize;
    if usable < 480 {
        return Err(format!("unusable page size {usable}"));
    }
    let mut out = Vec::new();
    let mut todo = vec![1usize];
    let mut visited = 0;
    while let Some(n) = todo.pop() {
        visited += 1;
        if visited > 10_000 {
            return Err("schema b-tree too large or looping".into());
        }
        let start = (n - 1) * page_size;
        let page = db
            .get(start..start + page_size)
            .ok_or_else(|| format!("schema page {n} is past the end of the file"))?;
        let hdr = if n == 1 { 100 } else { 0 };
        let kind = page[hdr];
        let cells = u16::from_be_bytes([page[hdr + 3], page[hdr + 4]]) as usize;
        let ptrs = hdr + if kind == 5 { 12 } else { 8 };
        let cell_at = |i: usize| -> Result<usize, String> {
            let p = page
                .get(ptrs + 2 * i..ptrs + 2 * i + 2)
                .ok_or("cell pointer out of the page")?;
            Ok(u16::from_be_bytes([p[0], p[1]]) as usize)
        };
        match kind {
            5 => {
                let right = u32::from_be_bytes(page[hdr + 8..hdr + 12].try_into().unwrap());
                todo.push(right as usize);
                for i in 0..cells {
                    let at = cell_at(i)?;
                    let child = page.get(at..at + 4).ok_or("cell out of the page")?;
                    todo.push(u32::from_be_bytes(child.try_into().unwrap()) as usize);
                }
            }
            13 => {
                for i in 0..cells {
                    let at = cell_at(i)?;
                    let rest = page.get(at..).ok_or("cell out of the page")?;
                    let (len, a) = varint(rest)?;
                    let (_rowid, b) = varint(&rest[a..])?;
                    let payload = &rest[a + b..];
                    // what is on this page (the rest overflows; type and
                    // name come first)
                    let local = local_payload(len as usize, usable);
                    let record = &payload[..local.min(payload.len())];
                    if let Some(entry) = type_and_name(record) {
                        out.push(entry);
                    }
                }
            }
            k => return Err(format!("schema page {n} is not a table b-tree page ({k})")),
        }
        todo.retain(|&p| p >= 1);
    }
    Ok(out)
}

/// SQLite's varint: the value and its length in bytes.
fn varint(b: &[u8]) -> Result<(u64, usize), String> {
    let mut v = 0u64;
    for i in 0..9 {
        let byte = *b.get(i).ok_or("truncated varint")?;
        if i == 8 {
            return Ok(((v << 8) | byte as u64, 9));
        }
        v = (v << 7) | (byte & 0x7f) as u64;
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    unreachable!()
}

/// The bytes of a table leaf cell's payload of `len` stored on its page.
fn local_payload(len: usize, usable: usize) -> usize {
    let max = usable - 35;
    if len <= max {
        return len;
    }
    let min = (usable - 12) * 32 / 255 - 23;
    let k = min + (len - min) % (usable - 4);
    if k <= max { k } else { min }
}

/// The first two columns of a schema record (type, name), both text.
fn type_and_name(record: &[u8]) -> Option<(String, String)> {
    let (header_len, mut at) = varint(record).ok()?;
    let mut types = Vec::new();
    while at < header_len as usize && types.len() < 2 {
        let (t, n) = varint(record.get(at..)?).ok()?;
        types.push(t);
        at += n;
    }
    let mut body = header_len as usize;
    let mut text = Vec::new();
    for t in types {
        if t < 13 || t % 2 == 0 {
            return None;
        }
        let n = ((t - 13) / 2) as usize;
        text.push(String::from_utf8_lossy(record.get(body..body + n)?).into_owned());
        body += n;
    }
    let name = text.pop()?;
    Some((text.pop()?, name))
}

/// The schema as the admin API shows it: `[{"type","name"}]`, SQLite's own
/// (`sqlite_*`) left out; or why it could not be read.
fn tables_json(db: &[u8]) -> Value {
    match schema(db) {
        Ok(entries) => Value::Array(
            entries
                .into_iter()
                .filter(|(_, name)| !name.starts_with("sqlite_"))
                .map(|(kind, name)| json!({ "type": kind, "name": name }))
                .collect(),
        ),
        Err(e) => json!({ "error": e }),
    }
}

pub use wasmgate_sdk::AdminError;

fn bad(message: impl Into<String>) -> AdminError {
    AdminError {
        status: 400,
        message: message.into(),
    }
}

fn internal(e: wasmgate_sdk::Error) -> AdminError {
    AdminError {
        status: 500,
        message: format!("storage error: {e}"),
    }
}

/// `{"op":"upload","name":"house.db","data_base64":"..."}` stores a new
/// database; `{"op":"current"}` describes the one being served (name,
/// bytes, sha256, upload time, and its tables: read from the file at
/// upload, or now for a file uploaded before that was done).
pub fn admin<H: Host>(h: &H, request: &str) -> Result<String, AdminError> {
    let req: Value =
        serde_json::from_str(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let op = req
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing \"op\""))?;
    match op {
        "upload" => {
            let name = req
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("house.db");
            if name.is_empty() || name.len() > 200 {
                return Err(bad("\"name\" must be 1-200 characters"));
            }
            let b64 = req
                .get("data_base64")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("missing \"data_base64\""))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| bad(format!("\"data_base64\" is not base64: {e}")))?;
            check_sqlite(&bytes).map_err(bad)?;
            let meta = json!({
                "name": name,
                "bytes": bytes.len(),
                "sha256": hex(&Sha256::digest(&bytes)),
                "uploaded_at_ms": h.now_ms(),
                "tables": tables_json(&bytes),
            });
            h.blob_set(DB_BLOB, &bytes).map_err(internal)?;
            h.kv_set(DB_META, &meta.to_string(), None)
                .map_err(internal)?;
            Ok(json!({ "ok": true, "serving": meta }).to_string())
        }
        "current" => match h.kv_get(DB_META).map_err(internal)? {
            Some(meta) => {
                let mut meta = serde_json::from_str::<Value>(&meta).unwrap_or(Value::Null);
                if meta.is_object()
                    && meta.get("tables").is_none()
                    && let Some(db) = h.blob_get(DB_BLOB).map_err(internal)?
                {
                    meta["tables"] = tables_json(&db);
                }
                Ok(json!({ "serving": meta }).to_string())
            }
            None => Err(AdminError {
                status: 404,
                message: "no database has been uploaded yet".into(),
            }),
        },
        other => Err(bad(format!(
            "unknown op {other:?} (known: upload, current)"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(target_arch = "wasm32")]
mod component {
    wasmgate_sdk::generate!("smarthome");

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::smarthome_handler::{self, Response};
    use wasmgate_sdk::WitHost;

    struct Component;

    impl smarthome_handler::Guest for Component {
        fn handle(command: u32) -> Result<Response, String> {
            crate::handle(&WitHost, command).map(|(command, payload)| Response { command, payload })
        }
    }

    impl admin::Guest for Component {
        fn handle(request: String) -> Result<String, AdminError> {
            crate::admin(&WitHost, &request).map_err(|e| AdminError {
                status: e.status,
                message: e.message,
            })
        }
    }

    export!(Component);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmgate_sdk::MemHost;

    fn fake_db(pages: usize) -> Vec<u8> {
        let mut db = vec![0u8; 4096 * pages];
        db[..16].copy_from_slice(b"SQLite format 3\0");
        db[16..18].copy_from_slice(&4096u16.to_be_bytes());
        db
    }

    fn upload(h: &MemHost, bytes: &[u8]) -> Result<String, AdminError> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        admin(
            h,
            &json!({"op":"upload","name":"house.db","data_base64":b64}).to_string(),
        )
    }

    #[test]
    fn serves_the_last_accepted_database() {
        let h = MemHost::at(7);
        assert!(handle(&h, DOWNLOAD).unwrap_err().contains("no database"));
        upload(&h, &fake_db(2)).unwrap();
        assert_eq!(handle(&h, DOWNLOAD).unwrap(), (DATABASE, fake_db(2)));
        // Junk is refused and the previous database keeps being served.
        assert_eq!(
            upload(&h, b"hello, not a database").err().unwrap().status,
            400
        );
        assert_eq!(upload(&h, &fake_db(2)[..5000]).err().unwrap().status, 400);
        assert_eq!(handle(&h, DOWNLOAD).unwrap().1.len(), 8192);
        let current: Value =
            serde_json::from_str(&admin(&h, r#"{"op":"current"}"#).unwrap()).unwrap();
        assert_eq!(current["serving"]["bytes"], 8192);
        assert_eq!(current["serving"]["name"], "house.db");
    }

    #[test]
    fn unknown_commands_and_bad_requests() {
        let h = MemHost::at(7);
        assert!(handle(&h, 0x99).unwrap_err().contains("0x99"));
        assert_eq!(admin(&h, r#"{"op":"current"}"#).err().unwrap().status, 404);
        assert_eq!(admin(&h, r#"{"op":"nope"}"#).err().unwrap().status, 400);
        assert_eq!(admin(&h, "[").err().unwrap().status, 400);
        assert_eq!(
            admin(&h, r#"{"op":"upload","data_base64":"!!"}"#)
                .err()
                .unwrap()
                .status,
            400
        );
    }

    #[test]
    fn a_schema_that_is_not_one_is_an_error_not_a_hang() {
        // zeros: page 1 is no b-tree page; the upload is still served
        assert!(
            schema(&fake_db(1))
                .unwrap_err()
                .contains("not a table b-tree")
        );
        let h = MemHost::at(7);
        let v: Value = serde_json::from_str(&upload(&h, &fake_db(1)).unwrap()).unwrap();
        assert!(v["serving"]["tables"]["error"].is_string(), "{v}");
        // an interior page whose children are itself: bounded
        let mut db = fake_db(1);
        db[100] = 5;
        db[101 + 2..101 + 4].copy_from_slice(&1u16.to_be_bytes()); // 1 cell
        db[108..112].copy_from_slice(&1u32.to_be_bytes()); // right child: page 1
        db[112..114].copy_from_slice(&200u16.to_be_bytes()); // cell at 200
        db[200..204].copy_from_slice(&1u32.to_be_bytes()); // left child: page 1
        assert!(schema(&db).unwrap_err().contains("looping"));
        // a child past the end of the file
        db[200..204].copy_from_slice(&9u32.to_be_bytes());
        assert!(schema(&db).unwrap_err().contains("past the end"));
    }

    #[test]
    fn a_database_uploaded_before_tables_were_kept_gets_them_read_now() {
        let h = MemHost::at(7);
        upload(&h, &fake_db(1)).unwrap();
        h.kv_set(DB_META, r#"{"name":"old.db","bytes":4096}"#, None)
            .unwrap();
        let v: Value = serde_json::from_str(&admin(&h, r#"{"op":"current"}"#).unwrap()).unwrap();
        assert_eq!(v["serving"]["name"], "old.db");
        assert!(v["serving"]["tables"]["error"].is_string(), "{v}");
    }

    #[test]
    fn page_size_checks() {
        let mut db = fake_db(1);
        db[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(check_sqlite(&db).is_err());
        db[16..18].copy_from_slice(&1u16.to_be_bytes()); // 65536
        assert!(
            check_sqlite(&db).is_err(),
            "4096 bytes is not a whole 64 KiB page"
        );
    }
}
