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

    def lost(self, count: int, total: int) -> None:
        """Reports `count` more events the kernel could not hand over (`total` so far)."""

    def end(self) -> None:
        """Called once at the end."""


def lost_message(count: int, total: int) -> str:
    return (
        f"espia: {count} events lost (the kernel could not hand them over; {total} in all): "
        "filter more, or raise --buffer-size"
    )
