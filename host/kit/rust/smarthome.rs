//! %%name%%: a wasmgate plugin of world `smarthome`.
//!
//! A client sends one command word; the host calls
//! `smarthome-handler.handle` with it, writes the answer (command word,
//! length, payload) and closes the connection. This one serves the home's
//! database, which an operator uploads through `POST /admin/%%name%%` and
//! which is kept in the plugin's blob store.
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// The plugin's rules, free of the bindings.
pub mod logic {
    /// The client's word asking for the database.
    pub const SEND_DATABASE: u32 = 0x4c;
    /// The answer's word: here is the database.
    pub const DATABASE: u32 = 0x43;
    /// The blob holding the database.
    pub const BLOB: &str = "home.db";

    /// What an operator asks of `admin.handle`.
    #[derive(Debug, PartialEq, Eq)]
    pub enum AdminOp {
        /// `{"op":"upload","data_hex":"…"}`: serve these bytes from now on.
        Upload(Vec<u8>),
        /// `{"op":"current"}`: what is served.
        Current,
    }

    /// Parses an admin request: the op, or (HTTP status, why).
    pub fn admin_op(request: &str) -> Result<AdminOp, (u16, String)> {
        let bad = |why: String| Err((400, why));
        let v: serde_json::Value = match serde_json::from_str(request) {
            Ok(v) => v,
            Err(e) => return bad(format!("not JSON: {e}")),
        };
        match v["op"].as_str() {
            Some("upload") => match v["data_hex"].as_str().map(from_hex) {
                Some(Ok(data)) if !data.is_empty() => Ok(AdminOp::Upload(data)),
                Some(Ok(_)) => bad("data_hex is empty".to_string()),
                Some(Err(why)) => bad(why),
                None => bad("upload needs data_hex (the file, in hex)".to_string()),
            },
            Some("current") => Ok(AdminOp::Current),
            _ => bad(r#"op is "upload" or "current""#.to_string()),
        }
    }

    /// The bytes that `hex` spells.
    pub fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
        if !hex.len().is_multiple_of(2) {
            return Err("data_hex has an odd number of digits".to_string());
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(hex.get(i..i + 2).unwrap_or("?"), 16)
                    .map_err(|_| format!("data_hex is not hex at digit {i}"))
            })
            .collect()
    }

    /// The answer to `command` given the stored database: (word, payload)
    /// or the reason the host writes in its error frame.
    pub fn answer(command: u32, database: Option<Vec<u8>>) -> Result<(u32, Vec<u8>), String> {
        if command != SEND_DATABASE {
            return Err(format!("unknown command word {command:#x}"));
        }
        match database {
            Some(db) => Ok((DATABASE, db)),
            None => Err("no database has been uploaded yet".to_string()),
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `smarthome` from ./wit; `generate_all` also binds
    // the WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "smarthome", path: "wit", generate_all });

    use super::logic::{AdminOp, BLOB, admin_op, answer};
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::smarthome_handler::{self, Response};
    use wasmgate::plugin::blobs;
    use wasmgate::plugin::types::Error;

    struct Plugin;

    /// A host error, in words.
    fn describe(e: Error) -> String {
        match e {
            Error::TooLarge(limit) => format!("too large (the limit is {limit} bytes)"),
            Error::Unavailable(why) => format!("unavailable: {why}"),
            Error::Other(why) => why,
        }
    }

    impl smarthome_handler::Guest for Plugin {
        fn handle(command: u32) -> Result<Response, String> {
            let database = blobs::get(BLOB).map_err(describe)?;
            let (command, payload) = answer(command, database)?;
            Ok(Response { command, payload })
        }
    }

    /// `POST /admin/%%name%%`: upload the database, or ask what is served.
    impl admin::Guest for Plugin {
        fn handle(request: String) -> Result<String, AdminError> {
            let failed = |status, message| AdminError { status, message };
            match admin_op(&request).map_err(|(status, why)| failed(status, why))? {
                AdminOp::Upload(data) => {
                    blobs::set(BLOB, &data).map_err(|e| failed(500, describe(e)))?;
                    Ok(format!(r#"{{"ok":true,"bytes":{}}}"#, data.len()))
                }
                AdminOp::Current => {
                    let db = blobs::get(BLOB).map_err(|e| failed(500, describe(e)))?;
                    Ok(format!(r#"{{"bytes":{}}}"#, db.map_or(0, |d| d.len())))
                }
            }
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::logic::{AdminOp, DATABASE, admin_op, answer, from_hex};

    #[test]
    fn the_database_is_served_for_0x4c() {
        assert_eq!(
            answer(0x4c, Some(b"db".to_vec())),
            Ok((DATABASE, b"db".to_vec()))
        );
        assert!(answer(0x4c, None).is_err());
        assert_eq!(
            answer(0x99, Some(vec![1])),
            Err("unknown command word 0x99".to_string())
        );
    }

    #[test]
    fn uploads_are_hex() {
        assert_eq!(
            admin_op(r#"{"op":"upload","data_hex":"53514c"}"#),
            Ok(AdminOp::Upload(b"SQL".to_vec()))
        );
        assert_eq!(admin_op(r#"{"op":"current"}"#), Ok(AdminOp::Current));
        for bad in [
            r#"{"op":"upload","data_hex":"5"}"#,
            r#"{"op":"upload"}"#,
            "nope",
            "{}",
        ] {
            assert_eq!(admin_op(bad).unwrap_err().0, 400, "{bad}");
        }
        assert!(from_hex("zz").is_err());
        assert_eq!(from_hex("").unwrap(), b"");
    }
}
