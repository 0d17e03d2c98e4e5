"""%%name%%: a wasmgate plugin of world `exec` (the remote-execute relay).

The host owns the WebSocket, decodes each client text frame into a typed
request and sends the texts the handler returns; it also sends the server
heartbeat itself. This relay has one room, the session group `handler.ROOM`:
a client that logs in with the token of the config value `token` joins it,
and every command it sends after that reaches the other members as it was
received. The rules are in handler.py; this module binds them to the classes
componentize-py generates from wit/ (package `wit_world`).
"""

import handler
from componentize_py_types import Err
from handler import ROOM
from wit_world import exports
from wit_world.exports import exec_handler as ex
from wit_world.imports import config, logging, sessions

LOGGED_IN = "logged-in"  # the session attribute set once a client logged in


def reply(text: str) -> ex.Outgoing:
    return ex.Outgoing(to=sessions.Target_Reply(), text=text)


class ExecHandler(exports.ExecHandler):
    def handle(self, session: int, request: ex.ExecRequest) -> list[ex.Outgoing]:
        if isinstance(request, ex.ExecRequest_Init):
            ok = handler.token_ok(request.value, config.get("token"))
            if ok:
                sessions.set_attr(session, LOGGED_IN, "1")
                sessions.join(session, ROOM)
            else:
                # Never log the token itself.
                logging.log(logging.Level.INFO, "init", "refused a login")
                sessions.close(session)
            return [reply(handler.init_reply(ok))]
        if sessions.get_attr(session, LOGGED_IN) is None:
            raise Err("log in first (init)")
        if isinstance(request, ex.ExecRequest_CheckDevice):
            return [reply(handler.check_device_reply(len(sessions.members(ROOM))))]
        if isinstance(request, ex.ExecRequest_Heartbeat):
            return [reply(handler.HEARTBEAT)]
        if isinstance(request, ex.ExecRequest_Command):
            # Relayed verbatim to everyone else in the room.
            return [ex.Outgoing(to=sessions.Target_GroupOthers(ROOM), text=request.value.text)]
        # ExecRequest_Invalid: not JSON, or no "cmd": skipped without an answer.
        return []

    def closed(self, session: int) -> None:
        """The host removes the session from its groups itself."""


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: how many clients are in the room."""
        return '{"members":%d}' % len(sessions.members(ROOM))
