//! The native builds of the plugins (cargo feature `native`): the same Rust
//! logic as the components (the plugin crates, compiled into the host),
//! implementing the same handler traits (`crate::bindings`), so
//! `backend = "native"` changes nothing but the WebAssembly boundary. Each
//! module converts the host's WIT types to the plugin crate's and back,
//! exactly what the component's own adapter does on the other side of the
//! boundary.
//!
//! Native builds exist for the benchmarks (`wasmgate-bench` runs every
//! scenario against both) and for the tests that compare the two; the
//! shipped binary is built without them. They share the host's fate: no
//! deadline, no memory cap, no reload. A panic is caught and answered like
//! a trap.

mod chat;
mod exec;
mod locker;
mod plate;
mod smarthome;

use crate::bindings::AdminError;
use crate::runtime::NativeBuilds;

/// Every native build, by world.
pub fn builds() -> NativeBuilds {
    let mut builds = NativeBuilds::default();
    builds.add::<crate::bindings::chat::ChatWorld>(|ctx| Box::new(chat::Native(ctx)));
    builds.add::<crate::bindings::exec::ExecWorld>(|ctx| Box::new(exec::Native(ctx)));
    builds.add::<crate::bindings::locker::LockerWorld>(|ctx| Box::new(locker::Native(ctx)));
    builds.add::<crate::bindings::plate::PlateWorld>(|ctx| Box::new(plate::Native(ctx)));
    builds
        .add::<crate::bindings::smarthome::SmartHomeWorld>(|ctx| Box::new(smarthome::Native(ctx)));
    builds
}

/// Implements [`crate::bindings::Admin`] for `$native` with the plugin
/// crate's `$admin(host, request)`.
macro_rules! native_admin {
    ($native:ident, $admin:path) => {
        impl crate::bindings::Admin for $native {
            fn admin(
                &mut self,
                request: &str,
            ) -> wasmtime::Result<Result<String, crate::bindings::AdminError>> {
                Ok($admin(&self.0, request).map_err(Into::into))
            }
        }
    };
}
use native_admin;

impl From<wasmgate_sdk::AdminError> for AdminError {
    fn from(e: wasmgate_sdk::AdminError) -> Self {
        AdminError {
            status: e.status,
            message: e.message,
        }
    }
}

/// Chat's admin errors are `(status, message)`.
impl From<(u16, String)> for AdminError {
    fn from((status, message): (u16, String)) -> Self {
        AdminError { status, message }
    }
}
