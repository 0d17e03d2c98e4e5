//! The bottom layer: the host's bindings of the WIT package (`wit/`), and
//! for each world the Rust trait of what it exports (its *handler*).
//!
//! A protocol calls a plugin through its world's handler trait. Two things
//! implement it: [`Exports`] (a component instance and its store; each method
//! is one call across the WebAssembly boundary) and, when the host is built
//! with the `native` feature, the plugin's Rust logic compiled into the host
//! (`crate::native`). Nothing here knows about sockets, configuration or the
//! instance pool; the imports' implementation is `crate::runtime`'s.
//!
//! One file per world, like `wit/`: its `world!` line and its handler trait.

pub mod chat;
pub mod exec;
pub mod greet;
pub mod locker;
pub mod plate;
pub mod raw;
pub mod smarthome;

use wasmtime::Store;
use wasmtime::component::InstancePre;

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

/// A refused operator call (`admin.handle`), the same for every world.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdminError {
    /// HTTP status: 4xx for a bad request, 5xx for a failure.
    pub status: u16,
    pub message: String,
}

/// The export every world has: `admin.handle`. The outer `Result` is the
/// call (a trap, a deadline); the inner one is the plugin's answer.
pub trait Admin {
    fn admin(&mut self, request: &str) -> wasmtime::Result<Result<String, AdminError>>;
}

/// A WIT world as the host sees it: how to type-check and instantiate a
/// component of it, and its handler trait (`Handler`, a `dyn` trait with
/// [`Admin`] as supertrait) that every call goes through. `T` is the data
/// of the component's store.
pub trait World<T: 'static>: Send + Sync + 'static {
    const NAME: &'static str;
    type Pre: Send + Sync + 'static;
    type Bindings: Send + 'static;
    type Handler<'a>: ?Sized + Admin + Send + 'a;
    /// Type-checks the component's exports against the world.
    fn pre(instance_pre: InstancePre<T>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<T>) -> wasmtime::Result<Self::Bindings>;
    /// Runs `f` with an instance's exports as the world's handler.
    fn with_guest<R>(
        bindings: &Self::Bindings,
        store: &mut Store<T>,
        f: impl FnOnce(&mut Self::Handler<'_>) -> R,
    ) -> R;
}

/// A component instance of a world: its bindings and its store. Each
/// handler method on it is one call into the component.
pub struct Exports<'a, B, T: 'static> {
    pub bindings: &'a B,
    pub store: &'a mut Store<T>,
}

/// Declares world `$name` in the enclosing module: its bindings (whose
/// imports are the shared ones), the marker type `$marker` with its
/// [`World`] impl, and [`Admin`] for its [`Exports`]. The handler trait
/// `$handler` and its impl for `Guest` are written beside it.
macro_rules! world {
    ($marker:ident, $name:literal, $bindings:ident, $pre:ident, dyn $handler:ident) => {
        wasmtime::component::bindgen!({
            world: $name,
            path: "../wit",
            additional_derives: [PartialEq],
            with: {
                "wasmgate:plugin/types": crate::bindings::wasmgate::plugin::types,
                "wasmgate:plugin/keyvalue": crate::bindings::wasmgate::plugin::keyvalue,
                "wasmgate:plugin/blobs": crate::bindings::wasmgate::plugin::blobs,
                "wasmgate:plugin/passwords": crate::bindings::wasmgate::plugin::passwords,
                "wasmgate:plugin/logging": crate::bindings::wasmgate::plugin::logging,
                "wasmgate:plugin/config": crate::bindings::wasmgate::plugin::config,
                "wasmgate:plugin/sessions": crate::bindings::wasmgate::plugin::sessions,
                "wasi": wasmtime_wasi::p2::bindings,
            },
        });

        pub struct $marker;

        impl<T: Send + 'static> crate::bindings::World<T> for $marker {
            const NAME: &'static str = $name;
            type Pre = $pre<T>;
            type Bindings = $bindings;
            type Handler<'a> = dyn $handler + Send + 'a;

            fn pre(
                instance_pre: wasmtime::component::InstancePre<T>,
            ) -> wasmtime::Result<Self::Pre> {
                $pre::new(instance_pre)
            }
            fn instantiate(
                pre: &Self::Pre,
                store: &mut wasmtime::Store<T>,
            ) -> wasmtime::Result<Self::Bindings> {
                pre.instantiate(store)
            }
            fn with_guest<R>(
                bindings: &Self::Bindings,
                store: &mut wasmtime::Store<T>,
                f: impl FnOnce(&mut Self::Handler<'_>) -> R,
            ) -> R {
                f(&mut crate::bindings::Exports { bindings, store })
            }
        }

        impl<T: Send + 'static> crate::bindings::Admin for crate::bindings::Exports<'_, $bindings, T> {
            fn admin(
                &mut self,
                request: &str,
            ) -> wasmtime::Result<Result<String, crate::bindings::AdminError>> {
                let answer = self
                    .bindings
                    .wasmgate_plugin_admin()
                    .call_handle(&mut *self.store, request)?;
                Ok(answer.map_err(|e| crate::bindings::AdminError {
                    status: e.status,
                    message: e.message,
                }))
            }
        }
    };
}
use world;
