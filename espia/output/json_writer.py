"""JSON: one object per line for streams; pretty-printed objects with jsonpretty.

Keys are the lower-case field names, nested at the dots ("k8s.pod" ->
{"k8s": {"pod": ...}}).  The compact writer renders lines with a plan compiled once
per gadget and run in C (_jsonfmt.c): at a flood's pace the line was a third of
espia's CPU per event when Python formatted it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO, TextIO

from espia._codegen import access
from espia.gadget.event import Event
from espia.gadget.fields import Field, Memo, ValueKind
from espia.output import _jsonfmt
from espia.output._shared import container_only, per_container
from espia.semantic.process import BootClock

Step = tuple[bytes, int, tuple[str, ...], object]

_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _json_map(value: Any) -> str:
    return json.dumps(dict(value), sort_keys=True, ensure_ascii=False) if value else "{}"


def _quoted(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """`render`, its text made a JSON string."""

    def quoted(value: Any) -> str:
        return str(_quote(render(value)))

    return quoted


def _tree(fields: tuple[Field, ...]) -> dict[str, Any]:
    """{"k8s": {"pod": field, ...}, "pid": field, ...} in field order."""
    root: dict[str, Any] = {}
    for field in fields:
        node = root
        *parents, leaf = field.name.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = field
    return root


def _step(field: Field) -> tuple[int, object]:
    """How the plan writes `field`'s value: its kind, and the memo, renderer or clock."""
    if field.json_value is not None:
        return _jsonfmt.LIST, field.json_value
    if field.json_render is not None:
        clock = getattr(field.json_render, "__self__", None)
        if isinstance(clock, BootClock) and field.json_render == clock.quoted:
            return _jsonfmt.TIME, clock
        return _jsonfmt.CALL, field.json_render
    if field.json_text and field.render is not None:
        # Values repeat (flags, errno names, a server's endpoint): each is quoted once.
        return _jsonfmt.MEMO, Memo(_quoted(field.render))
    if field.kind is ValueKind.STR:
        return _jsonfmt.STR, None
    if field.kind is ValueKind.BOOL:
        return _jsonfmt.BOOL, None
    if field.kind is ValueKind.MAP:
        return _jsonfmt.CALL, _json_map
    return _jsonfmt.INT, None


def _steps(node: dict[str, Any], opening: str, steps: list[Step]) -> str:
    """Appends the steps of `node`'s members to `steps`, the first one's prefix led by
    `opening`; returns the constant text left after the last value."""
    text = opening
    for index, (key, value) in enumerate(node.items()):
        text += ("," if index else "") + f"{_quote(key)}:"
        if isinstance(value, dict):
            text = _steps(value, text + "{", steps) + "}"
            continue
        field: Field = value
        access(field.path)  # the path's names are checked as for generated code
        kind, arg = _step(field)
        steps.append((text.encode(), kind, field.path, arg))
        text = ""
    return text


def _leaves(node: Any) -> Any:
    if isinstance(node, dict):
        for child in node.values():
            yield from _leaves(child)
    else:
        yield node


def _plan(fields: tuple[Field, ...], tail: str) -> _jsonfmt.Plan:
    """The plan of one JSON object per event, then `tail`.

    The leading keys that only read the container ("runtime", "k8s") are
    rendered by a second plan, once per container (output._shared).
    """
    tree = _tree(fields)
    shared: dict[str, Any] = {}
    for key, node in tree.items():
        if not all(container_only(f) for f in _leaves(node)) or len(shared) == len(tree) - 1:
            break
        shared[key] = node
    steps: list[Step] = []
    opening = "{"
    if shared:
        shared_steps: list[Step] = []
        prefix = _jsonfmt.Plan(shared_steps, _steps(shared, "", shared_steps).encode())
        steps.append((b"{", _jsonfmt.CALL, (), per_container(prefix.render)))
        opening = ","
    rest = _steps({k: v for k, v in tree.items() if k not in shared}, opening, steps)
    return _jsonfmt.Plan(steps, (rest + "}" + tail).encode())


class JsonOutput:
    """One JSON object per event (per line unless `pretty`), or with `lists` one list
    per batch; losses as {"lost_events": N}.

    Compact lines are bytes from a compiled plan, written to the stream's binary
    buffer where it has one (stdout), else decoded for a text-only stream.
    """

    def __init__(
        self,
        fields: tuple[Field, ...],
        out: TextIO,
        err: TextIO,
        pretty: bool = False,
        lists: bool = False,
        title: str = "",
    ) -> None:
        self.out = out
        self.err = err
        self._indent = 2 if pretty else None
        self._lists = lists
        self._plan = None if pretty else _plan(fields, "" if lists else "\n")
        self._binary: BinaryIO | None = None if pretty else getattr(out, "buffer", None)
        if self._binary is not None:
            out.flush()  # what was written as text goes first

    def begin(self) -> None:
        pass

    def _emit(self, data: bytes) -> None:
        if self._binary is not None:
            self._binary.write(data)
            self._binary.flush()
        else:
            self.out.write(data.decode())
            self.out.flush()

    def write(self, events: list[Event]) -> None:
        if self._plan is None:
            if self._lists:
                listed = [event.to_dict() for event in events]
                self.out.write(json.dumps(listed, indent=self._indent) + "\n")
            else:
                for event in events:
                    self.out.write(json.dumps(event.to_dict(), indent=self._indent) + "\n")
            self.out.flush()
        elif self._lists:  # the batch as one JSON list, empty included: a snapshot of nothing is []
            self._emit(b"[" + self._plan.lines(events, b",") + b"]\n")
        elif events:
            self._emit(self._plan.lines(events))

    def lost(self, count: int, total: int, node: str = "") -> None:
        record: dict[str, object] = {"lost_events": count, "lost_total": total}
        if node:
            record["node"] = node
        self._emit((json.dumps(record, indent=self._indent) + "\n").encode())

    def end(self) -> None:
        if self._binary is not None:
            self._binary.flush()
        self.out.flush()
