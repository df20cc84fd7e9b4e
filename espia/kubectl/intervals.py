"""The cluster door's merge of complete batches: one table per interval across nodes.

An agent numbers the complete batches of its run (a top gadget's intervals,
a snapshot: ``Batch.interval``, 1, 2...).  The client gathers the n-th of
every node into one batch and hands it on once each node still streaming
has sent its n-th, or a later one (an interval an agent dropped for a slow
client is not waited for: its rows are counted as lost).  So the output
sorts and cuts the merged rows (``--sort``, ``--max-rows``) and draws one
table, one timestamp, one JSON list per interval, whatever the nodes.

A node whose stream breaks is not waited for while it is out; once it is
back, its agent numbers from 1 again, counted from the intervals already
shown.  At the end, what was gathered is handed on in order: the interval
each agent cut short at the end (Ctrl-C, the timeout) is shown too.

The caller serializes the calls (the merge's lock): nothing here locks.
"""

from __future__ import annotations

from collections.abc import Callable

from espia.gadget.event import Event


class IntervalMerge:
    """Gathers each node's n-th interval; `write` gets them merged, in order."""

    def __init__(self, write: Callable[[list[Event]], None]) -> None:
        self._write = write
        self._pending: dict[int, list[Event]] = {}
        # Per node streaming now: the number (in the merge's count) of its last interval.
        self._last: dict[str, int] = {}
        # Per node: what its agent's interval 1 is in the merge's count, less one.
        self._base: dict[str, int] = {}
        self._shown = 0

    def join(self, node: str) -> None:
        """`node` streams (again, after an outage): its intervals are waited for."""
        self._base[node] = self._last[node] = self._shown

    def leave(self, node: str) -> None:
        """`node`'s stream ended or broke: no interval waits for it any longer."""
        self._last.pop(node, None)
        self._flush()

    def add(self, node: str, number: int, events: list[Event]) -> None:
        """The `number`-th interval of `node`'s run (its agent's count), empty or not."""
        index = self._base.get(node, 0) + number
        self._pending.setdefault(index, []).extend(events)
        if node in self._last:
            self._last[node] = max(self._last[node], index)
        self._flush()

    def finish(self) -> None:
        """Hands on what is still gathered, in order (the intervals cut short by the end)."""
        for index in sorted(self._pending):
            self._emit(index)

    def _flush(self) -> None:
        while self._pending:
            first = min(self._pending)
            if any(last < first for last in self._last.values()):
                return
            self._emit(first)

    def _emit(self, index: int) -> None:
        self._shown = max(self._shown, index)
        self._write(self._pending.pop(index))
