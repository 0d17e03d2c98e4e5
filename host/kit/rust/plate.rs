//! %%name%%: a wasmgate plugin of world `plate` (parking cameras).
//!
//! The host owns the WebSocket, the binary frames, bz2, the MD5 check, the
//! login deadline and saving the photos; it asks the component whether a
//! camera may log in (`login`) and what plate a photo shows (`recognize`).
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// The plugin's decisions, free of the bindings.
pub mod logic {
    /// Whether `token` is one of `tokens`, the config value (comma-separated).
    /// Padding the camera sent (NULs, spaces) is not part of a token.
    pub fn login_ok(token: &str, tokens: Option<&str>) -> bool {
        let token = token.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        !token.is_empty() && tokens.is_some_and(|t| t.split(',').any(|t| t.trim() == token))
    }

    /// The kind of photo `image` is, by its first bytes.
    pub fn image_kind(image: &[u8]) -> Option<&'static str> {
        if image.starts_with(&[0xff, 0xd8, 0xff]) {
            Some("jpeg")
        } else if image.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some("png")
        } else {
            None
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `plate` from ./wit; `generate_all` also binds the
    // WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "plate", path: "wit", generate_all });

    use super::logic::{image_kind, login_ok};
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::plate_handler::{self, Failure, LoginRequest, Plate};
    use wasmgate::plugin::config;
    use wasmgate::plugin::logging::{self, Level};

    struct Plugin;

    impl plate_handler::Guest for Plugin {
        fn login(request: LoginRequest) -> bool {
            let ok = login_ok(&request.token, config::get("tokens").as_deref());
            if !ok {
                // Never log the token itself.
                let who = format!("refused a camera of {}/{}", request.city, request.park);
                logging::log(Level::Info, "login", &who);
            }
            ok
        }

        fn recognize(camera: String, identify: String, image: Vec<u8>) -> Result<Plate, Failure> {
            let Some(kind) = image_kind(&image) else {
                return Err(Failure::ImageDisplayError);
            };
            // Your recogniser goes here: find the plate in `image` and
            // answer `Ok(Plate { colour: PlateColour::Blue, plate: "京A88731".into() })`.
            let seen = format!("{camera}/{identify}: {kind}, {} bytes", image.len());
            logging::log(Level::Debug, "recognize", &seen);
            Err(Failure::NotRecognised)
        }
    }

    /// `POST /admin/%%name%%`: nothing to administer yet.
    impl admin::Guest for Plugin {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok("{}".to_string())
        }
    }

    export!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::logic::{image_kind, login_ok};

    #[test]
    fn configured_tokens_log_in() {
        let tokens = Some("cam-1, cam-2");
        assert!(login_ok("cam-2", tokens));
        assert!(login_ok("cam-1\0\0\0", tokens));
        assert!(!login_ok("cam-3", tokens));
        assert!(!login_ok("", Some("")));
        assert!(!login_ok("cam-1", None));
    }

    #[test]
    fn photos_are_told_apart_from_other_bytes() {
        assert_eq!(image_kind(&[0xff, 0xd8, 0xff, 0xe0]), Some("jpeg"));
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(image_kind(b"GIF89a"), None);
    }
}
