"""What feeds a gadget's pipeline: the data source protocol, and the options of a run.

A source is one kind of producer.  Each kind is its own class, none a
branch inside another:

- :class:`~espia.engine.tracer.RingBufferTracer`: a program streaming
  records through a ring buffer (every trace gadget);
- :class:`~espia.engine.user.UserSource`: Python shipped in the gadget's own
  folder (snapshot socket reads /proc; list-containers reads the container
  collection);
- to come, each as a class of its own: a map read per interval (top), a
  perf-event stack sampler (profile, over `ebpf.link.attach_perf_event`), a
  periodic snapshot.

The life of a source: `prepare()` reads what the events look like (nothing
is in the kernel yet, so bad columns or filters are reported first);
`start(kernel)` applies the kernel configuration the stages contributed,
loads and attaches; `batches(deadline)` yields until the deadline or
`stop()`, then what was still in flight; `close()` undoes everything,
whatever happened.
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from espia.containers.selector import ContainerSelector
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema
from espia.pipeline.operator import KernelConfig

_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str | int) -> int:
    """ "16M", "256k", "64KiB" or a number of bytes; a UsageError otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str):
        raise UsageError(f"size {text!r} is not a size (e.g. 16M)")
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    factor = _SUFFIXES.get(raw[-1:], 1)
    try:
        return int(raw[:-1] if factor > 1 else raw, 0) * factor
    except ValueError:
        raise UsageError(f"size {text!r} is not a size (e.g. 16M)") from None


# A ring buffer's size is the map's 32-bit max_entries, and a power of two: 2 GiB at most.
MAX_BUFFER_SIZE = 1 << 31


def size_text(size: int) -> str:
    """ "2G", "64K", or the bytes where no unit divides them."""
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda item: -item[1]):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix.upper()}"
    return str(size)


def validate_buffer_size(size: int) -> int:
    """`size`, or a UsageError naming the limit it breaks (before anything is loaded)."""
    if size < mmap.PAGESIZE or size & (size - 1):
        raise UsageError(
            f"buffer size {size}: must be a power of two of at least {mmap.PAGESIZE} bytes"
        )
    if size > MAX_BUFFER_SIZE:
        raise UsageError(
            f"buffer size {size_text(size)}: at most {size_text(MAX_BUFFER_SIZE)} "
            "(a ring buffer's size is a 32-bit power of two)"
        )
    return size


def validate_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(seconds):
        raise UsageError(f"timeout {seconds!r} is not a number of seconds")
    if seconds < 0:
        raise UsageError(f"timeout {seconds!r} is negative; use 0 to run until stopped")
    return float(seconds)


# Seconds a caught-up ring reader gathers records after a wake-up, unless a door says
# otherwise (RunOptions.gather).
GATHER = 0.002


@dataclass(frozen=True)
class RunOptions:
    """How to run one gadget, whatever the door: what the command line's flags say."""

    # -F values: one string, or several (repeated -F), all of whose terms must hold.
    filter: str | Sequence[str] | None = None
    timeout: float = 0.0
    buffer_size: int | None = None
    selector: ContainerSelector = field(default_factory=ContainerSelector)
    # The gadget's own parameters (list-containers: watch).
    params: Mapping[str, object] = field(default_factory=dict)
    # BPF helpers to do without, as on an older kernel (their fallbacks are tested so).
    without_helpers: tuple[str, ...] = ()
    # Leave out the events of this process (the CLI: its own attaching and /proc reads).
    exclude_self: bool = False
    # Seconds a caught-up ring reader lets pass after a wake-up before it reads, so that
    # records come in batches (espia.engine.tracer.RingBufferTracer.batches).  The agent
    # waits longer: each of its batches is also a gRPC message and the client's decoding.
    gather: float = GATHER

    def validated(self) -> RunOptions:
        """These options, or a UsageError naming the bad one (the API takes any value)."""
        validate_timeout(self.timeout)
        if self.buffer_size is not None:
            validate_buffer_size(self.buffer_size)
        terms = [self.filter] if isinstance(self.filter, str) else list(self.filter or [])
        bad = [t for t in terms if not isinstance(t, str)]
        if bad:
            raise UsageError(f"filter {bad[0]!r}: expected a string of terms, e.g. comm:cat")
        return self


@dataclass(frozen=True, slots=True)
class Batch:
    """The events of one read, and how many events were lost since the last batch.

    A `snapshot` batch is complete in itself: it is shown even when empty
    (JSON shows ``[]``), and every stage hands over what it holds for it.
    """

    events: list[Event]
    lost: int
    snapshot: bool = False


class DataSource(Protocol):
    """One producer of a gadget's events (see the module)."""

    # Records handed over so far (before any user-space stage), and losses reported.
    received: int
    lost: int

    def prepare(self, extra_fields: tuple[Field, ...]) -> EventSchema:
        """What the events look like; `extra_fields` are those stages add (containers)."""
        ...

    def require_privileges(self) -> None:
        """Raises PrivilegeError naming the capabilities this source lacks, before any load."""
        ...

    def load(self, kernel: KernelConfig) -> None:
        """Applies `kernel` and loads, attaching nothing.  It may run in a thread of its
        own while the stages start (the verifier takes a while); the filters of
        `kernel` must be final, its maps' users may come until `start()`."""
        ...

    def start(self, kernel: KernelConfig) -> None:
        """Loads (unless `load()` did), hands the maps over, attaches: events are
        recorded from here on."""
        ...

    def batches(self, deadline: float | None) -> Iterator[Batch]:
        """Batches until `deadline` (time.monotonic) or `stop()`, then what is in flight.

        An idle source still yields (empty batches, at least every quarter
        second), so that the stages can emit what time alone produced.
        """
        ...

    def stop(self) -> None:
        """Ends `batches()` soon; safe from another thread."""
        ...

    def wake(self) -> None:
        """Runs the stages now rather than at the next idle wake-up; safe from any thread."""
        ...

    def close(self) -> None:
        """Detaches and frees everything; idempotent."""
        ...
