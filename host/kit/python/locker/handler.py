"""The locker policy of %%name%%, free of the WIT bindings so that
test_handler.py runs it on plain CPython (app.py binds it to the component).
"""

from dataclasses import dataclass, field


@dataclass
class Answer:
    """What a board is told (the WIT `answer`, without the bindings' types)."""

    reset: bool = False  # ask the board to reboot
    block: bool = False  # block access: the board shows STATE=3
    # (cell, code, minutes left) of every code the board must accept
    cells: list[tuple[int, str, int]] = field(default_factory=list)


class ReportError(Exception):
    """A report the policy refuses: answered with the protocol's error line."""


def is_blocked(board_id: str, blocked: str | None) -> bool:
    """Whether the board is in `blocked`, the config value: board IDs
    separated by commas (spaces around them are ignored)."""
    return blocked is not None and any(b.strip() == board_id for b in blocked.split(","))


def answer(board_id: str, blocked: str | None) -> Answer:
    """The answer to a report from board `board_id`. No codes yet: a real
    policy keeps them in the key-value store (`keyvalue.set` with a TTL) and
    lets operators set them through `Admin.handle`."""
    if not board_id:
        # The host refuses reports without an ID; a policy checks anyway.
        raise ReportError("report without an ID")
    return Answer(block=is_blocked(board_id, blocked))
