//! Locker policy, independent of the component bindings so that it can be
//! unit-tested natively against an in-memory [`Host`].
//!
//! Key layout (the plugin's private keyspace), `<id>` being a validated device
//! id (letters, digits, `-`, `_`; never `/`, so `dev/<id>/` prefixes never
//! overlap):
//!
//! | key                                   | value                                              | TTL            |
//! |---------------------------------------|----------------------------------------------------|----------------|
//! | `dev/<id>/last`                       | last report, JSON [`LastReport`]                   | none           |
//! | `dev/<id>/code/<cell:05>`             | JSON [`StoredCode`]                                | expiry + 1 h   |
//! | `dev/<id>/hist/<inv:020>-<cell:05>`   | `{"cell":N,"at_ms":T}`                             | `history_days` |
//! | `dev/<id>/blocked`                    | `"1"` while blocked                                | none           |
//! | `dev/<id>/reset`                      | `"1"` while a one-time reset is pending            | none           |
//! | `board/<id>`                          | `"1"`: the board has reported (the `boards` list)   | none           |
//!
//! `inv` is `u64::MAX - at_ms`, so that a forward `kv-list` returns the newest
//! openings first and `status` can fetch the latest 1000 without reading the
//! whole history.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
pub use wasmgate_sdk::{Error, Host};

/// A device report, mirroring the WIT `report` record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub id: String,
    pub send: u64,
    pub connection: Option<u8>,
    pub wifi_state: Option<u8>,
    pub gsm_state: Option<u8>,
    pub reset: bool,
    pub state: Vec<u8>,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    pub act_con: Option<Vec<Vec<bool>>>,
    pub box_eng: Vec<u16>,
    pub box_to: Vec<u16>,
    pub box_acc: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellCode {
    pub cell: u16,
    pub code: String,
    pub minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub reset: bool,
    pub block: bool,
    pub cells: Vec<CellCode>,
}

pub use wasmgate_sdk::AdminError;

fn bad(message: impl Into<String>) -> AdminError {
    AdminError {
        status: 400,
        message: message.into(),
    }
}

/// A failure whose message already says what went wrong.
fn internal(e: String) -> AdminError {
    AdminError {
        status: 500,
        message: e,
    }
}

/// A kv import failure.
fn kv_err(e: Error) -> AdminError {
    internal(format!("storage error: {e}"))
}

pub const MAX_CODE_DIGITS: usize = 16;
pub const MAX_MINUTES: u64 = 5_256_000;
pub const MAX_HISTORY: usize = 1000;
const DEFAULT_HISTORY_DAYS: u64 = 30;
const MS_PER_MIN: u64 = 60_000;
const MS_PER_DAY: u64 = 86_400_000;
/// More than any device can have (cells are u16).
const LIST_ALL: u32 = 70_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LastReport {
    pub at_ms: u64,
    pub send: u64,
    pub connection: Option<u8>,
    pub wifi_state: Option<u8>,
    pub gsm_state: Option<u8>,
    pub state: Vec<u8>,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    pub act_con: Option<Vec<Vec<bool>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredCode {
    pub cell: u16,
    pub code: String,
    pub expires_at_ms: u64,
    pub assigned_at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct HistEntry {
    cell: u16,
    at_ms: u64,
}

fn dev_prefix(id: &str) -> String {
    format!("dev/{id}/")
}
fn last_key(id: &str) -> String {
    format!("dev/{id}/last")
}
fn code_prefix(id: &str) -> String {
    format!("dev/{id}/code/")
}
fn code_key(id: &str, cell: u16) -> String {
    format!("dev/{id}/code/{cell:05}")
}
fn hist_prefix(id: &str) -> String {
    format!("dev/{id}/hist/")
}
fn hist_key(id: &str, at_ms: u64, cell: u16) -> String {
    format!("dev/{id}/hist/{:020}-{cell:05}", u64::MAX - at_ms)
}
fn blocked_key(id: &str) -> String {
    format!("dev/{id}/blocked")
}
fn reset_key(id: &str) -> String {
    format!("dev/{id}/reset")
}
/// The index of boards that have reported, one key each (`boards` lists it
/// without reading every board's codes and history).
const BOARD_PREFIX: &str = "board/";
fn board_key(id: &str) -> String {
    format!("{BOARD_PREFIX}{id}")
}
/// Boards the `boards` op lists at most.
pub const MAX_BOARDS: usize = 1000;

/// `device` must be 1..=64 chars of ASCII letters, digits, `-`, `_`.
pub fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whole minutes left, rounded up, at least 1; `None` once expired.
pub fn minutes_left(expires_at_ms: u64, now_ms: u64) -> Option<u32> {
    if expires_at_ms <= now_ms {
        return None;
    }
    let m = (expires_at_ms - now_ms).div_ceil(MS_PER_MIN).max(1);
    Some(u32::try_from(m).unwrap_or(u32::MAX))
}

fn storage<T>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("storage error: {e}"))
}

