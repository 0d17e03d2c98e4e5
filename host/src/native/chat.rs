//! Native build of `plugins/chat`.

use chat::logic;

use super::native_admin;
use crate::bindings::chat::{ChatHandler, ClientRequest, Outgoing};
use crate::runtime::PluginCtx;

chat::wit_chat_handler!(
    [crate::bindings::chat::exports::wasmgate::plugin::chat_handler],
    [crate::bindings::wasmgate::plugin::sessions]
);

pub struct Native(pub PluginCtx);

native_admin!(Native, logic::handle_admin);

impl ChatHandler for Native {
    fn handle(
        &mut self,
        session: u64,
        request: ClientRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        Ok(self::handle(&self.0, session, request))
    }
    fn closed(&mut self, session: u64) -> wasmtime::Result<Vec<Outgoing>> {
        Ok(self::closed(&self.0, session))
    }
}
