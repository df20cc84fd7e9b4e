"""The ring-buffer tracer: a program that streams records, decoded as they are read.

Start-up happens in order (open object, configure, load, hand maps to the
stages, map the ring, attach, learn the owners of existing sockets if the
program keeps them: espia.engine.sockets) and `close()` undoes whatever was done, in
reverse, whatever the path out: normal end, timeout, Ctrl-C, SIGTERM or an
exception.  Links are file descriptors of this process and nothing is
pinned, so not even a SIGKILL leaves a program in the kernel.

Decoding belongs to this source: the records are read in place (a lease on
the ring's memory), so only the code that walks the ring may see them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import replace

from espia.ebpf import features
from espia.ebpf.btf import Btf
from espia.ebpf.link import Link, attach
from espia.ebpf.maps import Map
from espia.ebpf.object import BpfObject, GlobalData
from espia.ebpf.ringbuf import RingBuffer
from espia.engine.kernel import configure, hand_over_maps
from espia.engine.sockets import OWNERS_MAP, learn_socket_owners
from espia.engine.source import GATHER, Batch, validate_buffer_size
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.params import encode_values, find_params
from espia.gadget.schema import EventSchema, build_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.decode import make_decoder
from espia.pipeline.operator import KernelConfig

log = logging.getLogger("espia")

# Records decoded per batch: large enough to amortise the per-batch work,
# small enough that output starts at once under load.
BATCH = 8192
# How often a quiet gadget wakes up to check its deadline and losses.
IDLE_WAKEUP = 0.25
LOST_VARIABLE = "gadget_lost"
# Work begun and not ended yet, and the flag that stops new work (include/espia/inflight.bpf.h).
INFLIGHT_MAP = "gadget_inflight"
DRAINING_VARIABLE = "gadget_draining"
# How long the end of a run waits for that work to end (a disk's I/O: milliseconds).
DRAIN_TIME = 0.5
DRAIN_STEP = 0.005


class RingBufferTracer:
    """A gadget's program and its ring buffer.  `prepare`, `start`, iterate, `close`."""

    # Reads the records' layout from the object's BTF (an interval source reads its
    # maps' key and value instead: espia.engine.interval).
    build: Callable[[GadgetSpec, Btf, tuple[Field, ...]], EventSchema] = staticmethod(build_schema)

    def __init__(
        self,
        spec: GadgetSpec,
        buffer_size: int | None = None,
        params: Mapping[str, object] | None = None,
        gather: float = GATHER,
    ) -> None:
        self.spec = spec
        self.buffer_size = buffer_size
        self.gather = gather  # seconds; see `batches`
        # The values of the program's GADGET_PARAMs, as given (checked in `prepare`).
        self.params = dict(params or {})
        self._param_values: dict[str, bytes] = {}
        self.lost = 0
        self.received = 0
        self._stack = ExitStack()
        self._stopping = threading.Event()
        self._links: list[Link] = []
        self._ring: RingBuffer | None = None
        self._lost_counter: Callable[[], int] | None = None
        # Each loaded program's count of the runs the kernel skipped (Program.misses_reader).
        self._misses: list[Callable[[], int]] = []
        # Of `lost`, the runs the kernel skipped.
        self.skipped = 0
        # The programs' work in flight (INFLIGHT_MAP) and their .bss, to end it at the end.
        self._inflight: Map | None = None
        self._bss: GlobalData | None = None
        # Of `lost`, work seen beginning and never seen ending (counted at the end).
        self.unfinished = 0
        self._object: BpfObject | None = None
        self._schema: EventSchema | None = None
        # The in-kernel filters loaded with the program (None: not loaded yet).
        self._loaded_filters: dict[str, int | str] | None = None

    def prepare(self, extra_fields: tuple[Field, ...] = ()) -> EventSchema:
        """Opens the object and reads its event struct; nothing is in the kernel yet."""
        features.require_btf()
        obj = BpfObject.open(self.spec.require_object(), trusted=self.spec.object_checked)
        self._stack.callback(obj.close)
        self._object = obj
        schema = self.build(self.spec, obj.btf, extra_fields)
        rodata = obj.data(".rodata")
        params = find_params(
            self.spec, obj.btf, rodata.read if rodata else None, self.spec.shown_object
        )
        self._param_values = encode_values(params, self.params, self.spec.title)
        self._schema = replace(schema, params=params)
        self._decode = make_decoder(self._schema)
        return self._schema

    def load(self, kernel: KernelConfig) -> None:
        """Configures and loads; nothing is attached yet."""
        if self._object is None:
            self.prepare()
        obj = self._object
        assert obj is not None
        self.require_privileges()
        features.tracefs()
        configure(obj, kernel, self.spec.title, self._param_values)
        ring_map = obj.map(self._ring_map_name())
        if self.buffer_size:
            ring_map.max_entries = validate_buffer_size(self.buffer_size)
        obj.load()
        self._loaded_filters = dict(kernel.filters)
        self._misses = [p.misses_reader() for p in obj.programs if p.fd >= 0]

    def start(self, kernel: KernelConfig) -> None:
        """Loads (unless `load()` did), maps the ring buffer and attaches."""
        if self._loaded_filters is None:
            self.load(kernel)
        elif kernel.filters != self._loaded_filters:
            raise RuntimeError(f"{self.spec.title}: filters changed after its program loaded")
        obj = self._object
        assert obj is not None
        ring_map = obj.map(self._ring_map_name())
        self._watch_losses(obj)
        hand_over_maps(obj, kernel)
        self._ring = RingBuffer(ring_map.fd, ring_map.max_entries)
        self._stack.callback(self._ring.close)
        self._stack.callback(self._detach)
        self._attach(obj)

    def _watch_losses(self, obj: BpfObject) -> None:
        """Finds what the programs count as lost and the work they keep in flight."""
        bss = obj.data(".bss")
        if bss is not None and LOST_VARIABLE in bss:
            self._lost_counter = bss.counter(LOST_VARIABLE)
        if bss is not None and DRAINING_VARIABLE in bss and INFLIGHT_MAP in obj.maps:
            self._bss, self._inflight = bss, obj.map(INFLIGHT_MAP)

    def _ring_map_name(self) -> str:
        """The ring buffer the records come through (the GADGET_TRACER marker's)."""
        assert self._schema is not None and self._schema.tracer is not None
        return self._schema.tracer.map_name

    def _attach(self, obj: BpfObject) -> None:
        """Attaches each program where its SEC() name says."""
        for program in obj.programs:
            if program.autoload and program.hooked:
                self._links.append(attach(program))
        owners = obj.maps.get(OWNERS_MAP)
        if owners is not None:
            # Attached first: a socket that appears from now on is the program's to learn.
            learn_socket_owners(owners)

    def require_privileges(self) -> None:
        """Raises PrivilegeError naming the capabilities this gadget lacks, before any load."""
        if self._object is None:
            self.prepare()
        assert self._object is not None
        # espia's own programs (the container tracker) are named by what they serve.
        what = "container tracking" if self.spec.category == "internal" else self.spec.title
        features.require_privileges(what, [p.section for p in self._object.programs])

    # --- run ---------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        if self._ring is not None:
            self._ring.wake()

    def _new_losses(self) -> int:
        """Losses since the last call: what the programs counted (no room in the ring or
        the map), and the runs of theirs the kernel skipped, which they cannot count."""
        self.skipped = sum(read() for read in self._misses)
        total = self.skipped + self.unfinished
        total += self._lost_counter() if self._lost_counter else 0
        fresh = total - self.lost
        self.lost = total
        return fresh

    def _say_skipped(self) -> None:
        """The losses of runs the kernel skipped, and of work whose end no program saw,
        are told apart once, at the end: their cure is not a larger buffer."""
        if self.unfinished:
            log.warning(
                "%d of the %d events lost began and were not seen ending: still in flight "
                "%.1f s after the end, or ended in a run of the gadget's program the kernel "
                "skipped",
                self.unfinished,
                self.lost,
                DRAIN_TIME,
            )
        if self.skipped:
            log.warning(
                "%d of the %d events lost are runs of the gadget's programs the kernel "
                "skipped, as another BPF program was running on that CPU",
                self.skipped,
                self.lost,
            )

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
        """The records as they come, in batches of up to BATCH.

        Once the reader has caught up, the kernel wakes it for the next record,
        and a batch of one record costs its wake-up, each stage's call and the
        output's write(2): at 100,000 records/s, in small batches, that was more
        than the records themselves.  So after a wake-up the reader lets `gather`
        pass before it reads (the records since then wait in the ring, and the
        kernel sends no further wake-up meanwhile); behind, with a full batch just
        read, it reads on at once.
        """
        assert self._ring is not None
        ring = self._ring
        behind = False
        while not self._stopping.is_set():
            wait = IDLE_WAKEUP
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(wait, remaining)
            # A quiet wake-up is an empty batch: the stages still run on it.
            events: list[Event] = []
            if ring.wait(wait):
                if not behind:
                    self._stopping.wait(self.gather)
                before = self.received
                events = self._read()
                behind = self.received - before >= BATCH
            yield Batch(events, self._new_losses())
        # What the kernel sent before we detached is still ours to show.
        self._finish()
        while ring.pending():
            yield Batch(self._read(), self._new_losses())
        yield Batch([], self._new_losses())
        self._say_skipped()

    # --- stop --------------------------------------------------------------

    def _finish(self) -> None:
        """Detaches at the end of a run, once the work in flight has ended or had its time;
        what is still in flight then is counted as unfinished (include/espia/inflight.bpf.h)."""
        inflight, bss = self._inflight, self._bss
        if inflight is None or bss is None:
            self._detach()
            return
        bss.set_live(DRAINING_VARIABLE, 1)
        give_up = time.monotonic() + DRAIN_TIME
        while not inflight.is_empty() and time.monotonic() < give_up:
            time.sleep(DRAIN_STEP)
        self._detach()
        self.unfinished = inflight.count()

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
