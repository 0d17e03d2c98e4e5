"""%%name%%: a wasmgate plugin of world `raw`, for a protocol defined in the
host's configuration alone.

The listener's `framing` (lines, length-prefixed, fixed-size or WebSocket
messages) cuts the byte stream into frames; the host calls
`RawHandler.handle` with each frame and writes the frames it returns, framed
the same way. This one echoes each frame to its sender, prefixed by the
config value `prefix`. The logic is in handler.py; this module binds it to
the classes componentize-py generates from wit/ (package `wit_world`).
"""

import handler
from wit_world import exports
from wit_world.exports import raw_handler
from wit_world.imports import config, sessions


class RawHandler(exports.RawHandler):
    def opened(self, session: int) -> list[raw_handler.Outgoing]:
        """A connection opened: nothing to say first."""
        return []

    def handle(self, session: int, frame: bytes) -> list[raw_handler.Outgoing]:
        answer = handler.echo(frame, config.get("prefix"))
        return [raw_handler.Outgoing(to=sessions.Target_Reply(), frame=answer)]

    def closed(self, session: int) -> list[raw_handler.Outgoing]:
        """The connection ended: nobody else to tell."""
        return []


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: nothing to administer."""
        return "{}"
