//! Component of world `greet`, the README's "Add a protocol" example:
//! answers `HELLO <name>` with `<greeting>, <name>!` (plugin config value
//! `greeting`, default "Hello"); a name over 64 bytes is refused.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "greet",
        path: "../../wit",
        generate_all,
    });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::greet_handler;
    use wasmgate::plugin::config;

    struct Greeter;

    impl greet_handler::Guest for Greeter {
        fn greet(name: String) -> Result<String, String> {
            if name.len() > 64 {
                return Err("name longer than 64 bytes".to_string());
            }
            let greeting = config::get("greeting").unwrap_or_else(|| "Hello".to_string());
            Ok(format!("{greeting}, {name}!"))
        }
    }

    impl admin::Guest for Greeter {
        fn handle(_request: String) -> Result<String, AdminError> {
            Err(AdminError {
                status: 404,
                message: "greet has no operator calls".to_string(),
            })
        }
    }

    export!(Greeter);
}
