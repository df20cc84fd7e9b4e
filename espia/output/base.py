"""What every output does: write batches of events, and say when events were lost."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from espia.gadget.event import Event


class Output(Protocol):
    """The sink of a pipeline."""

    out: TextIO
    err: TextIO

    def begin(self) -> None:
        """Called once before the first batch (the columns header goes out here)."""

    def write(self, events: list[Event]) -> None:
        """Writes a batch and flushes it, so that a pipe sees events at once."""

    def lost(self, count: int, total: int, node: str = "") -> None:
        """Reports `count` more events the kernel could not hand over (`total` so far);
        `node`: the cluster node they were lost on (the cluster door's merge), named."""

    def end(self) -> None:
        """Called once at the end."""


def lost_message(count: int, total: int, node: str = "") -> str:
    return (
        f"espia: {on_node(node)}{count} events lost "
        f"(the kernel could not hand them over; {total} in all): "
        "filter more, or raise --buffer-size"
    )


def on_node(node: str) -> str:
    """ "node NAME: " where a cluster node is named, else nothing: a message's prefix."""
    return f"node {node}: " if node else ""


class LossLines:
    """The loss line on stderr, at most once a second per node.

    A flood loses events in most batches, hundreds a second: a line for each
    would bury the events shown, and say nothing a line a second does not.
    The first loss is said at once; what comes within the second after a line
    is added to the next one, and what is still held is said at the end
    (`flush`), so the counts said add up to the total.
    """

    EVERY = 1.0

    def __init__(self, err: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.err = err
        self._clock = clock
        self._said: dict[str, float] = {}
        self._held: dict[str, tuple[int, int]] = {}

    def report(self, count: int, total: int, node: str = "") -> None:
        count += self._held.pop(node, (0, 0))[0]
        now = self._clock()
        if now - self._said.get(node, -math.inf) < self.EVERY:
            self._held[node] = (count, total)
            return
        self._said[node] = now
        self._say(count, total, node)

    def flush(self) -> None:
        for node, (count, total) in self._held.items():
            self._say(count, total, node)
        self._held.clear()

    def _say(self, count: int, total: int, node: str) -> None:
        self.err.write(lost_message(count, total, node) + "\n")
        self.err.flush()
