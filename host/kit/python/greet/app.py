"""%%name%%: a wasmgate plugin of world `greet`.

The client sends `HELLO <name>` on a line; the host calls
`GreetHandler.greet` with the name and writes the answer back as one line
(an error as `ERROR <reason>`). The logic is in handler.py; this module binds
it to the classes componentize-py generates from wit/ (package `wit_world`).
"""

import handler
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config


class GreetHandler(exports.GreetHandler):
    def greet(self, name: str) -> str:
        try:
            return handler.greet(name, config.get("greeting"))
        except handler.GreetError as e:
            raise Err(str(e)) from None


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: nothing to administer."""
        return "{}"