fn history_ttl_ms<H: Host>(h: &H) -> u64 {
    let days = match h.config_get("history_days") {
        None => DEFAULT_HISTORY_DAYS,
        Some(v) => match v.trim().trim_matches('"').parse::<u64>() {
            Ok(d) if d > 0 => d,
            _ => {
                h.warn(&format!(
                    "config history_days = {v:?} is not a positive integer; using {DEFAULT_HISTORY_DAYS}"
                ));
                DEFAULT_HISTORY_DAYS
            }
        },
    };
    days.saturating_mul(MS_PER_DAY)
}

fn load_last<H: Host>(h: &H, id: &str) -> Result<Option<LastReport>, String> {
    match storage(h.kv_get(&last_key(id)))? {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| format!("storage error: corrupt last report for {id}: {e}")),
    }
}

/// How long an expired code stays in the store (its kv TTL is its life
/// plus this), so that `status` can show it as expired.
pub const EXPIRED_KEPT_MS: u64 = 3_600_000;

/// Every stored code of a device, live or expired within
/// [`EXPIRED_KEPT_MS`], sorted by cell; unreadable entries are skipped.
fn stored_codes<H: Host>(h: &H, id: &str) -> Result<Vec<StoredCode>, String> {
    let entries = storage(h.kv_list(&code_prefix(id), LIST_ALL))?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match serde_json::from_str::<StoredCode>(&value) {
            Ok(c) => out.push(c),
            Err(e) => h.warn(&format!("ignoring unreadable code entry {key}: {e}")),
        }
    }
    out.sort_by_key(|c| c.cell);
    out.dedup_by_key(|c| c.cell);
    Ok(out)
}

/// Live codes of a device with their minutes left, sorted by cell.
fn live_codes<H: Host>(h: &H, id: &str, now: u64) -> Result<Vec<(StoredCode, u32)>, String> {
    Ok(stored_codes(h, id)?
        .into_iter()
        .filter_map(|c| minutes_left(c.expires_at_ms, now).map(|m| (c, m)))
        .collect())
}

/// One device report: record it, apply BOX_TO / BOX_ACC, build the answer.
pub fn handle_report<H: Host>(h: &H, r: &Report) -> Result<Answer, String> {
    if !valid_device_id(&r.id) {
        return Err(format!(
            "invalid device id {:?}: expected 1-64 letters, digits, '-' or '_'",
            r.id
        ));
    }
    let id = r.id.as_str();
    let now = h.now_ms();

    // A report without COLS/ROWS/ACT_CON keeps the values last reported: the
    // size of a board does not change between reports.
    let prev_text = storage(h.kv_get(&last_key(id)))?;
    let prev = match &prev_text {
        None => None,
        Some(s) => serde_json::from_str::<LastReport>(s)
            .map_err(|e| h.warn(&format!("overwriting unreadable last report of {id}: {e}")))
            .ok(),
    };
    let (pc, pr, pa) = match prev {
        Some(p) => (p.cols, p.rows, p.act_con),
        None => (None, None, None),
    };
    let last = LastReport {
        at_ms: now,
        send: r.send,
        connection: r.connection,
        wifi_state: r.wifi_state,
        gsm_state: r.gsm_state,
        state: r.state.clone(),
        cols: r.cols.or(pc),
        rows: r.rows.or(pr),
        act_con: r.act_con.clone().or(pa),
    };
    let json = serde_json::to_string(&last).map_err(|e| format!("encode error: {e}"))?;
    storage(h.kv_set(&last_key(id), &json, None))?;
    if prev_text.is_none() {
        // first report: into the index of boards (one write per board, ever)
        storage(h.kv_set(&board_key(id), "1", None))?;
    }

    for &cell in &r.box_to {
        storage(h.kv_delete(&code_key(id, cell)))?;
    }

    if !r.box_acc.is_empty() {
        let ttl = history_ttl_ms(h);
        for &cell in &r.box_acc {
            let v = json!({ "cell": cell, "at_ms": now }).to_string();
            storage(h.kv_set(&hist_key(id, now, cell), &v, Some(ttl)))?;
        }
    }

    let cells = live_codes(h, id, now)?
        .into_iter()
        .map(|(c, minutes)| CellCode {
            cell: c.cell,
            code: c.code,
            minutes,
        })
        .collect();
    let block = storage(h.kv_get(&blocked_key(id)))?.is_some();
    // Taken last, so that a failure above does not lose the flag.
    let reset = storage(h.kv_delete(&reset_key(id)))?;
    Ok(Answer {
        reset,
        block,
        cells,
    })
}

