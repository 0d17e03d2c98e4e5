"""Locker policy, the Python twin of plugins/locker/src/policy.rs.

Independent of the component bindings (app.py adapts it), so that
test_policy.py runs it on plain CPython against an in-memory host.

The key layout is the Rust component's, byte for byte, so that swapping one
for the other keeps every device's codes, flags and history (`<id>` is a
validated device id: letters, digits, `-`, `_`; never `/`):

    dev/<id>/last                       last report, JSON (LastReport)   no TTL
    dev/<id>/code/<cell:05>             JSON (StoredCode)                until expiry
    dev/<id>/hist/<inv:020>-<cell:05>   {"cell":N,"at_ms":T}             history_days
    dev/<id>/blocked                    "1" while blocked                no TTL
    dev/<id>/reset                      "1" while a reset is pending     no TTL

`inv` is u64::MAX - at_ms, so a forward kv-list yields the newest first.
JSON is written compact with the Rust struct's field order, so both
implementations write the same bytes.
"""

import json
import re

MAX_CODE_DIGITS = 16
MAX_MINUTES = 5_256_000
MAX_HISTORY = 1000
DEFAULT_HISTORY_DAYS = 30
MS_PER_MIN = 60_000
MS_PER_DAY = 86_400_000
# More than any device can have (cells are u16).
LIST_ALL = 70_000
U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF

_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIGITS = re.compile(r"[0-9]+")
_UINT = re.compile(r"\+?[0-9]+")


class StorageError(Exception):
    """A host kv call failed; the message is the host's."""


class Host:
    """What the policy needs from the outside world (app.py: the WIT imports).

    kv_* raise StorageError(message) when the host call fails."""

    def kv_get(self, key): raise NotImplementedError
    def kv_set(self, key, value, ttl_ms): raise NotImplementedError
    def kv_delete(self, key): raise NotImplementedError
    def kv_list(self, prefix, limit): raise NotImplementedError
    def now_ms(self): raise NotImplementedError
    def config_get(self, key): raise NotImplementedError
    def warn(self, message): raise NotImplementedError


class Report:
    """A device report, mirroring the WIT `report` record (same field names)."""

    def __init__(self, id, send, connection=None, wifi_state=None, gsm_state=None,
                 reset=False, state=(), cols=None, rows=None, act_con=None,
                 box_eng=(), box_to=(), box_acc=()):
        self.id = id
        self.send = send
        self.connection = connection
        self.wifi_state = wifi_state
        self.gsm_state = gsm_state
        self.reset = reset
        self.state = state
        self.cols = cols
        self.rows = rows
        self.act_con = act_con
        self.box_eng = box_eng
        self.box_to = box_to
        self.box_acc = box_acc


class ReportError(Exception):
    """The report cannot be handled; the message goes back to the device."""


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message):
    return AdminError(400, message)


