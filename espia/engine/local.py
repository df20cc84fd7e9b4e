"""Runs a gadget on this host: load, attach, read, run the pipeline, detach.

One :class:`LocalRun` is one gadget running.  Its stages run in a fixed
order on each batch of records the ring buffer holds:

    decode (BTF) -> enrich (container, pod) -> filter -> caller (output, API)

Start-up happens in order (open object, configure, load, attach, map the
ring) and `close()` undoes whatever was done, in reverse, whatever the path
out: normal end, timeout, Ctrl-C, SIGTERM or an exception.  Links are file
descriptors of this process and nothing is pinned, so not even a SIGKILL
leaves a program in the kernel.

A gadget fed by a user-space source (gadget.yaml ``source:``, see
``espia.engine.sources``) loads nothing: its rows become events and pass the
same stages, as a single batch (a snapshot).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from espia.ebpf import features
from espia.ebpf.link import Link, attach
from espia.ebpf.object import BpfObject
from espia.ebpf.ringbuf import RingBuffer
from espia.engine.sources import Rows, find_source, make_events
from espia.errors import NotSupportedError, UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, build_schema, build_source_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.decode import make_decoder
from espia.pipeline.filter import Filter, compile_filter
from espia.pipeline.operator import Operator
from espia.pipeline.semantic import semantic_stages

# Records decoded per batch: large enough to amortise the per-batch work,
# small enough that output starts at once under load.
BATCH = 8192
# How often a quiet gadget wakes up to check its deadline and losses.
IDLE_WAKEUP = 0.25
LOST_VARIABLE = "gadget_lost"
HELPER_PREFIX = "gadget_helper_"
FALLBACK_PREFIX = "gadget_fallback__"
_TRACEPOINT_SECTIONS = ("tracepoint/", "tp/")


@dataclass(frozen=True)
class RunOptions:
    """How to run a gadget, whatever the door."""

    filter: str | None = None
    timeout: float = 0.0
    buffer_size: int | None = None
    # BPF helpers to do without, as on an older kernel (their fallbacks are tested so).
    without_helpers: tuple[str, ...] = ()
    # Leave out the events of this process (the CLI: its own attaching and /proc reads).
    exclude_self: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    """The events of one read, and how many events were lost since the last batch."""

    events: list[Event]
    lost: int


def validate_buffer_size(size: int) -> int:
    import mmap

    if size < mmap.PAGESIZE or size & (size - 1):
        raise UsageError(
            f"buffer size {size}: must be a power of two of at least {mmap.PAGESIZE} bytes"
        )
    return size


class LocalRun:
    """One gadget running on this host.  Iterate `batches()`; always `close()`."""

    def __init__(
        self,
        spec: GadgetSpec,
        options: RunOptions,
        operators: list[Operator] | None = None,
        extra_fields: tuple[Field, ...] = (),
    ) -> None:
        self.spec = spec
        self.options = options
        self.operators = list(operators or [])
        self.extra_fields = extra_fields
        self.lost_total = 0
        # Records read from the kernel, before any user-space stage dropped some.
        self.received_total = 0
        self._stack = ExitStack()
        self._stopping = threading.Event()
        self._links: list[Link] = []
        self._ring: RingBuffer | None = None
        self._lost_counter: Callable[[], int] | None = None
        self.schema: EventSchema | None = None
        self.filter: Filter | None = None
        # The user-space source of a gadget without a program (a snapshot), if any.
        self._rows: Rows | None = None

    # --- start -------------------------------------------------------------

    def prepare(self) -> EventSchema:
        """Opens the object and compiles the pipeline; nothing is in the kernel yet.

        Split from `start()` so that bad columns or filters are reported
        before anything is loaded.
        """
        if self.spec.data_source:
            self.schema = build_source_schema(self.spec, self.extra_fields)
            self._rows = find_source(self.spec.data_source)
        else:
            features.require_btf()
            obj = BpfObject.open(self.spec.require_object())
            self._stack.callback(obj.close)
            self._object = obj
            self.schema = build_schema(self.spec, obj.btf, self.extra_fields)
            self._decode = make_decoder(self.schema)
        self.filter = compile_filter(self.options.filter, self.schema)
        self.operators.extend(semantic_stages(self.schema))
        return self.schema

    def start(self) -> None:
        """Loads, attaches and maps the ring buffer."""
        if self.schema is None:
            self.prepare()
        assert self.schema is not None and self.filter is not None
        self.require_privileges()
        if self._rows is not None:
            # Nothing to load: the stages only need to be stopped at the end.
            for operator in self.operators:
                self._stack.callback(operator.stop)
            return
        features.tracefs()
        obj = self._object
        kernel = dict(self.filter.kernel)
        if self.options.exclude_self:
            kernel["not_pid"] = os.getpid()
        for operator in self.operators:
            kernel.update(operator.kernel_params())
        self._configure(obj, kernel)
        ring_map = obj.map(self.schema.tracer.map_name)
        if self.options.buffer_size:
            ring_map.max_entries = validate_buffer_size(self.options.buffer_size)
        obj.load()
        bss = obj.data(".bss")
        if bss is not None and LOST_VARIABLE in bss:
            self._lost_counter = bss.counter(LOST_VARIABLE)
        for operator in self.operators:
            operator.start(obj)
            self._stack.callback(operator.stop)
        self._ring = RingBuffer(ring_map.fd, ring_map.max_entries)
        self._stack.callback(self._ring.close)
        for program in obj.programs:
            if program.autoload:
                link = attach(program)
                self._links.append(link)
        self._stack.callback(self._detach)

    def require_privileges(self) -> None:
        """Raises PrivilegeError naming the capabilities this gadget lacks, before any load."""
        programs = [] if self._rows is not None else self._object.programs
        # espia's own programs (the container tracker) are named by what they serve.
        what = "container tracking" if self.spec.category == "internal" else self.spec.title
        features.require_privileges(what, [p.section for p in programs])

    def _configure(self, obj: BpfObject, kernel: dict[str, int | str]) -> None:
        """Sets the in-kernel filters and skips programs whose hook this kernel lacks."""
        rodata = obj.data(".rodata")
        for name, value in kernel.items():
            variable = f"gadget_filter_{name}"
            if rodata is None or variable not in rodata:
                continue
            if isinstance(value, str):
                rodata.write(variable, value.encode())
                continue
            rodata.write(variable, int(value).to_bytes(rodata.size(variable), "little"))
            flag = f"gadget_filter_by_{name}"
            if flag in rodata:
                rodata.write(flag, b"\1")
        for name in rodata.names() if rodata is not None else []:
            if name.startswith(HELPER_PREFIX):
                helper = name.removeprefix(HELPER_PREFIX)
                usable = self._has_helper(obj, helper, rodata.read(name))
                rodata.write(name, b"\1" if usable else b"\0")
            elif name.startswith(FALLBACK_PREFIX):
                program, _, helper = name.removeprefix(FALLBACK_PREFIX).partition("__")
                if self._has_helper(obj, helper, rodata.read(name)):
                    for candidate in obj.programs:
                        if candidate.name == program:
                            candidate.autoload = False
        missing = []
        for program in obj.programs:
            hook = _tracepoint(program.section)
            if hook and not features.tracepoint_exists(*hook):
                program.autoload = False
                missing.append("/".join(hook))
        if missing and not any(p.autoload for p in obj.programs):
            raise NotSupportedError(
                missing[0],
                f"run {self.spec.title}: this kernel has none of its hooks ({', '.join(missing)})",
            )

    def _has_helper(self, obj: BpfObject, helper: str, helper_id: bytes) -> bool:
        """GADGET_HELPER/GADGET_FALLBACK: whether to take the path that needs `helper`
        (whose id the marker variable holds, from the kernel headers)."""
        if helper in self.options.without_helpers or not obj.programs:
            return False
        return features.helper_supported(obj.programs[0].type, int.from_bytes(helper_id, "little"))

    # --- run ---------------------------------------------------------------

    def stop(self) -> None:
        """Ends `batches()` at once; safe from another thread or a signal."""
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        """Runs the stages now rather than at the next idle wake-up (a container they
        wait for was just described); safe from any thread."""
        if self._ring is not None:
            self._ring.wake()

    def _new_losses(self) -> int:
        if self._lost_counter is None:
            return 0
        total = self._lost_counter()
        fresh = total - self.lost_total
        self.lost_total = total
        return fresh

    def _read(self) -> list[Event]:
        assert self._ring is not None
        events: list[Event] = []
        self.received_total += self._ring.drain(self._decode, events, BATCH)
        return self._process(events)

    def _process(self, events: list[Event]) -> list[Event]:
        for operator in self.operators:
            events = operator.process(events)
        assert self.filter is not None
        return self.filter.apply(events)

    def poll(self) -> Batch:
        """What the ring holds now, through the stages, without waiting.

        For a gadget that another one's loop reads, in step with its own
        records (the container tracker).
        """
        assert self._ring is not None
        events: list[Event] = []
        while self._ring.pending():
            events += self._read()
        return Batch(events, self._new_losses())

    def _finish(self) -> list[Event]:
        """What the stages still hold at the end, passed through the stages after them."""
        events: list[Event] = []
        for operator in self.operators:
            events = operator.process(events) + operator.finish()
        assert self.filter is not None
        return self.filter.apply(events)

    def batches(self) -> Iterator[Batch]:
        """Yields batches until the timeout, `stop()`, or the consumer stops iterating."""
        if self._rows is not None:
            # A snapshot is one batch, even an empty one (JSON shows "[]").
            events = make_events(self.schema, self._rows())
            yield Batch(self._process(events) + self._finish(), 0)
            return
        assert self._ring is not None
        ring = self._ring
        timeout = self.options.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while not self._stopping.is_set():
            wait = IDLE_WAKEUP
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(wait, remaining)
            # On a quiet wake-up the stages still run, on no records, so that
            # they can emit what time alone produced (a query never answered).
            events = self._read() if ring.wait(wait) else self._process([])
            lost = self._new_losses()
            if events or lost:
                yield Batch(events, lost)
        # What the kernel sent before we detached is still ours to show.
        self._detach()
        while ring.pending():
            events = self._read()
            lost = self._new_losses()
            if events or lost:
                yield Batch(events, lost)
        events = self._finish()
        lost = self._new_losses()
        if events or lost:
            yield Batch(events, lost)

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


def _tracepoint(section: str) -> tuple[str, str] | None:
    for prefix in _TRACEPOINT_SECTIONS:
        if section.startswith(prefix):
            category, _, name = section.removeprefix(prefix).partition("/")
            return category, name
    return None
