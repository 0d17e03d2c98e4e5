//! The one harness that starts the real `wasmgate` binary, shared by the
//! integration tests (`tests/`) and the load generator (`wasmgate-bench`).
//!
//! [`Setup`] says how hosts are started (which binary, where the
//! components and the compile cache are, the runtime settings);
//! [`Setup::start`] starts one as a child process with a configuration of
//! its own — every port 0, a private temporary directory for the store,
//! the plugin directory and the log, `serve --ready-file` — and waits until
//! it is ready. A [`Host`] knows its listeners' and admin addresses, talks
//! to the admin API ([`http`]), reads its memory from `/proc`, stops,
//! restarts, and is killed (its directory removed) when dropped.
//!
//! Everything here blocks and returns errors rather than panicking: the
//! tests unwrap, the bench reports a failed scenario and goes on.

pub mod http;
mod metrics;
pub mod nats;
mod process;

use std::path::{Path, PathBuf};

pub use metrics::Metrics;
pub use process::{AdminConn, Host, Mem, Setup};

/// The repository root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
