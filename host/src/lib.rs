//! wasmgate: a protocol router. The host owns sockets, TLS, framing and
//! state; WebAssembly components (one per protocol) make the decisions.
//!
//! The path of one message, module by module: [`transport`] accepts the
//! connection, [`codec`] turns bytes into a typed message, [`protocol`] hands
//! it to the plugin's world through [`runtime`] and encodes the answer;
//! [`state`] holds what outlives a call, shared with other hosts through
//! [`cluster`] when there are several; [`admin`] is the operator's view.

pub mod admin;
pub mod bindings;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod kit;
pub mod logs;
pub mod metrics;
#[cfg(feature = "native")]
pub mod native;
pub mod protocol;
pub mod remote;
pub mod runtime;
pub mod server;
pub mod state;
pub mod transport;

/// The layers, from the bottom up: a module may use only those before it
/// (README, "Design"). Checked by `tests::layers_flow_one_way`.
#[cfg(test)]
const LAYERS: &[&str] = &[
    "bindings",
    "config",
    "logs",
    "metrics",
    "state",
    "cluster",
    "codec",
    "transport",
    "runtime",
    "native",
    "protocol",
    "admin",
    "server",
    "kit",
    "remote",
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `crate::<module>` a file's code (not its comments) names.
    fn uses(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        }
        found
    }

    fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                files(&e.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    #[test]
    fn layers_flow_one_way() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for (i, layer) in super::LAYERS.iter().enumerate() {
            let mut paths = Vec::new();
            files(&src.join(layer), &mut paths);
            files(&src.join(format!("{layer}.rs")), &mut paths);
            assert!(!paths.is_empty(), "no source for layer {layer}");
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                for used in uses(&text) {
                    let Some(j) = super::LAYERS.iter().position(|l| *l == used) else {
                        continue;
                    };
                    assert!(
                        j <= i,
                        "{} (layer {layer}) uses crate::{used}, a layer above it",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 50,
            "only {checked} uses seen: is the scan broken?"
        );
        // The scan sees a use that goes the wrong way.
        assert_eq!(
            uses("use crate::protocol::x; // crate::server"),
            ["protocol"]
        );
    }
}
