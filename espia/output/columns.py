"""Columns: an aligned table, the header first, a line per event.

The row formatter is generated once for the chosen columns (one f-string),
so a row costs one call.  Strings from the traced system pass through
`escape_control`; values wider than their column are kept whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from espia._codegen import access, compile_function
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind, memo_of
from espia.output._shared import leading_container_fields, per_container
from espia.output._text import escape_control
from espia.output.base import LossLines


def find_column(fields: tuple[Field, ...], name: str) -> Field:
    """The field `name` names, case-insensitively; a UsageError that suggests otherwise."""
    wanted = name.strip().lower()
    for field in fields:
        if field.name.lower() == wanted:
            return field
    names = [f.name.lower() for f in fields]
    import difflib  # lazily: only a misspelt name needs it

    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown column {name.strip()!r}{hint}; available: {', '.join(names)}")


def select_columns(
    fields: tuple[Field, ...], default: list[str], request: str
) -> tuple[Field, ...]:
    """Applies `columns=a,b` (exactly these) or `columns=+a,-b` (change the defaults).

    An added column goes before the defaults' trailing wide columns (see
    _before_wide); a listed order is kept as it is.
    """
    names = [n.strip() for n in request.split(",") if n.strip()]
    if not names:
        return tuple(find_column(fields, n) for n in default)
    relative = [n[0] in "+-" for n in names]
    if any(relative) and not all(relative):
        raise UsageError(
            f"columns {request!r}: either list the columns, or change the defaults with +name,-name"
        )
    if not any(relative):
        return tuple(find_column(fields, n) for n in names)
    chosen = [find_column(fields, n) for n in default]
    for name in names:
        field = find_column(fields, name[1:])
        if name[0] == "+":
            if field not in chosen:
                chosen.insert(_before_wide(chosen, field), field)
        elif field in chosen:
            chosen.remove(field)
    if not chosen:
        raise UsageError(f"columns {request!r}: no column left to show")
    return tuple(chosen)


def _before_wide(chosen: list[Field], added: Field) -> int:
    """Where an added column goes: before the trailing wide ones (PATH, ARGS, NAME), whose
    values are longer than any width and stay aligned only as the last column."""
    at = len(chosen)
    if not added.wide:
        while at and chosen[at - 1].wide:
            at -= 1
    return at


def _width(field: Field) -> int:
    return max(field.width, len(field.header))


def cell(field: Field, index: int, scope: dict[str, object], last: bool) -> tuple[str, str]:
    """(%-conversion, Python expression) for one column (metrics' labels use it too: the
    text a column shows is the text a label gets).

    %-formatting with widths ("%7d", "%-16s") is done in C, about half the
    cost of f-string format specs, per event and column.
    """
    value = access(field.path)
    width = 0 if last else _width(field)
    spec = f"%{'' if field.right else '-'}{width}" if width else "%"
    table = memo_of(field.render)
    if table is not None:
        scope[f"_text{index}"] = table
        value = f"_text{index}[{value}]"
    elif field.render is not None or field.kind is ValueKind.MAP:
        scope[f"_render{index}"] = field.text
        value = f"_render{index}({value})"
    elif field.kind is ValueKind.INT:
        return f"{spec}d", value
    elif field.kind is ValueKind.BOOL:
        value = f"('true' if {value} else 'false')"
    if field.untrusted:
        # The usual case, printable and no backslash, costs no function call.
        name = f"_v{index}"
        value = (
            f"({name} if ({name} := {value}).isprintable() and '\\\\' not in {name}"
            f" else _escape({name}))"
        )
    return f"{spec}s", value


def _row_function(
    name: str, cells: list[tuple[str, str]], scope: dict[str, object], end: str, label: str
) -> Callable[[Event], str]:
    template = " ".join(spec for spec, _ in cells) + end
    values = ", ".join(value for _, value in cells)
    source = f"def {name}(e):\n    return {template!r} % ({values},)\n"
    return compile_function(name, source, dict(scope), label=label)


class ColumnsOutput:
    """Writes events as an aligned table."""

    def __init__(
        self,
        columns: tuple[Field, ...],
        out: TextIO,
        err: TextIO,
        title: str = "",
        header: bool = True,
    ) -> None:
        self.columns = columns
        self._header = header
        self.out = out
        self.err = err
        self._losses = LossLines(err)
        scope: dict[str, object] = {"_escape": escape_control}
        last = len(columns) - 1
        cells = [cell(field, i, scope, i == last) for i, field in enumerate(columns)]
        # The container columns first: formatted once per container (output._shared).
        shared = min(leading_container_fields(columns), last)
        if shared:
            prefix = _row_function("cells", cells[:shared], scope, " ", f"{title} columns prefix")
            scope["_shared"] = per_container(prefix)
            cells = [("%s", "_shared(e)"), *cells[shared:]]
            template = "%s" + " ".join(spec for spec, _ in cells[1:]) + "\n"
            values = ", ".join(value for _, value in cells)
            source = f"def row(e):\n    return {template!r} % ({values},)\n"
            self._row = compile_function("row", source, scope, label=f"{title} columns row")
        else:
            self._row = _row_function("row", cells, scope, "\n", f"{title} columns row")

    def header(self) -> str:
        cells = []
        for index, field in enumerate(self.columns):
            last = index == len(self.columns) - 1
            width = 0 if last else _width(field)
            cells.append(field.header.rjust(width) if field.right else field.header.ljust(width))
        return " ".join(cells).rstrip() + "\n"

    def begin(self) -> None:
        if self._header:
            self.out.write(self.header())
            self.out.flush()

    def write(self, events: list[Event]) -> None:
        if events:
            self.out.write("".join(map(self._row, events)))
            self.out.flush()

    def lost(self, count: int, total: int, node: str = "") -> None:
        self._losses.report(count, total, node)

    def end(self) -> None:
        self._losses.flush()
        self.out.flush()
