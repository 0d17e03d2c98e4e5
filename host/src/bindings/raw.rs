//! World `raw` (`wit/raw.wit`).

use super::{Admin, Exports, world};

world!(RawWorld, "raw", Raw, RawPre, dyn RawHandler);

pub use exports::wasmgate::plugin::raw_handler::*;

/// What a plugin of a configuration-defined protocol does: the
/// `raw-handler` export.
pub trait RawHandler: Admin {
    fn opened(&mut self, session: u64) -> wasmtime::Result<Result<Vec<Outgoing>, String>>;
    fn handle(
        &mut self,
        session: u64,
        frame: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>>;
    fn closed(&mut self, session: u64) -> wasmtime::Result<Vec<Outgoing>>;
}

impl<T: Send + 'static> RawHandler for Exports<'_, Raw, T> {
    fn opened(&mut self, session: u64) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        self.bindings
            .wasmgate_plugin_raw_handler()
            .call_opened(&mut *self.store, session)
    }
    fn handle(
        &mut self,
        session: u64,
        frame: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        self.bindings
            .wasmgate_plugin_raw_handler()
            .call_handle(&mut *self.store, session, &frame)
    }
    fn closed(&mut self, session: u64) -> wasmtime::Result<Vec<Outgoing>> {
        self.bindings
            .wasmgate_plugin_raw_handler()
            .call_closed(&mut *self.store, session)
    }
}
