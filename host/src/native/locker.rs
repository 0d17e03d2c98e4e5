//! Native build of `plugins/locker`.

use locker::policy;

use super::native_admin;
use crate::bindings::locker::{Answer, LockerHandler, Report};
use crate::runtime::PluginCtx;

locker::wit_locker_handler!(crate::bindings::locker::exports::wasmgate::plugin::locker_handler);

pub struct Native(pub PluginCtx);

native_admin!(Native, policy::handle_admin);

impl LockerHandler for Native {
    fn handle(&mut self, report: Report) -> wasmtime::Result<Result<Answer, String>> {
        Ok(self::handle(&self.0, report))
    }
}