// ---------------------------------------------------------------------------
// admin

fn get_device(obj: &Map<String, Value>) -> Result<String, AdminError> {
    match obj.get("device") {
        None | Some(Value::Null) => Err(bad("missing field \"device\"")),
        Some(Value::String(s)) if valid_device_id(s) => Ok(s.clone()),
        Some(Value::String(_)) => Err(bad(
            "invalid \"device\": expected 1-64 letters, digits, '-' or '_'",
        )),
        Some(_) => Err(bad("\"device\" must be a string")),
    }
}

fn get_uint(obj: &Map<String, Value>, name: &str) -> Result<u64, AdminError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(bad(format!("missing field \"{name}\""))),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(format!("\"{name}\" must be a non-negative integer"))),
        Some(_) => Err(bad(format!("\"{name}\" must be an integer"))),
    }
}

fn get_cell(obj: &Map<String, Value>) -> Result<u16, AdminError> {
    let cell = get_uint(obj, "cell")?;
    if cell < 1 {
        return Err(bad("\"cell\" must be at least 1"));
    }
    u16::try_from(cell).map_err(|_| bad(format!("\"cell\" {cell} is out of range")))
}

/// `POST /admin/locker`: one JSON operation.
pub fn handle_admin<H: Host>(h: &H, request: &str) -> Result<String, AdminError> {
    let v: Value = serde_json::from_str(request).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(bad("request must be a JSON object"));
    };
    let op = match obj.get("op") {
        None | Some(Value::Null) => return Err(bad("missing field \"op\"")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("\"op\" must be a string")),
    };
    let out = match op {
        "assign" => assign(h, &obj)?,
        "revoke" => {
            let device = get_device(&obj)?;
            let cell = get_cell(&obj)?;
            let revoked = h.kv_delete(&code_key(&device, cell)).map_err(kv_err)?;
            json!({ "ok": true, "revoked": revoked })
        }
        "block" => {
            let device = get_device(&obj)?;
            h.kv_set(&blocked_key(&device), "1", None).map_err(kv_err)?;
            json!({ "ok": true })
        }
        "unblock" => {
            let device = get_device(&obj)?;
            h.kv_delete(&blocked_key(&device)).map_err(kv_err)?;
            json!({ "ok": true })
        }
        "reset" => {
            let device = get_device(&obj)?;
            h.kv_set(&reset_key(&device), "1", None).map_err(kv_err)?;
            json!({ "ok": true })
        }
        "status" => status(h, &obj)?,
        "boards" => boards(h)?,
        other => {
            return Err(bad(format!(
                "unknown op {other:?}: expected assign, revoke, block, unblock, reset, status or boards"
            )));
        }
    };
    Ok(out.to_string())
}

fn assign<H: Host>(h: &H, obj: &Map<String, Value>) -> Result<Value, AdminError> {
    let device = get_device(obj)?;
    let cell = get_cell(obj)?;
    let code = match obj.get("code") {
        None | Some(Value::Null) => return Err(bad("missing field \"code\"")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("\"code\" must be a string of digits")),
    };
    if code.is_empty() || code.len() > MAX_CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad(format!(
            "\"code\" must be 1-{MAX_CODE_DIGITS} ASCII digits"
        )));
    }
    // How long the code lives: whole minutes (the protocol's unit) or, for an
    // exact expiry, seconds. Exactly one of the two.
    let ttl = match (obj.get("minutes"), obj.get("seconds")) {
        (Some(_), Some(_)) => return Err(bad("give \"minutes\" or \"seconds\", not both")),
        (_, Some(_)) => {
            let seconds = get_uint(obj, "seconds")?;
            if !(1..=MAX_MINUTES * 60).contains(&seconds) {
                return Err(bad(format!(
                    "\"seconds\" must be between 1 and {}",
                    MAX_MINUTES * 60
                )));
            }
            seconds * 1000
        }
        _ => {
            let minutes = get_uint(obj, "minutes")?;
            if !(1..=MAX_MINUTES).contains(&minutes) {
                return Err(bad(format!(
                    "\"minutes\" must be between 1 and {MAX_MINUTES}"
                )));
            }
            minutes * MS_PER_MIN
        }
    };

    let last = load_last(h, &device).map_err(internal)?;
    let (cols, rows) = match last.as_ref().map(|l| (l.cols, l.rows)) {
        Some((Some(c), Some(r))) => (c, r),
        _ => {
            return Err(AdminError {
                status: 409,
                message: format!(
                    "device {device:?} has not reported its COLS/ROWS yet; cannot check cell {cell}"
                ),
            });
        }
    };
    let cells = u32::from(cols) * u32::from(rows);
    if u32::from(cell) > cells {
        return Err(bad(format!(
            "cell {cell} is out of range: device {device:?} has {cells} cells ({cols} cols x {rows} rows)"
        )));
    }

    let now = h.now_ms();
    let expires_at_ms = now.saturating_add(ttl);
    let stored = StoredCode {
        cell,
        code: code.clone(),
        expires_at_ms,
        assigned_at_ms: now,
    };
    let value = serde_json::to_string(&stored).map_err(|e| internal(e.to_string()))?;
    h.kv_set(
        &code_key(&device, cell),
        &value,
        Some(ttl.saturating_add(EXPIRED_KEPT_MS)),
    )
    .map_err(kv_err)?;
    Ok(json!({
        "ok": true,
        "device": device,
        "cell": cell,
        "code": code,
        "expires_at_ms": expires_at_ms,
    }))
}

