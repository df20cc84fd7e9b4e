"""What every output does: write batches of events, and say when events were lost."""

from __future__ import annotations

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
