//! Test component of world `plate`, for the host's tests. Config `mode`:
//! - `"slow"`: `recognize` spins for `delay_ms` (default 10 000) before
//!   answering — past any reasonable deadline;
//! - otherwise: every login with the token in config `token` (default
//!   "test") succeeds, and every image is "blue 京A12345".

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "plate", path: "../../wit", generate_all });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::plate_handler::{
        self, Failure, LoginRequest, Plate, PlateColour,
    };
    use wasi::clocks::wall_clock;
    use wasmgate::plugin::config;

    /// Milliseconds since the Unix epoch.
    fn now_ms() -> u64 {
        let t = wall_clock::now();
        t.seconds * 1000 + u64::from(t.nanoseconds / 1_000_000)
    }

    struct Variant;

    impl plate_handler::Guest for Variant {
        fn login(request: LoginRequest) -> bool {
            request.token == config::get("token").unwrap_or_else(|| "test".into())
        }

        fn recognize(
            _camera: String,
            _identify: String,
            _image: Vec<u8>,
        ) -> Result<Plate, Failure> {
            if config::get("mode").as_deref() == Some("slow") {
                let delay: u64 = config::get("delay_ms")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(10_000);
                let until = now_ms() + delay;
                while now_ms() < until {
                    core::hint::spin_loop();
                }
            }
            Ok(Plate {
                colour: PlateColour::Blue,
                plate: "京A12345".into(),
            })
        }
    }

    impl admin::Guest for Variant {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok(r#"{"variant":true}"#.into())
        }
    }

    export!(Variant);
}
