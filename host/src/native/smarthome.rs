//! Native build of `plugins/smarthome`.

use super::admin_error;
use crate::runtime::worlds::smarthome::exports::wasmgate::plugin::smarthome_handler::Response;
use crate::runtime::{AdminError, PluginCtx};

pub fn handle(h: &PluginCtx, command: u32) -> Result<Response, String> {
    smarthome::handle(h, command).map(|(command, payload)| Response { command, payload })
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    smarthome::admin(h, request).map_err(admin_error)
}
