"""Minimal Python plugin (world `raw`), the twin of plugins/echo-raw: echoes
each frame back, prefixed by the plugin's config value `prefix`.

    componentize-py -d ../../wit -w raw componentize app -o echo_py.wasm
"""

from wit_world import exports
from wit_world.exports import raw_handler
from wit_world.imports import config, sessions


class RawHandler(exports.RawHandler):
    def opened(self, session: int) -> list[raw_handler.Outgoing]:
        return []

    def handle(self, session: int, frame: bytes) -> list[raw_handler.Outgoing]:
        prefix = (config.get("prefix") or "").encode()
        return [raw_handler.Outgoing(to=sessions.Target_Reply(), frame=prefix + frame)]

    def closed(self, session: int) -> list[raw_handler.Outgoing]:
        return []


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        return '{"ok":true}'
