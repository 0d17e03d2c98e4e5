//! The native builds of the plugins: the same Rust logic as the components
//! (the plugin crates, compiled into the host), behind the same world
//! types, so `backend = "native"` changes nothing but the WebAssembly
//! boundary. Each module converts the host's WIT types to the plugin
//! crate's and back, exactly what the component's own adapter does on the
//! other side of the boundary.
//!
//! Native plugins exist for the benchmarks (`wasmgate-bench` runs every
//! scenario against both) and as a reference; they share the host's fate:
//! no deadline, no memory cap, no reload. A panic is caught and answered
//! like a trap.

pub mod chat;
pub mod exec;
pub mod locker;
pub mod plate;
pub mod smarthome;

use crate::runtime::AdminError;

fn admin_error(e: wasmgate_sdk::AdminError) -> AdminError {
    AdminError {
        status: e.status,
        message: e.message,
    }
}
