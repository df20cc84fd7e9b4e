"""The interval source: counters the kernel keeps in a map, read and reset per interval.

The program counts into the map its one-slot array of maps points at
(include/espia/interval.bpf.h).  At the end of each interval this source
points the slot at the other map; the kernel returns from that update only
once no program can still be using the old map (an RCU grace period), so
the old map is read and emptied while nothing writes to it.  Every update
lands in exactly one interval: totals over any number of intervals add up
to what happened, counted once.

Each interval is one batch, complete in itself (a snapshot batch: an empty
interval is shown too).  Rows are the map's key and value side by side,
decoded as one record.  Updates the kernel could not count (a full map)
are the batch's losses.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator, Mapping

from espia.ebpf.maps import Map
from espia.engine.kernel import hand_over_maps
from espia.engine.source import Batch
from espia.engine.tracer import IDLE_WAKEUP, RingBufferTracer
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.schema import build_interval_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.operator import KernelConfig

DEFAULT_INTERVAL = 1.0
_SLOT = struct.pack("<I", 0)


def validate_interval(seconds: object) -> float:
    """A number of seconds, 0 for one interval as long as the run; a UsageError otherwise."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise UsageError(f"interval {seconds!r} is not a number of seconds")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise UsageError(
            f"interval {seconds!r}: must be a positive number of seconds (0: the whole run)"
        )
    return float(seconds)


class IntervalSource(RingBufferTracer):
    """A gadget's counting program and its two maps.  `prepare`, `start`, iterate, `close`.

    Everything but the ring buffer is the tracer's: the object, its
    parameters, privileges, loading, links.  The marker's map is the slot.
    """

    build = staticmethod(build_interval_schema)

    def __init__(self, spec: GadgetSpec, params: Mapping[str, object]) -> None:
        own = dict(params)
        self.interval = validate_interval(own.pop("interval", DEFAULT_INTERVAL))
        super().__init__(spec, None, own)
        self._maps: tuple[Map, Map] | None = None
        self._slots: Map | None = None
        self._active = 0

    def start(self, kernel: KernelConfig) -> None:
        """Loads (unless `load()` did) and attaches: counting starts in the first map."""
        if self._loaded_filters is None:
            self.load(kernel)
        obj, schema = self._object, self._schema
        assert obj is not None and schema is not None and schema.tracer is not None
        name = schema.tracer.map_name
        self._slots = obj.map(name)
        self._maps = (obj.map(f"{name}_0"), obj.map(f"{name}_1"))
        self._watch_losses(obj)
        hand_over_maps(obj, kernel)
        self._stack.callback(self._detach)
        self._attach(obj)

    # --- run ---------------------------------------------------------------

    def _take(self) -> list[Event]:
        """Switches the programs to the other map, then reads and empties the quiet one."""
        assert self._maps is not None and self._slots is not None
        old, self._active = self._maps[self._active], 1 - self._active
        # Returns once no program still holds `old` (map-in-map updates wait for RCU).
        self._slots.update(_SLOT, struct.pack("<I", self._maps[self._active].fd))
        decode = self._decode
        events = [decode(key + value, 0, len(key) + len(value)) for key, value in old.take_all()]
        self.received += len(events)
        return events

    def batches(self, deadline: float | None) -> Iterator[Batch]:
        """One snapshot batch per interval, then the interval cut short by the end if it
        counted anything, or if it is the only one (with an interval of 0, it always is)."""
        tick = time.monotonic() + self.interval if self.interval else math.inf
        shown = False
        while not self._stopping.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= tick:
                tick += self.interval * max(1, math.ceil((now - tick) / self.interval))
                events = self._take()
                shown = True
                yield Batch(events, self._new_losses(), snapshot=True)
                continue
            wait = min(IDLE_WAKEUP, tick - now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            # A quiet wake-up is an empty batch: the stages still run on it.
            if not self._stopping.wait(max(wait, 0.0)):
                yield Batch([], 0)
        # What was counted since the last interval is shown, counted once, as the last.
        self._finish()
        events = self._take()
        lost = self._new_losses()
        # A run that ended before its first interval did is shown as one, even empty.
        if events or lost or not shown:
            yield Batch(events, lost, snapshot=True)
        self._say_skipped()

    def stop(self) -> None:
        self._stopping.set()

    def wake(self) -> None:
        """Nothing to do: the stages run at the next quarter-second wake-up anyway."""
