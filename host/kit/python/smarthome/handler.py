"""The rules of %%name%%, free of the WIT bindings so that test_handler.py
runs them on plain CPython (app.py binds them to the component)."""

import json
import re

SEND_DATABASE = 0x4C  # the client's word asking for the database
DATABASE = 0x43  # the answer's word: here is the database
BLOB = "home.db"  # the blob holding the database
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


class HandlerError(Exception):
    """A command the plugin cannot answer: the host's error frame."""


class AdminError(Exception):
    """An admin request refused: (HTTP status, why)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def admin_op(request: str) -> tuple[str, bytes | None]:
    """Parses an admin request: ("upload", data) for
    {"op":"upload","data_hex":"..."}, ("current", None) for {"op":"current"}."""
    try:
        v = json.loads(request)
    except ValueError as e:
        raise AdminError(400, f"not JSON: {e}") from None
    op = v.get("op") if isinstance(v, dict) else None
    if op == "current":
        return ("current", None)
    if op != "upload":
        raise AdminError(400, 'op is "upload" or "current"')
    data_hex = v.get("data_hex")
    if not isinstance(data_hex, str):
        raise AdminError(400, "upload needs data_hex (the file, in hex)")
    if not _HEX.fullmatch(data_hex):
        raise AdminError(400, "data_hex is not hex")
    if not data_hex:
        raise AdminError(400, "data_hex is empty")
    return ("upload", bytes.fromhex(data_hex))


def answer(command: int, database: bytes | None) -> tuple[int, bytes]:
    """The answer to `command` given the stored database: (word, payload)."""
    if command != SEND_DATABASE:
        raise HandlerError(f"unknown command word {command:#x}")
    if database is None:
        raise HandlerError("no database has been uploaded yet")
    return (DATABASE, database)