def _dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _rust_debug_str(s):
    """A string as Rust's `{:?}` prints it (for messages shared with the twin)."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif not ch.isprintable():  # control, format, separator, unassigned
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _last_key(id): return f"dev/{id}/last"
def _dev_prefix(id): return f"dev/{id}/"
def _code_prefix(id): return f"dev/{id}/code/"
def _code_key(id, cell): return f"dev/{id}/code/{cell:05}"
def _hist_prefix(id): return f"dev/{id}/hist/"
def _hist_key(id, at_ms, cell): return f"dev/{id}/hist/{U64_MAX - at_ms:020}-{cell:05}"
def _blocked_key(id): return f"dev/{id}/blocked"
def _reset_key(id): return f"dev/{id}/reset"
# The index of boards that have reported (the `boards` op), one key each.
BOARD_PREFIX = "board/"
def _board_key(id): return f"{BOARD_PREFIX}{id}"
MAX_BOARDS = 1000


def valid_device_id(id):
    """1-64 ASCII letters, digits, `-`, `_`."""
    return isinstance(id, str) and _DEVICE_ID.fullmatch(id) is not None


def minutes_left(expires_at_ms, now_ms):
    """Whole minutes left, rounded up, at least 1; None once expired."""
    if expires_at_ms <= now_ms:
        return None
    m = max(-(-(expires_at_ms - now_ms) // MS_PER_MIN), 1)
    return min(m, U32_MAX)


# --- reading what the Rust twin (or this one) stored -------------------------
# The checks are serde's: a value that Rust would refuse to read is refused
# here too, so both treat a corrupt entry alike.

def _is_uint(v, limit):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= limit


def _opt_uint(obj, name, limit):
    v = obj.get(name)
    if v is not None and not _is_uint(v, limit):
        raise ValueError(f"field {name}: expected an integer up to {limit}")
    return v


def _req_uint(obj, name, limit):
    if name not in obj:
        raise ValueError(f"missing field `{name}`")
    v = obj[name]
    if not _is_uint(v, limit):
        raise ValueError(f"field {name}: expected an integer up to {limit}")
    return v


def _parse_last(text):
    """A stored LastReport as a dict in the Rust field order; ValueError if
    it is not one."""
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    state = obj.get("state")
    if "state" not in obj:
        raise ValueError("missing field `state`")
    if not isinstance(state, list) or not all(_is_uint(b, U8_MAX) for b in state):
        raise ValueError("field state: expected a list of u8")
    act_con = obj.get("act_con")
    if act_con is not None and not (
        isinstance(act_con, list)
        and all(isinstance(row, list) and all(isinstance(b, bool) for b in row) for row in act_con)
    ):
        raise ValueError("field act_con: expected a list of lists of booleans")
    return {
        "at_ms": _req_uint(obj, "at_ms", U64_MAX),
        "send": _req_uint(obj, "send", U64_MAX),
        "connection": _opt_uint(obj, "connection", U8_MAX),
        "wifi_state": _opt_uint(obj, "wifi_state", U8_MAX),
        "gsm_state": _opt_uint(obj, "gsm_state", U8_MAX),
        "state": state,
        "cols": _opt_uint(obj, "cols", U16_MAX),
        "rows": _opt_uint(obj, "rows", U16_MAX),
        "act_con": act_con,
    }


def _parse_code(text):
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    code = obj.get("code")
    if not isinstance(code, str):
        raise ValueError("field code: expected a string")
    return {
        "cell": _req_uint(obj, "cell", U16_MAX),
        "code": code,
        "expires_at_ms": _req_uint(obj, "expires_at_ms", U64_MAX),
        "assigned_at_ms": _req_uint(obj, "assigned_at_ms", U64_MAX),
    }


def _parse_hist(text):
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return (_req_uint(obj, "at_ms", U64_MAX), _req_uint(obj, "cell", U16_MAX))


# --- reports -----------------------------------------------------------------

def _storage(fn, *args):
    try:
        return fn(*args)
    except StorageError as e:
        raise ReportError(f"storage error: {e}") from None


def _history_ttl_ms(h):
    v = h.config_get("history_days")
    days = DEFAULT_HISTORY_DAYS
    if v is not None:
        t = v.strip().strip('"')
        d = int(t) if _UINT.fullmatch(t) else 0
        if 0 < d <= U64_MAX:
            days = d
        else:
            h.warn(f"config history_days = {_rust_debug_str(v)} is not a positive integer; "
                   f"using {DEFAULT_HISTORY_DAYS}")
    return min(days * MS_PER_DAY, U64_MAX)


def _load_last(h, id):
    """The last report, or None; ReportError if unreadable."""
    text = _storage(h.kv_get, _last_key(id))
    if text is None:
        return None
    try:
        return _parse_last(text)
    except ValueError as e:
        raise ReportError(f"storage error: corrupt last report for {id}: {e}") from None


# How long an expired code stays in the store (its kv TTL is its life plus
# this), so that `status` can show it as expired.
EXPIRED_KEPT_MS = 3_600_000


def _stored_codes(h, id):
    """Every stored code, live or expired within EXPIRED_KEPT_MS, sorted by
    cell, one per cell; unreadable entries are skipped."""
    out = []
    for key, value in _storage(h.kv_list, _code_prefix(id), LIST_ALL):
        try:
            out.append(_parse_code(value))
        except ValueError as e:
            h.warn(f"ignoring unreadable code entry {key}: {e}")
    out.sort(key=lambda c: c["cell"])  # stable, like Rust's sort_by_key
    deduped = []
    for c in out:
        if not deduped or deduped[-1]["cell"] != c["cell"]:
            deduped.append(c)
    return deduped


def _live_codes(h, id, now):
    """[(stored code, minutes left)] of the live codes, sorted by cell."""
    out = []
    for c in _stored_codes(h, id):
        m = minutes_left(c["expires_at_ms"], now)
        if m is not None:
            out.append((c, m))
    return out


def handle_report(h, r):
    """One device report: record it, apply BOX_TO / BOX_ACC, build the answer
    (reset, block, [(cell, code, minutes)]). ReportError on failure."""
    if not valid_device_id(r.id):
        raise ReportError(
            f"invalid device id {_rust_debug_str(r.id)}: expected 1-64 letters, digits, '-' or '_'")
    id = r.id
    now = h.now_ms()

    # A report without COLS/ROWS/ACT_CON keeps the values last reported: the
    # size of a board does not change between reports.
    prev = None
    text = _storage(h.kv_get, _last_key(id))
    if text is not None:
        try:
            prev = _parse_last(text)
        except ValueError as e:
            h.warn(f"overwriting unreadable last report of {id}: {e}")
    pc, pr, pa = (prev["cols"], prev["rows"], prev["act_con"]) if prev else (None, None, None)
    last = {
        "at_ms": now,
        "send": r.send,
        "connection": r.connection,
        "wifi_state": r.wifi_state,
        "gsm_state": r.gsm_state,
        "state": list(r.state),
        "cols": r.cols if r.cols is not None else pc,
        "rows": r.rows if r.rows is not None else pr,
        "act_con": [list(row) for row in r.act_con] if r.act_con is not None else pa,
    }
    _storage(h.kv_set, _last_key(id), _dumps(last), None)
    if text is None:
        # first report: into the index of boards (one write per board, ever)
        _storage(h.kv_set, _board_key(id), "1", None)

    for cell in r.box_to:
        _storage(h.kv_delete, _code_key(id, cell))

    if r.box_acc:
        ttl = _history_ttl_ms(h)
        for cell in r.box_acc:
            v = _dumps({"at_ms": now, "cell": cell})  # serde_json's json! sorts keys
            _storage(h.kv_set, _hist_key(id, now, cell), v, ttl)

    cells = [(c["cell"], c["code"], m) for c, m in _live_codes(h, id, now)]
    block = _storage(h.kv_get, _blocked_key(id)) is not None
    # Taken last, so that a failure above does not lose the flag.
    reset = _storage(h.kv_delete, _reset_key(id))
    return reset, block, cells


# --- admin -------------------------------------------------------------------

def _kv(fn, *args):
    try:
        return fn(*args)
    except StorageError as e:
        raise AdminError(500, f"storage error: {e}") from None


def _internal(fn, *args):
    try:
        return fn(*args)
    except ReportError as e:
        raise AdminError(500, str(e)) from None


def _get_device(obj):
    v = obj.get("device")
    if v is None:
        raise _bad('missing field "device"')
    if not isinstance(v, str):
        raise _bad('"device" must be a string')
    if not valid_device_id(v):
        raise _bad("invalid \"device\": expected 1-64 letters, digits, '-' or '_'")
    return v


def _get_uint(obj, name):
    v = obj.get(name)
    if v is None:
        raise _bad(f'missing field "{name}"')
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f'"{name}" must be an integer')
    if not _is_uint(v, U64_MAX):
        raise _bad(f'"{name}" must be a non-negative integer')
    return v


def _get_cell(obj):
    cell = _get_uint(obj, "cell")
    if cell < 1:
        raise _bad('"cell" must be at least 1')
    if cell > U16_MAX:
        raise _bad(f'"cell" {cell} is out of range')
    return cell


def _parse_request(request):
    def no_constant(name):
        raise ValueError(f"{name} is not JSON")
    try:
        return json.loads(request, parse_constant=no_constant)
    except (ValueError, RecursionError) as e:
        raise _bad(f"invalid JSON: {e}") from None


def handle_admin(h, request):
    """POST /admin/locker: one JSON operation; the answer as JSON text, or
    AdminError."""
    obj = _parse_request(request)
    if not isinstance(obj, dict):
        raise _bad("request must be a JSON object")
    op = obj.get("op")
    if op is None:
        raise _bad('missing field "op"')
    if not isinstance(op, str):
        raise _bad('"op" must be a string')
    if op == "assign":
        out = _assign(h, obj)
    elif op == "revoke":
        device = _get_device(obj)
        cell = _get_cell(obj)
        revoked = _kv(h.kv_delete, _code_key(device, cell))
        out = {"ok": True, "revoked": revoked}
    elif op == "block":
        device = _get_device(obj)
        _kv(h.kv_set, _blocked_key(device), "1", None)
        out = {"ok": True}
    elif op == "unblock":
        device = _get_device(obj)
        _kv(h.kv_delete, _blocked_key(device))
        out = {"ok": True}
    elif op == "reset":
        device = _get_device(obj)
        _kv(h.kv_set, _reset_key(device), "1", None)
        out = {"ok": True}
    elif op == "status":
        out = _status(h, obj)
    elif op == "boards":
        out = _boards(h)
    else:
        raise _bad(f"unknown op {_rust_debug_str(op)}: expected assign, revoke, block, "
                   "unblock, reset, status or boards")
    # serde_json's json! objects come out with sorted keys.
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _assign(h, obj):
    device = _get_device(obj)
    cell = _get_cell(obj)
    code = obj.get("code")
    if code is None:
        raise _bad('missing field "code"')
    if not isinstance(code, str):
        raise _bad('"code" must be a string of digits')
    if not (0 < len(code.encode()) <= MAX_CODE_DIGITS and code.isascii() and _DIGITS.fullmatch(code)):
        raise _bad(f'"code" must be 1-{MAX_CODE_DIGITS} ASCII digits')
    # How long the code lives: whole minutes (the protocol's unit) or, for an
    # exact expiry, seconds. Exactly one of the two.
    if "minutes" in obj and "seconds" in obj:
        raise _bad('give "minutes" or "seconds", not both')
    if "seconds" in obj:
        seconds = _get_uint(obj, "seconds")
        if not 1 <= seconds <= MAX_MINUTES * 60:
            raise _bad(f'"seconds" must be between 1 and {MAX_MINUTES * 60}')
        ttl = seconds * 1000
    else:
        minutes = _get_uint(obj, "minutes")
        if not 1 <= minutes <= MAX_MINUTES:
            raise _bad(f'"minutes" must be between 1 and {MAX_MINUTES}')
        ttl = minutes * MS_PER_MIN

    last = _internal(_load_last, h, device)
    if last is None or last["cols"] is None or last["rows"] is None:
        raise AdminError(409, f"device {_rust_debug_str(device)} has not reported its "
                              f"COLS/ROWS yet; cannot check cell {cell}")
    cols, rows = last["cols"], last["rows"]
    cells = cols * rows
    if cell > cells:
        raise _bad(f"cell {cell} is out of range: device {_rust_debug_str(device)} has "
                   f"{cells} cells ({cols} cols x {rows} rows)")

    now = h.now_ms()
    expires_at_ms = min(now + ttl, U64_MAX)
    stored = {"cell": cell, "code": code, "expires_at_ms": expires_at_ms, "assigned_at_ms": now}
    _kv(h.kv_set, _code_key(device, cell), _dumps(stored), min(ttl + EXPIRED_KEPT_MS, U64_MAX))
    return {"ok": True, "device": device, "cell": cell, "code": code,
            "expires_at_ms": expires_at_ms}


def _boards(h):
    """Every board that has reported (at most MAX_BOARDS, by id)."""
    now = h.now_ms()
    out = []
    for key, _ in _kv(h.kv_list, BOARD_PREFIX, MAX_BOARDS):
        device = key[len(BOARD_PREFIX):]
        l = _internal(_load_last, h, device)
        if l is None:
            continue
        board = _board_json(device, l)
        board["blocked"] = _kv(h.kv_get, _blocked_key(device)) is not None
        board["active_codes"] = len(_internal(_live_codes, h, device, now))
        out.append(board)
    return {"boards": out}


_NO_REPORT = {"at_ms": 0, "send": 0, "connection": None, "wifi_state": None,
              "gsm_state": None, "state": [], "cols": None, "rows": None, "act_con": None}


def _board_json(device, last):
    """What `boards` and `status` both say of a board: its last report."""
    l = last or _NO_REPORT
    return {
        "device": device,
        "last_report_ms": last["at_ms"] if last else None,
        "connection": l["connection"],
        "wifi_state": l["wifi_state"],
        "gsm_state": l["gsm_state"],
        "state": l["state"],
        "cols": l["cols"],
        "rows": l["rows"],
    }


def _status(h, obj):
    device = _get_device(obj)
    if not _kv(h.kv_list, _dev_prefix(device), 1):
        raise AdminError(404, f"unknown device {_rust_debug_str(device)}: nothing stored for it")
    now = h.now_ms()
    last = _internal(_load_last, h, device)
    blocked = _kv(h.kv_get, _blocked_key(device)) is not None
    reset_pending = _kv(h.kv_get, _reset_key(device)) is not None
    cells, expired = [], []
    for c in _internal(_stored_codes, h, device):
        m = minutes_left(c["expires_at_ms"], now)
        if m is not None:
            cells.append({"cell": c["cell"], "code": c["code"], "minutes_left": m,
                          "expires_at_ms": c["expires_at_ms"]})
        else:
            expired.append({"cell": c["cell"], "code": c["code"],
                            "expired_at_ms": c["expires_at_ms"]})
    hist = []
    for _, v in _kv(h.kv_list, _hist_prefix(device), MAX_HISTORY):
        try:
            hist.append(_parse_hist(v))
        except ValueError:
            pass
    hist.sort()
    history = [{"cell": cell, "at_ms": at_ms} for at_ms, cell in hist]

    l = last or _NO_REPORT
    act_con = l["act_con"]
    connected_locks = sum(1 for row in act_con for b in row if b) if act_con else 0
    out = _board_json(device, last)
    out.update({
        "known": last is not None,
        "act_con": act_con,
        "connected_locks": connected_locks,
        "blocked": blocked,
        "reset_pending": reset_pending,
        "cells": cells,
        "expired": expired,
        "history": history,
    })
    return out
