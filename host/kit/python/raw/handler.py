"""What %%name%% answers, free of the WIT bindings so that test_handler.py
runs it on plain CPython (app.py binds it to the component)."""


def echo(frame: bytes, prefix: str | None) -> bytes:
    """The answer to `frame`: the frame, prefixed by `prefix` (UTF-8)."""
    return (prefix or "").encode() + frame
