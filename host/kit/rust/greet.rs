//! %%name%%: a wasmgate plugin of world `greet`.
//!
//! The client sends `HELLO <name>` on a line; the host calls
//! `greet-handler.greet` with the name and writes the answer back as one
//! line (an error as `ERROR <reason>`).
//!
//! [`logic`] is plain Rust that `cargo test` runs natively; `component`
//! binds it to the WIT world (built for wasm32 only).

/// The greeting, free of the bindings.
pub mod logic {
    pub const MAX_NAME: usize = 64;

    /// `<greeting>, <name>!`, "Hello" when no greeting is configured.
    pub fn greet(name: &str, greeting: Option<&str>) -> Result<String, String> {
        if name.len() > MAX_NAME {
            return Err(format!("name longer than {MAX_NAME} bytes"));
        }
        Ok(format!("{}, {name}!", greeting.unwrap_or("Hello")))
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    // The bindings of world `greet` from ./wit; `generate_all` also binds the
    // WASI interfaces the world imports (clocks, random).
    wit_bindgen::generate!({ world: "greet", path: "wit", generate_all });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::greet_handler;
    use wasmgate::plugin::config;

    struct Plugin;

    impl greet_handler::Guest for Plugin {
        fn greet(name: String) -> Result<String, String> {
            super::logic::greet(&name, config::get("greeting").as_deref())
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
    use super::logic::greet;

    #[test]
    fn greets_with_the_configured_greeting() {
        assert_eq!(greet("Ada", None).unwrap(), "Hello, Ada!");
        assert_eq!(
            greet("Ada", Some("Good morning")).unwrap(),
            "Good morning, Ada!"
        );
    }

    #[test]
    fn long_names_are_refused() {
        assert!(greet(&"a".repeat(64), None).is_ok());
        assert!(greet(&"a".repeat(65), None).is_err());
    }
}
