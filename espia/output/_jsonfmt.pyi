"""Types of the JSON line renderer (_jsonfmt.c)."""

from collections.abc import Sequence

INT: int
STR: int
BOOL: int
MEMO: int
CALL: int
TIME: int
LIST: int

class Plan:
    """Steps (prefix, kind, path, arg): the prefix's bytes, then the value at `path` from
    the event written by `kind` (MEMO, CALL, TIME and LIST with their `arg`); then `tail`."""

    def __init__(
        self, steps: Sequence[tuple[bytes, int, tuple[str, ...], object]], tail: bytes
    ) -> None: ...
    def render(self, event: object) -> bytes: ...
    def lines(self, events: Sequence[object], separator: bytes = ...) -> bytes: ...
