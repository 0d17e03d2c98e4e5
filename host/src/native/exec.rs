//! Native build of `plugins/exec`.

use exec::logic;

use super::admin_error;
use crate::runtime::worlds::exec::exports::wasmgate::plugin::exec_handler::{
    ExecRequest, Outgoing,
};
use crate::runtime::worlds::wasmgate::plugin::sessions::Target;
use crate::runtime::{AdminError, PluginCtx};

pub fn handle(h: &PluginCtx, session: u64, request: ExecRequest) -> Result<Vec<Outgoing>, String> {
    let request = match request {
        ExecRequest::Init(token) => logic::Request::Init(token),
        ExecRequest::CheckDevice => logic::Request::CheckDevice,
        ExecRequest::Heartbeat => logic::Request::Heartbeat,
        ExecRequest::Execute(t) => logic::Request::Execute(t),
        ExecRequest::ExecuteResult(t) => logic::Request::ExecuteResult(t),
        ExecRequest::Other(cmd) => logic::Request::Other(cmd),
        ExecRequest::Invalid(why) => logic::Request::Invalid(why),
        ExecRequest::Binary => logic::Request::Binary,
    };
    let out = logic::handle(h, session, request)?;
    Ok(out
        .into_iter()
        .map(|o| Outgoing {
            to: match o.to {
                logic::Target::Reply => Target::Reply,
                logic::Target::GroupOthers(g) => Target::GroupOthers(g),
            },
            text: o.text,
        })
        .collect())
}

pub fn closed(h: &PluginCtx, session: u64) {
    logic::closed(h, session)
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    logic::admin(h, request).map_err(admin_error)
}
