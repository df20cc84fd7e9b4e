"""The ring-buffer tracer: a program that streams records, decoded as they are read.

Start-up happens in order (open object, configure, load, hand maps to the
stages, map the ring, attach) and `close()` undoes whatever was done, in
reverse, whatever the path out: normal end, timeout, Ctrl-C, SIGTERM or an
exception.  Links are file descriptors of this process and nothing is
pinned, so not even a SIGKILL leaves a program in the kernel.

Decoding belongs to this source: the records are read in place (a lease on
the ring's memory), so only the code that walks the ring may see them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from espia.ebpf import features
from espia.ebpf.link import Link, attach
from espia.ebpf.object import BpfObject
from espia.ebpf.ringbuf import RingBuffer
from espia.engine.kernel import configure, hand_over_maps
from espia.engine.source import Batch, validate_buffer_size
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, build_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.decode import make_decoder
from espia.pipeline.operator import KernelConfig

# Records decoded per batch: large enough to amortise the per-batch work,
# small enough that output starts at once under load.
BATCH = 8192
# How often a quiet gadget wakes up to check its deadline and losses.
IDLE_WAKEUP = 0.25
LOST_VARIABLE = "gadget_lost"


class RingBufferTracer:
    """A gadget's program and its ring buffer.  `prepare`, `start`, iterate, `close`."""

    def __init__(self, spec: GadgetSpec, buffer_size: int | None = None) -> None:
        self.spec = spec
        self.buffer_size = buffer_size
        self.lost = 0
        self.received = 0
        self._stack = ExitStack()
        self._stopping = threading.Event()
        self._links: list[Link] = []
        self._ring: RingBuffer | None = None
        self._lost_counter: Callable[[], int] | None = None
        self._object: BpfObject | None = None
        self._schema: EventSchema | None = None

    def prepare(self, extra_fields: tuple[Field, ...] = ()) -> EventSchema:
        """Opens the object and reads its event struct; nothing is in the kernel yet."""
        features.require_btf()
        obj = BpfObject.open(self.spec.require_object())
        self._stack.callback(obj.close)
        self._object = obj
        self._schema = build_schema(self.spec, obj.btf, extra_fields)
        self._decode = make_decoder(self._schema)
        return self._schema

    def start(self, kernel: KernelConfig) -> None:
        """Configures, loads, maps the ring buffer and attaches."""
        if self._object is None:
            self.prepare()
        obj, schema = self._object, self._schema
        assert obj is not None and schema is not None and schema.tracer is not None
        features.require_privileges()
        features.tracefs()
        configure(obj, kernel, self.spec.title)
        ring_map = obj.map(schema.tracer.map_name)
        if self.buffer_size:
            ring_map.max_entries = validate_buffer_size(self.buffer_size)
        obj.load()
        bss = obj.data(".bss")
        if bss is not None and LOST_VARIABLE in bss:
            self._lost_counter = bss.counter(LOST_VARIABLE)
        hand_over_maps(obj, kernel)
        self._ring = RingBuffer(ring_map.fd, ring_map.max_entries)
        self._stack.callback(self._ring.close)
        self._stack.callback(self._detach)
        for program in obj.programs:
            if program.autoload:
                self._links.append(attach(program))

    # --- run ---------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        if self._ring is not None:
            self._ring.wake()

    def _new_losses(self) -> int:
        if self._lost_counter is None:
            return 0
        total = self._lost_counter()
        fresh = total - self.lost
        self.lost = total
        return fresh

    def _read(self) -> list[Event]:
        assert self._ring is not None
        events: list[Event] = []
        self.received += self._ring.drain(self._decode, events, BATCH)
        return events

    def poll(self) -> tuple[list[Event], int]:
        """(what the ring holds now, losses since the last call), without waiting.

        For a tracer that another gadget's stages read in step with their
        own records (the container tracker).
        """
        assert self._ring is not None
        events: list[Event] = []
        while self._ring.pending():
            events += self._read()
        return events, self._new_losses()

    def batches(self, deadline: float | None) -> Iterator[Batch]:
        assert self._ring is not None
        ring = self._ring
        while not self._stopping.is_set():
            wait = IDLE_WAKEUP
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(wait, remaining)
            # A quiet wake-up is an empty batch: the stages still run on it.
            events = self._read() if ring.wait(wait) else []
            yield Batch(events, self._new_losses())
        # What the kernel sent before we detached is still ours to show.
        self._detach()
        while ring.pending():
            yield Batch(self._read(), self._new_losses())
        yield Batch([], self._new_losses())

    # --- stop --------------------------------------------------------------

    def _detach(self) -> None:
        """Destroys the links, in parallel: each waits out an RCU grace period in the
        kernel (tens of milliseconds), and a gadget has many."""
        links, self._links = self._links, []
        threads = [threading.Thread(target=link.destroy) for link in links]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def close(self) -> None:
        """Detaches, unmaps and closes everything, in reverse order; idempotent."""
        self._stack.close()
