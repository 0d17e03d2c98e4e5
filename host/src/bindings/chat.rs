//! World `chat` (`wit/chat.wit`).

use super::{Admin, Exports, world};

world!(ChatWorld, "chat", Chat, ChatPre, dyn ChatHandler);

pub use exports::wasmgate::plugin::chat_handler::*;

/// What a chat plugin does: the `chat-handler` export.
pub trait ChatHandler: Admin {
    fn handle(
        &mut self,
        session: u64,
        request: ClientRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>>;
    fn closed(&mut self, session: u64) -> wasmtime::Result<Vec<Outgoing>>;
}

impl<T: Send + 'static> ChatHandler for Exports<'_, Chat, T> {
    fn handle(
        &mut self,
        session: u64,
        request: ClientRequest,
    ) -> wasmtime::Result<Result<Vec<Outgoing>, String>> {
        self.bindings.wasmgate_plugin_chat_handler().call_handle(
            &mut *self.store,
            session,
            &request,
        )
    }
    fn closed(&mut self, session: u64) -> wasmtime::Result<Vec<Outgoing>> {
        self.bindings
            .wasmgate_plugin_chat_handler()
            .call_closed(&mut *self.store, session)
    }
}
