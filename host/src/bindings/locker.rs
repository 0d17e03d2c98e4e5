//! World `locker` (`wit/host.wit`, `locker-handler`).

use super::{Admin, Exports, world};

world!(LockerWorld, "locker", Locker, LockerPre, dyn LockerHandler);

pub use exports::wasmgate::plugin::locker_handler::*;

/// What a locker policy does: the `locker-handler` export.
pub trait LockerHandler: Admin {
    fn handle(&mut self, report: Report) -> wasmtime::Result<Result<Answer, String>>;
}

impl<T: Send + 'static> LockerHandler for Exports<'_, Locker, T> {
    fn handle(&mut self, report: Report) -> wasmtime::Result<Result<Answer, String>> {
        self.bindings
            .wasmgate_plugin_locker_handler()
            .call_handle(&mut *self.store, &report)
    }
}
