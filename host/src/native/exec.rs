//! Native build of `plugins/exec`.

use exec::logic;

use super::native_admin;
use crate::bindings::exec::{ExecHandler, ExecRequest, Outgoing};
use crate::runtime::PluginCtx;

exec::wit_exec_handler!(
    [crate::bindings::exec::exports::wasmgate::plugin::exec_handler],
    [crate::bindings::wasmgate::plugin::sessions]
);

pub struct Native(pub PluginCtx);

native_admin!(Native, logic::admin);

impl ExecHandler for Native {
    fn handle(
        &mut self,
        session: u64,
        request: ExecRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        Ok(self::handle(&self.0, session, request))
    }
    fn closed(&mut self, session: u64) -> wasmtime::Result<()> {
        self::closed(&self.0, session);
        Ok(())
    }
}
