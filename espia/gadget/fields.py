"""Fields: what a gadget's events carry, and how each one is shown and filtered.

A field's meaning comes from the semantic typedef of its C member (see
``include/espia/types.h``): the semantic types of :mod:`espia.semantic` give
each its rendering, its default visibility and the in-kernel filter it can
use.  So a user gadget that declares ``gadget_errno err`` gets ERR and
ERRNAME exactly like the built-in ones, without a line of Python.

Every field is read along a path of attributes from its event (``("pid",)``,
``("container", "k8s", "pod")``).  Stages turn the paths of the fields they
use into one generated function each (see ``espia._codegen``), which keeps
the per-event path free of dictionary lookups and per-field calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any


class ValueKind(Enum):
    """The Python type of a field's raw value."""

    INT = "int"
    STR = "str"
    BOOL = "bool"
    MAP = "map"  # str -> str, e.g. pod labels


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a gadget's events.

    ``path`` leads from the event to the raw value, one attribute after
    another (a value, not source: generators turn it into code).  ``render`` turns the raw
    value into text for columns, regex filters and (when ``json_text``) JSON;
    without it the text is ``str(value)``.  ``untrusted`` strings come from the
    traced system and are escaped before they reach a terminal.  ``kernel``
    names the in-kernel filter (``pid`` -> ``gadget_filter_pid``) an equality
    term on this field can be pushed into.
    """

    name: str
    path: tuple[str, ...]
    kind: ValueKind
    description: str = ""
    render: Callable[[Any], str] | None = None
    json_text: bool = False
    hidden: bool = False
    width: int = 0
    right: bool = False
    untrusted: bool = False
    kernel: str | None = None
    # Renders the raw value straight to JSON text (quotes included), where that
    # is cheaper than rendering and then quoting (timestamps).
    json_render: Callable[[Any], str] | None = None
    # Reads a filter's value for this field ("aaaa" -> "AAAA", "5ms" -> 5000000): the
    # value compared with the raw value (numbers) or the rendered text.
    parse: Callable[[str], Any] | None = None
    # Values may be longer than the column (paths, argument lists): best shown last.
    wide: bool = False
    # The value JSON and YAML show instead of the text, where it is not a string (the
    # arguments as a list); `render` still gives its text for columns and filters.
    json_value: Callable[[Any], Any] | None = None
    # The column's header where it is not the name in capitals (R/W for rw): the name
    # stays what -o columns=, --sort and -F take, and JSON's key.
    heading: str = ""

    @property
    def header(self) -> str:
        return self.heading or self.name.upper()

    def text(self, value: Any) -> str:
        if self.render:
            return self.render(value)
        if self.kind is ValueKind.MAP:
            return labels_text(value)
        if self.kind is ValueKind.BOOL:
            return "true" if value else "false"
        return str(value)

    def with_options(self, **options: Any) -> Field:
        return replace(self, **options)


# --- renderers -----------------------------------------------------------------


class Memo(dict[Any, str]):
    """A renderer with memory: flags, modes, errnos, comms and paths repeat, so each
    is rendered once.  Bounded, so that a stream of distinct values cannot grow it."""

    def __init__(self, render: Callable[[Any], str], limit: int = 4096) -> None:
        super().__init__()
        self.render = render
        self.limit = limit

    def __missing__(self, value: Any) -> str:
        if len(self) >= self.limit:
            self.clear()
        text = self[value] = self.render(value)
        return text


def memoized(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """`render`, answered from memory after the first call for each value (a dict lookup)."""
    memo = Memo(render)
    wrapped: Callable[[Any], str] = memo.__getitem__
    return wrapped


def memo_of(render: Callable[[Any], str] | None) -> Memo | None:
    """The table behind a memoized() renderer (generated code subscripts it: `t[v]` is a
    plain dict lookup, cheaper than a call); None for other renderers."""
    table = getattr(render, "__self__", None)
    return table if isinstance(table, Memo) else None


def bits_text(value: int, names: Iterable[tuple[int, str]]) -> str:
    """ "A|B" for the bits of `value` that have names, in the order given; leftover bits in hex."""
    out = []
    for bit, name in names:
        if value & bit:
            out.append(name)
            value &= ~bit
    if value:
        out.append(hex(value))
    return "|".join(out)


def labels_text(labels: Any) -> str:
    """ "app=web,tier=front" (sorted, so that a filter or a diff sees one spelling)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
