//! Native build of `plugins/exec`.

use exec::logic;

use super::admin_error;
use crate::runtime::{AdminError, PluginCtx};

exec::wit_exec_handler!(
    [crate::runtime::worlds::exec::exports::wasmgate::plugin::exec_handler],
    [crate::runtime::worlds::wasmgate::plugin::sessions]
);

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    logic::admin(h, request).map_err(admin_error)
}
