"""The greeting of %%name%%, free of the WIT bindings so that
test_handler.py runs it on plain CPython (app.py binds it to the component).
"""

MAX_NAME = 64


class GreetError(Exception):
    """A name the plugin refuses: the host writes `ERROR <reason>`."""


def greet(name: str, greeting: str | None) -> str:
    """`<greeting>, <name>!`, "Hello" when no greeting is configured."""
    if len(name.encode()) > MAX_NAME:
        raise GreetError(f"name longer than {MAX_NAME} bytes")
    return f"{greeting or 'Hello'}, {name}!"
