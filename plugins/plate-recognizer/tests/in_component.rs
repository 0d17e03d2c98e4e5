//! The crate's unit tests run inside a component: the code paths only
//! wasm32 has (the SIMD128 IDCT, upsampling and colour conversion of our
//! JPEG decoder, `decode_whole`, the convolution and matrix kernels of
//! `cnn::wasm`, the crop sampler's blend) are checked against the same
//! references as natively (the `image` crate's pixels, `matrixmultiply`,
//! the plain loops), in the engine the host runs plugins in.
//!
//! `scripts/test` builds the unit tests for wasm32-wasip2 with SIMD128, as
//! `scripts/build-plugins` builds the plugins, into
//! `target/test-plugins/plate-recognizer-unit-tests.wasm`; this test runs
//! that command component with wasmtime (`wasm_host::Runner`, the crate's
//! directory preopened as `/data` for the fixtures) and fails unless every
//! test passed. Needs the `wasm-runner` feature (the README's test command
//! turns it on).

#![cfg(all(feature = "wasm-runner", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};

/// Where `scripts/test` installs it (the workspace's `target/`, as
/// `scripts/build-plugins` installs the test components).
fn unit_tests_wasm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-plugins/plate-recognizer-unit-tests.wasm")
}

#[test]
fn unit_tests_pass_inside_a_component() {
    let wasm = unit_tests_wasm();
    assert!(
        wasm.exists(),
        "{} is missing: scripts/test builds it",
        wasm.display()
    );
    let runner =
        plate_recognizer::wasm_host::Runner::new(wasm.to_str().expect("UTF-8 path"), true, false)
            .expect("the unit tests compile as a component");
    let out = runner.run(Path::new(env!("CARGO_MANIFEST_DIR")), &[], true);
    let out = match out {
        Ok(o) => String::from_utf8_lossy(&o.unwrap_or_default()).into_owned(),
        Err(e) => panic!("the unit tests failed inside the component: {e}"),
    };
    print!("{out}");
    // libtest's summary: every test passed, and there were tests
    let summary = out
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no test summary in:\n{out}"));
    assert!(summary.starts_with("test result: ok."), "{summary}");
    let passed: usize = summary
        .split(';')
        .find_map(|p| p.trim().strip_suffix(" passed"))
        .and_then(|n| n.trim_start_matches("test result: ok.").trim().parse().ok())
        .unwrap_or_else(|| panic!("no passed count in {summary:?}"));
    assert!(passed >= 20, "only {passed} tests ran: {summary}");
    // the wasm32-only kernels' own tests among them
    for name in ["jpeg::tests::", "cnn::"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("test {name}")) && l.ends_with("ok")),
            "no passing {name} test in:\n{out}"
        );
    }
}
