//! Native build of `plugins/locker`.

use locker::policy;

use super::admin_error;
use crate::runtime::{AdminError, PluginCtx};

locker::wit_locker_handler!(
    crate::runtime::worlds::locker::exports::wasmgate::plugin::locker_handler
);

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    policy::handle_admin(h, request).map_err(admin_error)
}
