//! World `smarthome` (`wit/smarthome.wit`).

use super::{Admin, Exports, world};

world!(
    SmartHomeWorld,
    "smarthome",
    Smarthome,
    SmarthomePre,
    dyn SmartHomeHandler
);

pub use exports::wasmgate::plugin::smarthome_handler::*;

/// What a smart-home plugin does: the `smarthome-handler` export.
pub trait SmartHomeHandler: Admin {
    fn handle(&mut self, command: u32) -> wasmtime::Result<Result<Response, String>>;
}

impl<T: Send + 'static> SmartHomeHandler for Exports<'_, Smarthome, T> {
    fn handle(&mut self, command: u32) -> wasmtime::Result<Result<Response, String>> {
        self.bindings
            .wasmgate_plugin_smarthome_handler()
            .call_handle(&mut *self.store, command)
    }
}
