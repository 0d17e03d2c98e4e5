//! Test component of world `locker`, for the host's integration tests.
//!
//! Behaviour of `handle`, chosen by the plugin config value `mode`:
//! - `"trap"`: panics (a wasm trap);
//! - `"loop"`: never returns;
//! - `"alloc"`: allocates and touches memory without bound;
//! - anything else / unset: a fixed answer, different from the real locker's
//!   (`block`, one code `424242` in cell 1), for hot-reload tests.
//!
//! `admin.handle` returns `{"variant":true,"mode":<mode or null>}`.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "locker",
        path: "../../wit",
        generate_all,
    });

    use super::escape;
    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::locker_handler::{self, Answer, CellCode, Report};
    use wasmgate::plugin::config;

    struct Variant;

    impl locker_handler::Guest for Variant {
        fn handle(report: Report) -> Result<Answer, String> {
            match config::get("mode").as_deref() {
                Some("trap") => panic!("locker-variant: trap requested for device {}", report.id),
                Some("loop") => spin(),
                Some("alloc") => hog(),
                _ => Ok(Answer {
                    reset: false,
                    block: true,
                    cells: vec![CellCode {
                        cell: 1,
                        code: "424242".to_string(),
                        minutes: 1,
                    }],
                }),
            }
        }
    }

    impl admin::Guest for Variant {
        fn handle(_request: String) -> Result<String, AdminError> {
            Ok(match config::get("mode") {
                Some(m) => format!(r#"{{"variant":true,"mode":"{}"}}"#, escape(&m)),
                None => r#"{"variant":true,"mode":null}"#.to_string(),
            })
        }
    }

    export!(Variant);

    /// An endless loop with a side effect the optimiser must keep.
    #[inline(never)]
    fn spin() -> ! {
        let mut counter: u64 = 0;
        loop {
            counter = core::hint::black_box(counter.wrapping_add(1));
            // SAFETY: `counter` is a live local; a volatile write cannot be elided.
            unsafe { core::ptr::write_volatile(&mut counter, counter) };
        }
    }

    /// Allocates 1 MiB blocks filled with non-zero data, forever.
    #[inline(never)]
    fn hog() -> ! {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut n: u8 = 1;
        loop {
            blocks.push(vec![n; 1 << 20]);
            n = n.wrapping_add(1).max(1);
            core::hint::black_box(&mut blocks);
        }
    }
}

/// Minimal JSON string escaping (the mode is operator configuration).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
