"""The Python API: gadgets as iterators of typed events.

    import espia

    with espia.trace("open", filter="comm:cat", timeout=5) as events:
        for event in events:
            print(event.pid, event.path, event.container.name)
        print("lost:", events.lost)

A `Trace` loads its gadget on `start()` (or on the first iteration) and
unloads it when the iteration ends, on `close()`, or when the `with` block
exits, whatever happens in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

from espia.engine.local import RunOptions
from espia.engine.session import Session, open_session
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.registry import builtin


class Trace:
    """A gadget running on this host, as an iterator of its events."""

    def __init__(self, category: str, gadget: str, options: RunOptions) -> None:
        self._session: Session = open_session(builtin(category, gadget), options)
        self._started = False

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of this gadget's events (the event attributes and container fields)."""
        return self._session.schema.fields

    @property
    def lost(self) -> int:
        """Events the kernel produced but could not hand over, so far."""
        return self._session.run.lost_total

    def start(self) -> Trace:
        """Loads and attaches the gadget; events are recorded from here on."""
        if not self._started:
            try:
                self._session.run.start()
            except BaseException:
                self.close()
                raise
            self._started = True
        return self

    def __iter__(self) -> Iterator[Event]:
        self.start()
        try:
            for batch in self._session.run.batches():
                yield from batch.events
        finally:
            self.close()

    def stop(self) -> None:
        """Ends the iteration after the events already recorded (safe from other threads)."""
        self._session.run.stop()

    def close(self) -> None:
        """Detaches and unloads everything; idempotent."""
        self._session.run.close()

    def __enter__(self) -> Trace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run(
    category: str,
    gadget: str,
    *,
    filter: str | None = None,
    timeout: float = 0.0,
    buffer_size: int | None = None,
) -> Trace:
    """Prepares gadget `category gadget` (e.g. "trace", "exec"); iterate it to run it.

    `filter` takes the -F syntax ("comm:cat,err:!0"), `timeout` is in seconds
    (0: until `stop()` or `close()`), `buffer_size` is the ring buffer's size
    in bytes (a power of two).  Bad names or filters raise espia.UsageError.
    """
    return Trace(category, gadget, RunOptions(filter, timeout, buffer_size))


def trace(
    gadget: str,
    *,
    filter: str | None = None,
    timeout: float = 0.0,
    buffer_size: int | None = None,
) -> Trace:
    """`run("trace", gadget, ...)`: e.g. ``espia.trace("exec", filter="comm:bash")``."""
    return run("trace", gadget, filter=filter, timeout=timeout, buffer_size=buffer_size)
