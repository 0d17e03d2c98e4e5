//! Native build of `plugins/locker`.

use locker::policy;

use super::admin_error;
use crate::runtime::worlds::locker::exports::wasmgate::plugin::locker_handler::{
    Answer, CellCode, Report,
};
use crate::runtime::{AdminError, PluginCtx};

pub fn handle(h: &PluginCtx, r: Report) -> Result<Answer, String> {
    let report = policy::Report {
        id: r.id,
        send: r.send,
        connection: r.connection,
        wifi_state: r.wifi_state,
        gsm_state: r.gsm_state,
        reset: r.reset,
        state: r.state,
        cols: r.cols,
        rows: r.rows,
        act_con: r.act_con,
        box_eng: r.box_eng,
        box_to: r.box_to,
        box_acc: r.box_acc,
    };
    let a = policy::handle_report(h, &report)?;
    Ok(Answer {
        reset: a.reset,
        block: a.block,
        cells: a
            .cells
            .into_iter()
            .map(|c| CellCode {
                cell: c.cell,
                code: c.code,
                minutes: c.minutes,
            })
            .collect(),
    })
}

pub fn admin(h: &PluginCtx, request: &str) -> Result<String, AdminError> {
    policy::handle_admin(h, request).map_err(admin_error)
}
