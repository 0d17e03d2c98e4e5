"""The relay rules and texts of %%name%%, free of the WIT bindings so that
test_handler.py runs them on plain CPython (app.py binds them to the
component)."""

import hmac
import json

ROOM = "room"  # the session group of the logged-in clients
# The answer to a client's own {"cmd":"Heartbeat"}.
HEARTBEAT = '{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}'


def _json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def token_ok(given: str, configured: str | None) -> bool:
    """Whether `given` is the configured token. No configured token (or an
    empty one) lets nobody in."""
    if not configured:
        return False
    return hmac.compare_digest(given.encode(), configured.encode())


def init_reply(accepted: bool) -> str:
    """The answer to an init: accepted (the room's id) or refused."""
    if accepted:
        return _json({"cmd": "init", "code": "1", "session_id": ROOM})
    return _json({"cmd": "init", "code": "0", "extra": {"msg": "invalid or expired token"}})


def check_device_reply(members: int) -> str:
    """The answer to checkDevice: "1" when the room holds more than the
    asking client."""
    return _json({"cmd": "checkDevice", "code": "1" if members > 1 else "0", "extra": {}})
