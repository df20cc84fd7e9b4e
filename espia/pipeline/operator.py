"""The shape of a pipeline stage, and the kernel configuration stages contribute to.

A stage has a `priority` (the pipeline runs stages in increasing order) and
says which fields it `writes` (adds or changes): the user-space filter is
split on that, so that a term on a field no stage writes runs before every
stage and a term on a written field runs after the stage that writes it.

Life of a stage, driven by :class:`espia.engine.pipeline.Pipeline`:

- `contribute(kernel)`, before anything is loaded: rodata filter values and
  the maps the stage wants once the object is loaded (container selection
  fills the mount-namespace map).  A stage never sees the BPF object itself,
  so the same stage can run where there is none (a user-space source, the
  client side of a remote door);
- `start()` once the gadget is loaded, before its events flow;
- `process(events)` on every batch, in order; it also runs on an empty batch
  whenever the gadget wakes up with no records (at least every quarter
  second), so a stage can emit what time alone produced;
- `finish()` when the stream ends: what the stage still holds, passed on
  through the stages after it;
- `stop()` once, in reverse order, whatever the reason the gadget ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from espia.gadget.event import Event

# Where the stages of the local door sit; a new stage picks a number between.
PRIORITY_SEMANTIC = 100  # stages that semantic types bring (DNS pairing): every event
PRIORITY_EARLY_FILTER = 200  # -F terms on fields no stage writes
PRIORITY_ENRICH = 300  # the container, pod and node of each event
PRIORITY_SELECT = 400  # -c -n -p -l
PRIORITY_LATE_FILTER = 500  # -F terms on fields a stage writes


class MapWriter(Protocol):
    """What a stage may do to a map of the loaded program."""

    def update(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> bool: ...


@dataclass
class KernelConfig:
    """What the stages (and the run's options) ask of the kernel side, before load.

    `filters` are the in-kernel filter values by filter.bpf.h name (``pid``
    -> ``gadget_filter_pid``); `maps` are called with the named map once the
    object is loaded, before it is attached, if the program has that map.
    A source without a program ignores what it cannot apply: the user-space
    predicate checks every term anyway.
    """

    filters: dict[str, int | str] = field(default_factory=dict)
    maps: dict[str, list[Callable[[MapWriter], None]]] = field(default_factory=dict)
    # BPF helpers to do without, as on an older kernel (their fallbacks are tested so).
    without_helpers: tuple[str, ...] = ()

    def on_map(self, name: str, use: Callable[[MapWriter], None]) -> None:
        self.maps.setdefault(name, []).append(use)


class Operator:
    """A stage: override `process`, and the other steps it needs."""

    name: str = "operator"
    priority: int = PRIORITY_SEMANTIC
    # Field names this stage adds or changes (the filter split reads them).
    writes: frozenset[str] = frozenset()

    def contribute(self, kernel: KernelConfig) -> None:
        """Adds what this stage needs from the kernel side; called before load."""

    def start(self) -> None:
        """Called once the gadget is loaded, before its events flow."""

    def process(self, events: list[Event]) -> list[Event]:
        return events

    def finish(self) -> list[Event]:
        """Events still held when the stream ends (after the last batch)."""
        return []

    def stop(self) -> None:
        """Called once when the gadget ends."""
