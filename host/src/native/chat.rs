//! Native build of `plugins/chat`.

use chat::logic;

use crate::runtime::{AdminError, PluginCtx};

chat::wit_chat_handler!(
    [crate::runtime::worlds::chat::exports::wasmgate::plugin::chat_handler],
    [crate::runtime::worlds::wasmgate::plugin::sessions]
);

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    logic::handle_admin(h, request).map_err(|(status, message)| AdminError { status, message })
}
