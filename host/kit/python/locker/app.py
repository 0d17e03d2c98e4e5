"""%%name%%: a wasmgate plugin of world `locker` (locker boards, "ACon").

The host parses each board report (`ACon_V1.0` ... `CLOSE`) and calls
`LockerHandler.handle`; the answer's reset, block and cell codes become the
lines the board reads (the host adds ID and SEND). The decision is in
handler.py; this module binds it to the classes componentize-py generates
from wit/ (package `wit_world`): one class per exported interface, named
after it, and a WIT `result` error raised as `Err(value)`.
"""

import handler
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import locker_handler
from wit_world.imports import config


class LockerHandler(exports.LockerHandler):
    def handle(self, report: locker_handler.Report) -> locker_handler.Answer:
        try:
            a = handler.answer(report.id, config.get("blocked"))
        except handler.ReportError as e:
            raise Err(str(e)) from None
        return locker_handler.Answer(
            reset=a.reset,
            block=a.block,
            cells=[locker_handler.CellCode(cell=c, code=code, minutes=m) for c, code, m in a.cells],
        )


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: nothing to administer yet."""
        return "{}"
