"""The decisions of %%name%%, free of the WIT bindings so that
test_handler.py runs them on plain CPython (app.py binds them to the
component)."""


def login_ok(token: str, tokens: str | None) -> bool:
    """Whether `token` is one of `tokens`, the config value (comma-separated).
    Padding the camera sent (NULs, spaces) is not part of a token."""
    token = token.strip("\0 \t\r\n")
    return bool(token) and tokens is not None and any(t.strip() == token for t in tokens.split(","))


def image_kind(image: bytes) -> str | None:
    """The kind of photo `image` is, by its first bytes."""
    if image.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None
