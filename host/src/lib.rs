//! wasmgate: a protocol router. The host owns sockets, TLS, framing and
//! state; WebAssembly components (one per protocol) make the decisions.
//!
//! The path of one message, module by module: [`transport`] accepts the
//! connection, [`codec`] turns bytes into a typed message, [`protocol`] hands
//! it to the plugin's world through [`runtime`] and encodes the answer;
//! [`state`] holds what outlives a call; [`admin`] is the operator's view.

pub mod admin;
pub mod bindings;
pub mod codec;
pub mod config;
pub mod metrics;
#[cfg(feature = "native")]
pub mod native;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod state;
pub mod transport;
