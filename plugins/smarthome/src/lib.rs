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
/// database; `{"op":"current"}` describes the one being served.
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
            });
            h.blob_set(DB_BLOB, &bytes).map_err(internal)?;
            h.kv_set(DB_META, &meta.to_string(), None)
                .map_err(internal)?;
            Ok(json!({ "ok": true, "serving": meta }).to_string())
        }
        "current" => match h.kv_get(DB_META).map_err(internal)? {
            Some(meta) => Ok(
                json!({ "serving": serde_json::from_str::<Value>(&meta).unwrap_or(Value::Null) })
                    .to_string(),
            ),
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
