"""wasmgate locker policy component in Python (world `locker`).

The policy lives in policy.py; this module adapts it to the bindings that
componentize-py generates from ../../wit (package `wit_world`):

    componentize-py -d ../../wit -w locker componentize app -o locker_py.wasm

componentize-py looks for a class named after each exported interface
(`LockerHandler`, `Admin`); a WIT `result` error is raised as `Err(value)`.
"""

import policy
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import admin, locker_handler
from wit_world.imports import host


class WitHost(policy.Host):
    """The policy's host: the WIT `host` imports (an Err becomes StorageError)."""

    def kv_get(self, key):
        try:
            return host.kv_get(key)
        except Err as e:
            raise policy.StorageError(e.value) from None

    def kv_set(self, key, value, ttl_ms):
        try:
            host.kv_set(key, value, ttl_ms)
        except Err as e:
            raise policy.StorageError(e.value) from None

    def kv_delete(self, key):
        try:
            return host.kv_delete(key)
        except Err as e:
            raise policy.StorageError(e.value) from None

    def kv_list(self, prefix, limit):
        try:
            return host.kv_list(prefix, limit)
        except Err as e:
            raise policy.StorageError(e.value) from None

    def now_ms(self):
        return host.now_ms()

    def config_get(self, key):
        return host.config_get(key)

    def warn(self, message):
        host.log(host.LogLevel.WARN, message)


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
