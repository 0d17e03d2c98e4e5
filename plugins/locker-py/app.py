"""wasmgate locker policy component in Python (world `locker`).

The policy lives in policy.py; this module adapts it to the bindings that
componentize-py generates from ../../wit (package `wit_world`):

    componentize-py -d ../../wit -w locker componentize app -o locker_py.wasm

componentize-py looks for a class named after each exported interface
(`LockerHandler`, `Admin`); a WIT `result` error is raised as `Err(value)`.
"""

import time

import policy
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import admin, locker_handler
from wit_world.imports import config, keyvalue, logging, types


def describe(error):
    """A host error (WIT `types.error`) as text, worded as the Rust SDK's
    `Display` of `wasmgate_sdk::Error`, so both twins say the same."""
    if isinstance(error, types.Error_TooLarge):
        return f"too large (the limit is {error.value} bytes)"
    if isinstance(error, types.Error_Unavailable):
        return f"unavailable: {error.value}"
    return error.value


def _kv(f, *args):
    try:
        return f(*args)
    except Err as e:
        raise policy.StorageError(describe(e.value)) from None


class WitHost(policy.Host):
    """The policy's host: the WIT imports (an Err becomes StorageError)."""

    def kv_get(self, key):
        return _kv(keyvalue.get, key)

    def kv_set(self, key, value, ttl_ms):
        _kv(keyvalue.set, key, value, ttl_ms)

    def kv_delete(self, key):
        return _kv(keyvalue.delete, key)

    def kv_list(self, prefix, limit):
        return _kv(keyvalue.list_entries, prefix, limit)

    def now_ms(self):
        # CPython's clock is wasi:clocks/wall-clock.
        return time.time_ns() // 1_000_000

    def config_get(self, key):
        return config.get(key)

    def warn(self, message):
        logging.log(logging.Level.WARN, "", message)


HOST = WitHost()


class LockerHandler(exports.LockerHandler):
    def handle(self, report: locker_handler.Report) -> locker_handler.Answer:
        # The WIT record has the policy's field names, so it is passed as is.
        try:
            reset, block, cells = policy.handle_report(HOST, report)
        except policy.ReportError as e:
            raise Err(str(e)) from None
        return locker_handler.Answer(
            reset=reset,
            block=block,
            cells=[locker_handler.CellCode(cell=c, code=code, minutes=m) for c, code, m in cells],
        )


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        try:
            return policy.handle_admin(HOST, request)
        except policy.AdminError as e:
            raise Err(admin.AdminError(status=e.status, message=e.message)) from None
