//! Native build of `plugins/smarthome`.

use super::native_admin;
use crate::bindings::smarthome::{Response, SmartHomeHandler};
use crate::runtime::PluginCtx;

pub struct Native(pub PluginCtx);

native_admin!(Native, smarthome::admin);

impl SmartHomeHandler for Native {
    fn handle(&mut self, command: u32) -> wasmtime::Result<Result<Response, String>> {
        Ok(smarthome::handle(&self.0, command)
            .map(|(command, payload)| Response { command, payload }))
    }
}
