"""JSON: one object per line for streams; pretty-printed objects with jsonpretty.

Keys are the lower-case field names, nested at the dots ("k8s.pod" ->
{"k8s": {"pod": ...}}).  The compact writer formats a line with one
generated %-template per gadget, the strings escaped by the json module's C
encoder, which is several times faster than building a dict and dumping it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TextIO

from espia._codegen import access, compile_function
from espia.gadget.event import Event
from espia.gadget.fields import Field, Memo, ValueKind, memo_of
from espia.output._shared import container_only, per_container

_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_byte_escapes = re.compile("[\udc80-\udcff]")


def _quote_text(text: str) -> str:
    """A traced string as JSON, lossless: a byte that was not UTF-8 (decoded as the
    surrogate U+DC80+byte, "surrogateescape") is written as the escape \\udcNN.

    `json.loads(line)[key].encode("utf-8", "surrogateescape")` gives back the
    exact bytes; valid UTF-8 can never produce these code points.
    """
    quoted = _quote(text)
    if quoted.isascii() or not _byte_escapes.search(quoted):
        return quoted
    return _byte_escapes.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _json_list(values: list[str]) -> str:
    """A list of traced strings, each as lossless as a string field (see _quote_text)."""
    return "[" + ",".join(map(_quote_text, values)) + "]"


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


def _members(node: dict[str, Any], args: list[str], scope: dict[str, Any]) -> str:
    """'"key":%s,"other":%d...' for the members of `node`; their values' code go to `args`."""
    parts = []
    for key, value in node.items():
        if isinstance(value, dict):
            parts.append(f"{_quote(key)}:{{{_members(value, args, scope)}}}")
            continue
        field: Field = value
        index = len(args)
        raw = access(field.path)
        if field.json_value is not None:
            scope[f"_list{index}"] = field.json_value
            args.append(f"_json_list(_list{index}({raw}))")
            spec = "%s"
        elif field.json_render is not None:
            scope[f"_json{index}"] = field.json_render
            args.append(f"_json{index}({raw})")
            spec = "%s"
        elif field.json_text and field.render is not None and memo_of(field.render) is not None:
            # Few values (flags, errno names): keep each one's quoted text.
            scope[f"_text{index}"] = Memo(_quoted(field.render))
            args.append(f"_text{index}[{raw}]")
            spec = "%s"
        elif field.json_text and field.render is not None:
            # Values repeat (a server's endpoint, a packet's direction): each is quoted once.
            scope[f"_text{index}"] = Memo(_quoted(field.render))
            args.append(f"_text{index}[{raw}]")
            spec = "%s"
        elif field.kind is ValueKind.STR:
            # So do strings (comms, DNS names and types): a bounded table of their JSON.
            scope[f"_text{index}"] = Memo(_quote_text)
            args.append(f"_text{index}[{raw}]")
            spec = "%s"
        elif field.kind is ValueKind.BOOL:
            args.append(f"('true' if {raw} else 'false')")  # inline: no call per event
            spec = "%s"
        elif field.kind is ValueKind.MAP:
            args.append(f"_map({raw})")
            spec = "%s"
        else:
            args.append(raw)
            spec = "%d"
        parts.append(f"{_quote(key)}:{spec}")
    return ",".join(parts)


def _leaves(node: Any) -> Any:
    if isinstance(node, dict):
        for child in node.values():
            yield from _leaves(child)
    else:
        yield node


def _formatter(fields: tuple[Field, ...], title: str) -> Callable[[list[Event]], list[str]]:
    """def lines(events): one JSON object and a newline per event.

    One call formats a whole batch (a list comprehension over a %-template),
    so the per-event cost is the template's alone, not also a Python call.
    The leading keys that only read the container ("runtime", "k8s") are
    formatted by a second function, once per container (output._shared).
    """
    scope: dict[str, Any] = {
        "_quote": _quote,
        "_quote_text": _quote_text,
        "_map": _json_map,
        "_json_list": _json_list,
    }
    tree = _tree(fields)
    shared: dict[str, Any] = {}
    for key, node in tree.items():
        if not all(container_only(f) for f in _leaves(node)) or len(shared) == len(tree) - 1:
            break
        shared[key] = node
    args: list[str] = []
    prefix = ""
    if shared:
        shared_args: list[str] = []
        members = _members(shared, shared_args, scope)
        source = f"def shared(e):\n    return {members!r} % ({', '.join(shared_args)},)\n"
        scope["_shared"] = per_container(
            compile_function("shared", source, dict(scope), label=f"{title} json prefix")
        )
        args.append("_shared(e)")
        prefix = "%s,"
    rest = _members({k: v for k, v in tree.items() if k not in shared}, args, scope)
    template = "{" + prefix + rest + "}\n"
    source = (
        f"def lines(events):\n    return [{template!r} % ({', '.join(args)},) for e in events]\n"
    )
    lines: Callable[[list[Event]], list[str]] = compile_function(
        "lines", source, scope, label=f"{title} json lines"
    )
    return lines


class JsonOutput:
    """One JSON object per event (per line unless `pretty`), or with `lists` one list
    per batch; losses as {"lost_events": N}."""

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
        self._lines = None if pretty else _formatter(fields, title)
        self._lists = lists

    def begin(self) -> None:
        pass

    def write(self, events: list[Event]) -> None:
        if self._lists:
            self._write_list(events)
        elif not events:
            return
        elif self._lines is not None:
            self.out.write("".join(self._lines(events)))
        else:
            for event in events:
                self.out.write(json.dumps(event.to_dict(), indent=self._indent) + "\n")
        self.out.flush()

    def _write_list(self, events: list[Event]) -> None:
        """The batch as one JSON list, empty included: a snapshot of nothing is []."""
        if self._lines is not None:
            self.out.write("[" + ",".join(line[:-1] for line in self._lines(events)) + "]\n")
        else:
            listed = [event.to_dict() for event in events]
            self.out.write(json.dumps(listed, indent=self._indent) + "\n")

    def lost(self, count: int, total: int, node: str = "") -> None:
        record: dict[str, object] = {"lost_events": count, "lost_total": total}
        if node:
            record["node"] = node
        self.out.write(json.dumps(record, indent=self._indent) + "\n")
        self.out.flush()

    def end(self) -> None:
        self.out.flush()
