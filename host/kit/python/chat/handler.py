"""The chat rules of %%name%%, free of the WIT bindings so that
test_handler.py runs them on plain CPython (app.py binds them to the
component)."""

import re

ONLINE = "online"  # the session group of everyone logged in
ATTR_NAME = "name"  # the session attribute that holds a user's name
MAX_NAME = 32
_NAME = re.compile(r"[A-Za-z0-9]+")  # ASCII only, as the Rust twin


def login_refusal(name: str, password: str | None) -> str | None:
    """Why `name` cannot log in, or None. Guests only: a password asks for a
    registered user, which this plugin does not keep yet."""
    if password:
        return "only guests can log in here: leave the password out"
    if not 1 <= len(name) <= MAX_NAME:
        return f"a name has 1 to {MAX_NAME} characters"
    if not _NAME.fullmatch(name):
        return "a name has only letters and digits"
    return None


def user_key(name: str) -> str:
    """The name's claim and the group of its session: names are unique
    whatever their case."""
    return "user:" + name.lower()
