//! Host bindings of the WIT worlds (`wit/`), and the table of worlds a plugin
//! can implement. Adding a world is one `world!` line (naming its native
//! build's admin, if it has one) and an entry in [`ALL`] and [`NAMES`].

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::HostState;
use super::plugin::{AdminError, NativeAdmin, Ops, World, WorldOps};
use crate::native;

/// The interfaces the host provides (world `imports`: `keyvalue`, `blobs`,
/// `passwords`, `logging`, `config`, `sessions`), generated once and reused
/// by every world through `with:`. Its WASI imports (wall clock, random) are
/// wasmtime-wasi's, added to the linker with the rest of WASI.
pub mod imports {
    wasmtime::component::bindgen!({
        world: "imports",
        path: "../wit",
        additional_derives: [PartialEq],
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
        },
    });
}
pub use imports::wasmgate;

/// Declares world `$name`: its bindings in module `$module` (whose imports
/// are the shared ones) and `$marker`, its [`World`] impl.
macro_rules! world {
    ($marker:ident, $name:literal, $module:ident :: $bindings:ident, $pre:ident, native: $native:expr) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                world: $name,
                path: "../wit",
                additional_derives: [PartialEq],
                with: {
                    "wasmgate:plugin/types": crate::runtime::worlds::wasmgate::plugin::types,
                    "wasmgate:plugin/keyvalue": crate::runtime::worlds::wasmgate::plugin::keyvalue,
                    "wasmgate:plugin/blobs": crate::runtime::worlds::wasmgate::plugin::blobs,
                    "wasmgate:plugin/passwords": crate::runtime::worlds::wasmgate::plugin::passwords,
                    "wasmgate:plugin/logging": crate::runtime::worlds::wasmgate::plugin::logging,
                    "wasmgate:plugin/config": crate::runtime::worlds::wasmgate::plugin::config,
                    "wasmgate:plugin/sessions": crate::runtime::worlds::wasmgate::plugin::sessions,
                    "wasi": wasmtime_wasi::p2::bindings,
                },
            });
        }

        pub struct $marker;

        impl World for $marker {
            const NAME: &'static str = $name;
            type Pre = $module::$pre<HostState>;
            type Bindings = $module::$bindings;

            fn pre(instance_pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
                $module::$pre::new(instance_pre)
            }
            fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self::Bindings> {
                pre.instantiate(store)
            }
            fn admin(
                b: &Self::Bindings,
                store: &mut Store<HostState>,
                request: &str,
            ) -> wasmtime::Result<Result<String, AdminError>> {
                let answer = b.wasmgate_plugin_admin().call_handle(store, request)?;
                Ok(answer.map_err(|e| AdminError { status: e.status, message: e.message }))
            }
            const NATIVE_ADMIN: Option<NativeAdmin> = $native;
        }
    };
}

world!(LockerWorld, "locker", locker::Locker, LockerPre, native: Some(native::locker::admin));
world!(RawWorld, "raw", raw::Raw, RawPre, native: None);
world!(SmartHomeWorld, "smarthome", smarthome::Smarthome, SmarthomePre, native: Some(native::smarthome::admin));
world!(ExecWorld, "exec", exec::Exec, ExecPre, native: Some(native::exec::admin));
world!(PlateWorld, "plate", plate::Plate, PlatePre, native: Some(native::plate::admin));
world!(ChatWorld, "chat", chat::Chat, ChatPre, native: Some(native::chat::admin));

/// Every world a plugin can implement.
pub static ALL: &[&dyn WorldOps] = &[
    &Ops::<LockerWorld>::NEW,
    &Ops::<RawWorld>::NEW,
    &Ops::<SmartHomeWorld>::NEW,
    &Ops::<ExecWorld>::NEW,
    &Ops::<PlateWorld>::NEW,
    &Ops::<ChatWorld>::NEW,
];
pub const NAMES: &[&str] = &[
    LockerWorld::NAME,
    RawWorld::NAME,
    SmartHomeWorld::NAME,
    ExecWorld::NAME,
    PlateWorld::NAME,
    ChatWorld::NAME,
];
