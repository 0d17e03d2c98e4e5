//! %%name%%: a wasmgate plugin of world `raw`, for a protocol defined in the
//! host's configuration alone.
//!
//! The listener's `framing` (lines, length-prefixed, fixed-size or WebSocket
//! messages) cuts the byte stream into frames; the host calls
//! `raw-handler.handle` with each frame and writes the frames it returns,
//! framed the same way. This one echoes each frame to its sender, prefixed
//! by the config value `prefix`.
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// What the plugin answers, free of the bindings.
pub mod logic {
    /// The answer to `frame`: the frame, prefixed by `prefix`.
    pub fn echo(frame: &[u8], prefix: Option<&str>) -> Vec<u8> {
        let prefix = prefix.unwrap_or_default().as_bytes();
        let mut out = Vec::with_capacity(prefix.len() + frame.len());
        out.extend_from_slice(prefix);
        out.extend_from_slice(frame);
        out
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `raw` from ./wit; `generate_all` also binds the
    // WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "raw", path: "wit", generate_all });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::raw_handler::{self, Outgoing};
    use wasmgate::plugin::config;
    use wasmgate::plugin::sessions::{SessionId, Target};

    struct Plugin;

    impl raw_handler::Guest for Plugin {
        /// A connection opened: nothing to say first.
        fn opened(_session: SessionId) -> Result<Vec<Outgoing>, String> {
            Ok(Vec::new())
        }

        fn handle(_session: SessionId, frame: Vec<u8>) -> Result<Vec<Outgoing>, String> {
            let prefix = config::get("prefix");
            Ok(vec![Outgoing {
                to: Target::Reply,
                frame: super::logic::echo(&frame, prefix.as_deref()),
            }])
        }

        /// The connection ended: nobody else to tell.
        fn closed(_session: SessionId) -> Vec<Outgoing> {
            Vec::new()
        }
    }

    /// `POST /admin/%%name%%`: nothing to administer.
    impl admin::Guest for Plugin {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok("{}".to_string())
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::logic::echo;

    #[test]
    fn frames_come_back_prefixed() {
        assert_eq!(echo(b"hello", Some("echo: ")), b"echo: hello");
    }

    #[test]
    fn without_a_prefix_frames_come_back_as_they_are() {
        assert_eq!(echo(&[0, 159, 255], None), [0, 159, 255]);
        assert_eq!(echo(b"", None), b"");
    }
}
