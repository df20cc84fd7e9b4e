"""Interval tables: the output of a gadget whose batches are intervals (top, profiles).

Every batch is one interval, complete in itself.  Its rows are sorted
(``--sort rbytes,-pid``: a leading ``-`` for descending) and cut to
``--max-rows``, then written by the writer of ``-o``:

- columns, on a terminal: the screen is redrawn for each interval, like
  top(1): a timestamp line, the header, the rows;
- columns, piped: one block per interval, the timestamp line and the
  header above its rows, a blank line after, so that a reader can split
  the stream into intervals;
- JSON and YAML: one list per interval (the writers' `lists` mode).

Any aggregating gadget gets this output by wrapping its writer:
``IntervalOutput(make_output(...), fields, "-rbytes", 20)``.  The merged
table of several nodes (the cluster door) is sorted and cut the same way,
after merging.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.output.base import Output, on_node
from espia.output.columns import ColumnsOutput, find_column

DEFAULT_MAX_ROWS = 20
# Home the cursor and clear the screen: the redraw of top(1).
CLEAR = "\x1b[H\x1b[2J"


def parse_sort(fields: tuple[Field, ...], text: str | Sequence[str]) -> list[tuple[Field, bool]]:
    """(field, descending) for each of "col,-col" (or a list of them); a UsageError that
    names an unknown column."""
    names = text.split(",") if isinstance(text, str) else list(text)
    order = []
    for raw in names:
        name = raw.strip()
        descending = name.startswith("-")
        name = name.removeprefix("-").removeprefix("+").strip()
        if not name:
            raise UsageError(f"sort {text!r}: an empty column name")
        try:
            order.append((find_column(fields, name), descending))
        except UsageError as exc:
            raise UsageError(f"sort {text!r}: {exc}") from None
    return order


def table_full_message(count: int, total: int, node: str = "") -> str:
    return (
        f"espia: {on_node(node)}{count} updates not counted "
        f"(the kernel's table for an interval was full; {total} in all): "
        "filter more, or shorten --interval"
    )


def validate_max_rows(rows: object) -> int:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise UsageError(f"max rows {rows!r}: must be a positive number of rows")
    return rows


def sorter(order: list[tuple[Field, bool]]) -> Callable[[list[Event]], list[Event]]:
    """Sorts events by `order`: stable sorts from the last key to the first."""
    keys = [(attrgetter(".".join(field.path)), descending) for field, descending in order]

    def sort(events: list[Event]) -> list[Event]:
        rows = list(events)
        for key, descending in reversed(keys):
            rows.sort(key=key, reverse=descending)
        return rows

    return sort


def timestamp() -> str:
    """The line above an interval's rows: the local time, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


class IntervalOutput:
    """Wraps a writer: each batch is one interval, sorted, cut, shown as a table or list."""

    def __init__(
        self,
        inner: Output,
        fields: tuple[Field, ...],
        sort: str | Sequence[str],
        max_rows: int = DEFAULT_MAX_ROWS,
        redraw: bool | None = None,
        clock: Callable[[], str] = timestamp,
    ) -> None:
        self.inner = inner
        self.out = inner.out
        self.err = inner.err
        self._sort = sorter(parse_sort(fields, sort)) if sort else list
        self.max_rows = validate_max_rows(max_rows)
        self._table = inner if isinstance(inner, ColumnsOutput) else None
        self._redraw = _isatty(inner.out) if redraw is None else redraw
        self._clock = clock

    def begin(self) -> None:
        """Nothing yet: a table's header goes above each interval's rows."""
        if self._table is None:
            self.inner.begin()

    def write(self, events: list[Event]) -> None:
        rows = self._sort(events)[: self.max_rows]
        table = self._table
        if table is None:
            self.inner.write(rows)
            return
        shown = f"{len(rows)} of {len(events)} rows" if len(rows) < len(events) else ""
        stamp = f"{self._clock()}  {shown}".rstrip()
        self.out.write((CLEAR if self._redraw else "") + stamp + "\n" + table.header())
        table.write(rows)
        if not self._redraw:
            self.out.write("\n")
        self.out.flush()

    def lost(self, count: int, total: int, node: str = "") -> None:
        if self._table is None:
            self.inner.lost(count, total, node)
        else:
            self.err.write(table_full_message(count, total, node) + "\n")
            self.err.flush()

    def end(self) -> None:
        self.inner.end()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
