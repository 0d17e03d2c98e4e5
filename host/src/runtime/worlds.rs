//! Host bindings of the WIT worlds (`wit/`), and the table of worlds a plugin
//! can implement. Adding a world: a `bindgen!` module, a [`World`] impl, and
//! an entry in [`ALL`].

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::HostState;
use super::plugin::{AdminError, Ops, World, WorldOps};

/// The interfaces the host provides (`host`, `sessions`), generated once and
/// reused by every world through `with:`.
pub mod imports {
    wasmtime::component::bindgen!({ world: "host-imports", path: "../wit" });
}
pub use imports::wasmgate;

/// `bindgen!` for a world whose imports are the shared ones.
macro_rules! world_bindings {
    ($world:literal) => {
        wasmtime::component::bindgen!({
            world: $world,
            path: "../wit",
            with: {
                "wasmgate:plugin/host": crate::runtime::worlds::wasmgate::plugin::host,
                "wasmgate:plugin/sessions": crate::runtime::worlds::wasmgate::plugin::sessions,
            },
        });
    };
}

pub mod locker {
    world_bindings!("locker");
}

pub mod raw {
    world_bindings!("raw");
}

/// Every world a plugin can implement.
pub static ALL: &[&dyn WorldOps] = &[&Ops::<LockerWorld>::NEW, &Ops::<RawWorld>::NEW];
pub const NAMES: &[&str] = &[LockerWorld::NAME, RawWorld::NAME];

macro_rules! admin_call {
    ($bindings:expr, $store:expr, $request:expr) => {
        $bindings
            .wasmgate_plugin_admin()
            .call_handle($store, $request)
            .map(|r| {
                r.map_err(|e| AdminError {
                    status: e.status,
                    message: e.message,
                })
            })
    };
}

pub struct LockerWorld;

impl World for LockerWorld {
    const NAME: &'static str = "locker";
    type Pre = locker::LockerPre<HostState>;
    type Bindings = locker::Locker;

    fn pre(instance_pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        locker::LockerPre::new(instance_pre)
    }
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
    fn admin(
        b: &Self::Bindings,
        store: &mut Store<HostState>,
        request: &str,
    ) -> wasmtime::Result<Result<String, AdminError>> {
        admin_call!(b, store, request)
    }
}

pub struct RawWorld;

impl World for RawWorld {
    const NAME: &'static str = "raw";
    type Pre = raw::RawPre<HostState>;
    type Bindings = raw::Raw;

    fn pre(instance_pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        raw::RawPre::new(instance_pre)
    }
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
    fn admin(
        b: &Self::Bindings,
        store: &mut Store<HostState>,
        request: &str,
    ) -> wasmtime::Result<Result<String, AdminError>> {
        admin_call!(b, store, request)
    }
}