/// Every board that has reported (at most [`MAX_BOARDS`], by id): its last
/// report's time and states, size, blocked, and how many codes are active.
fn boards<H: Host>(h: &H) -> Result<Value, AdminError> {
    let now = h.now_ms();
    let index = h.kv_list(BOARD_PREFIX, MAX_BOARDS as u32).map_err(kv_err)?;
    let mut out = Vec::with_capacity(index.len());
    for (key, _) in index {
        let device = &key[BOARD_PREFIX.len()..];
        let Some(l) = load_last(h, device).map_err(internal)? else {
            continue;
        };
        let mut board = board_json(device, Some(&l));
        board["blocked"] = json!(h.kv_get(&blocked_key(device)).map_err(kv_err)?.is_some());
        board["active_codes"] = json!(live_codes(h, device, now).map_err(internal)?.len());
        out.push(board);
    }
    Ok(json!({ "boards": out }))
}

/// What `boards` and `status` both say of a board: its last report.
fn board_json(device: &str, last: Option<&LastReport>) -> Value {
    let l = last.cloned().unwrap_or_default();
    json!({
        "device": device,
        "last_report_ms": last.map(|l| l.at_ms),
        "connection": l.connection,
        "wifi_state": l.wifi_state,
        "gsm_state": l.gsm_state,
        "state": l.state,
        "cols": l.cols,
        "rows": l.rows,
    })
}

fn status<H: Host>(h: &H, obj: &Map<String, Value>) -> Result<Value, AdminError> {
    let device = get_device(obj)?;
    let any = h.kv_list(&dev_prefix(&device), 1).map_err(kv_err)?;
    if any.is_empty() {
        return Err(AdminError {
            status: 404,
            message: format!("unknown device {device:?}: nothing stored for it"),
        });
    }
    let now = h.now_ms();
    let last = load_last(h, &device).map_err(internal)?;
    let blocked = h.kv_get(&blocked_key(&device)).map_err(kv_err)?.is_some();
    let reset_pending = h.kv_get(&reset_key(&device)).map_err(kv_err)?.is_some();
    let mut cells = Vec::new();
    let mut expired = Vec::new();
    for c in stored_codes(h, &device).map_err(internal)? {
        match minutes_left(c.expires_at_ms, now) {
            Some(m) => cells.push(json!({
                "cell": c.cell,
                "code": c.code,
                "minutes_left": m,
                "expires_at_ms": c.expires_at_ms,
            })),
            None => expired.push(json!({
                "cell": c.cell,
                "code": c.code,
                "expired_at_ms": c.expires_at_ms,
            })),
        }
    }

    let raw = h
        .kv_list(&hist_prefix(&device), MAX_HISTORY as u32)
        .map_err(kv_err)?;
    let mut hist: Vec<HistEntry> = raw
        .iter()
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect();
    hist.sort_by_key(|e| (e.at_ms, e.cell));
    let history: Vec<Value> = hist
        .iter()
        .map(|e| json!({ "cell": e.cell, "at_ms": e.at_ms }))
        .collect();

    let l = last.clone().unwrap_or_default();
    let connected_locks = l
        .act_con
        .as_ref()
        .map_or(0, |rows| rows.iter().flatten().filter(|b| **b).count());
    let mut out = board_json(&device, last.as_ref());
    for (k, v) in [
        ("known", json!(last.is_some())),
        ("act_con", json!(l.act_con)),
        ("connected_locks", json!(connected_locks)),
        ("blocked", json!(blocked)),
        ("reset_pending", json!(reset_pending)),
        ("cells", json!(cells)),
        ("expired", json!(expired)),
        ("history", json!(history)),
    ] {
        out[k] = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
