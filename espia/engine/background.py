"""Start-up work run in a thread of its own, so that the kernel's verifier (which runs
in the kernel, the GIL released) overlaps with the rest of start-up.

Waiting for it is not cut short by Ctrl-C: the thread holds a BPF object
in the middle of its load, which must not be closed under it.  A load takes
a fraction of a second; the interrupt is acted on as soon as it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """`work()`, started at once in a daemon thread named `name`; `undo` undoes what it
    returned, when that is no longer wanted."""

    def __init__(
        self, work: Callable[[], T], name: str, undo: Callable[[T], None] | None = None
    ) -> None:
        self._work = work
        self._undo = undo
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to result(), in the thread that asks
            self._error = exc

    def _join(self) -> bool:
        """Waits for the work; True if a KeyboardInterrupt came meanwhile."""
        interrupted = False
        while self._thread.is_alive():
            try:
                self._thread.join()
            except KeyboardInterrupt:
                interrupted = True
        return interrupted

    def result(self) -> T:
        """What `work()` returned, once it has; what it raised is raised here."""
        if self._join():
            self.discard()
            raise KeyboardInterrupt
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def discard(self) -> None:
        """Waits for the work and undoes it; its error, if any, is dropped (the caller
        is reporting another)."""
        self._join()
        if self._error is None and self._undo is not None and self._value is not None:
            self._undo(self._value)
