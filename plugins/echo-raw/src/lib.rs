//! Tiny component of world `raw`: echoes each frame back, prefixed by the
//! plugin config value `prefix` (default empty). `admin.handle` answers
//! `{"ok":true}`.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "raw",
        path: "../../wit",
        generate_all,
    });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::raw_handler::{self, Outgoing};
    use wasmgate::plugin::config;
    use wasmgate::plugin::sessions::Target;

    struct EchoRaw;

    impl raw_handler::Guest for EchoRaw {
        fn opened(_session: u64) -> Result<Vec<Outgoing>, String> {
            Ok(Vec::new())
        }

        fn handle(_session: u64, frame: Vec<u8>) -> Result<Vec<Outgoing>, String> {
            let prefix = config::get("prefix").unwrap_or_default();
            let mut out = Vec::with_capacity(prefix.len() + frame.len());
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(&frame);
            Ok(vec![Outgoing {
                to: Target::Reply,
                frame: out,
            }])
        }

        fn closed(_session: u64) -> Vec<Outgoing> {
            Vec::new()
        }
    }

    impl admin::Guest for EchoRaw {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok(r#"{"ok":true}"#.to_string())
        }
    }

    export!(EchoRaw);
}
