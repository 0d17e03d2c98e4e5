"""%%name%%: a wasmgate plugin of world `smarthome`.

A client sends one command word; the host calls `SmarthomeHandler.handle`
with it, writes the answer (command word, length, payload) and closes the
connection. This one serves the home's database, which an operator uploads
through POST /admin/%%name%% and which is kept in the plugin's blob store.
The rules are in handler.py; this module binds them to the classes
componentize-py generates from wit/ (package `wit_world`).
"""

import handler
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import admin, smarthome_handler
from wit_world.imports import blobs, types


def describe(error) -> str:
    """A host error (WIT `types.error`) in words."""
    if isinstance(error, types.Error_TooLarge):
        return f"too large (the limit is {error.value} bytes)"
    if isinstance(error, types.Error_Unavailable):
        return f"unavailable: {error.value}"
    return error.value


def stored() -> bytes | None:
    try:
        return blobs.get(handler.BLOB)
    except Err as e:
        raise Err(describe(e.value)) from None


class SmarthomeHandler(exports.SmarthomeHandler):
    def handle(self, command: int) -> smarthome_handler.Response:
        try:
            word, payload = handler.answer(command, stored())
        except handler.HandlerError as e:
            raise Err(str(e)) from None
        return smarthome_handler.Response(command=word, payload=payload)


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: upload the database, or ask what is served."""
        try:
            op, data = handler.admin_op(request)
            if op == "upload":
                blobs.set(handler.BLOB, data)
                return '{"ok":true,"bytes":%d}' % len(data)
            db = blobs.get(handler.BLOB)
            return '{"bytes":%d}' % (len(db) if db is not None else 0)
        except handler.AdminError as e:
            raise Err(admin.AdminError(status=e.status, message=e.message)) from None
        except Err as e:
            raise Err(admin.AdminError(status=500, message=describe(e.value))) from None
