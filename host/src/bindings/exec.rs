//! World `exec` (`wit/exec.wit`).

use super::{Admin, Exports, world};

world!(ExecWorld, "exec", Exec, ExecPre, dyn ExecHandler);

pub use exports::wasmgate::plugin::exec_handler::*;

/// What a remote-execute plugin does: the `exec-handler` export.
pub trait ExecHandler: Admin {
    fn handle(
        &mut self,
        session: u64,
        request: ExecRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>>;
    fn closed(&mut self, session: u64) -> wasmtime::Result<()>;
}

impl<T: Send + 'static> ExecHandler for Exports<'_, Exec, T> {
    fn handle(
        &mut self,
        session: u64,
        request: ExecRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        self.bindings.wasmgate_plugin_exec_handler().call_handle(
            &mut *self.store,
            session,
            &request,
        )
    }
    fn closed(&mut self, session: u64) -> wasmtime::Result<()> {
        self.bindings
            .wasmgate_plugin_exec_handler()
            .call_closed(&mut *self.store, session)
    }
}
