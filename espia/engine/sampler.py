"""The stack sampler: a program on a cpu-clock perf event of every online CPU.

Each tick, the program (include/espia/stack.bpf.h) sends the interrupted
task and its kernel and user stacks through the ring buffer; the ring is
read as a tracer's is (losses counted the same way), and each sample
becomes an event whose stacks are already names: symbolized here, as they
arrive, while the sampled process most likely still runs (its memory map
is read then; see espia.engine.symbols).  The pipeline (containers,
selectors, filters) then treats samples as any events; an output that
counts them (espia.output.stacks) makes the profile.

The gadget declares its fields in gadget.yaml (as a user-space source does):
the record itself holds arrays of addresses, which no event field
describes, so its fixed layout is mirrored here and checked against the
object's BTF before anything loads.

A frame is escaped as the columns output escapes text (control characters
and bytes that are not UTF-8 as ``\\xNN``, the backslash as ``\\\\``), and
``;`` as ``\\x3b``: a stack is its frames, root first, joined by ``;``, and no
symbol name can pass for two frames.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from typing import Any

from espia.ebpf import features
from espia.ebpf.btf import Kind
from espia.ebpf.link import attach_perf_event
from espia.ebpf.maps import Map
from espia.ebpf.object import BpfObject
from espia.engine.source import Batch
from espia.engine.symbols import Image, Symbolizer
from espia.engine.tracer import RingBufferTracer
from espia.engine.user import make_events
from espia.errors import LoadError, UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, build_source_schema
from espia.gadget.spec import GadgetSpec
from espia.output._text import escape_frame

log = logging.getLogger("espia")

SAMPLER_PREFIX = "gadget_sampler__"
RECORD = "gadget_stack_sample"
# The images whose maps were read, by pid (see include/espia/stack.bpf.h).
IMAGES_MAP = "gadget_stack_images"
_PID = struct.Struct("<I")
_IMAGE = struct.Struct("<QQ")
DEPTH = 127
_HEADER = struct.Struct("<QQIIIIIiiI16sQQ")
RECORD_SIZE = _HEADER.size + 2 * DEPTH * 8
DEFAULT_FREQUENCY = 49
MAX_FREQUENCY = 1000
_MAX_RATE = "/proc/sys/kernel/perf_event_max_sample_rate"
ONLINE_CPUS = "/sys/devices/system/cpu/online"

# The raw sample: (timestamp, mntns, pid, tid, uid, gid, cpu, comm, image, kernel, user).
Sample = tuple[int, int, int, int, int, int, int, bytes, Image, tuple[int, ...], tuple[int, ...]]


def validate_frequency(value: object) -> int:
    """Samples a second on each CPU: 1 to 1000, and no more than the kernel allows."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"frequency {value!r} is not a whole number of samples a second")
    if not 1 <= value <= MAX_FREQUENCY:
        raise UsageError(f"frequency {value}: must be 1 to {MAX_FREQUENCY} samples a second")
    try:
        with open(_MAX_RATE) as limit:
            allowed = int(limit.read())
    except (OSError, ValueError):
        return value
    if value > allowed:
        raise UsageError(
            f"frequency {value}: this kernel allows at most {allowed} "
            f"(kernel.perf_event_max_sample_rate)"
        )
    return value


def online_cpus(path: str = ONLINE_CPUS) -> list[int]:
    """The online CPUs, from the kernel's list ("0-3,6")."""
    with open(path) as online:
        text = online.read().strip()
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def decode_sample(buffer: Any, offset: int, length: int) -> Sample:
    """A record in the ring, copied out (the stacks as far as they were filled)."""
    if length < RECORD_SIZE:
        raise LoadError(f"stack sample of {length} bytes: expected {RECORD_SIZE}")
    header = _HEADER.unpack_from(buffer, offset)
    ts, mntns, pid, tid, uid, gid, cpu, ksize, usize, _, comm, start, execs = header
    base = offset + _HEADER.size
    kernel = struct.unpack_from(f"<{max(0, min(ksize, DEPTH * 8)) // 8}Q", buffer, base)
    user = struct.unpack_from(f"<{max(0, min(usize, DEPTH * 8)) // 8}Q", buffer, base + DEPTH * 8)
    return (ts, mntns, pid, tid, uid, gid, cpu, comm, (start, execs), kernel, user)


class StackSampler(RingBufferTracer):
    """A gadget of gadget.yaml `sampler: cpu-clock` (see the module)."""

    def __init__(
        self,
        spec: GadgetSpec,
        params: dict[str, object],
        buffer_size: int | None = None,
        symbolizer: Symbolizer | None = None,
    ) -> None:
        super().__init__(spec, buffer_size)
        self.frequency = validate_frequency(params.get("frequency", DEFAULT_FREQUENCY))
        self.symbolizer = symbolizer or Symbolizer()
        self._map_name = ""
        self._images: Map | None = None
        # Samples whose user stack could not be named (the process ended first).
        self.unnamed = 0

    def prepare(self, extra_fields: tuple[Field, ...] = ()) -> EventSchema:
        """Opens the object, checks its sample record; the fields are gadget.yaml's."""
        features.require_btf()
        obj = BpfObject.open(self.spec.require_object(), trusted=self.spec.shipped)
        self._stack.callback(obj.close)
        self._object = obj
        self._map_name = _sampler_map(obj, str(self.spec.object_path))
        self._schema = build_source_schema(self.spec, extra_fields)
        self._names = [leaf.name for leaf in self._schema.leaves]
        return self._schema

    def _ring_map_name(self) -> str:
        return self._map_name

    def _attach(self, obj: BpfObject) -> None:
        """The program on a cpu-clock event of each online CPU."""
        program = next(p for p in obj.programs if p.section == "perf_event")
        self._images = obj.map(IMAGES_MAP)
        # The kernel's symbols are read now, not at the first sample: reading them takes
        # a third of a second, in which a short-lived process would end unnamed.
        self.symbolizer.kernel(())
        for cpu in online_cpus():
            self._links.append(attach_perf_event(program, cpu, self.frequency))

    def batches(self, deadline: float | None) -> Iterator[Batch]:
        yield from super().batches(deadline)
        if self.unnamed:
            log.warning(
                "%d of %d samples have user frames shown as [unknown]: their processes "
                "ended or exec'd before their memory maps were read",
                self.unnamed,
                self.received,
            )

    def _read(self) -> list[Event]:
        assert self._ring is not None and self._schema is not None and self._images is not None
        samples: list[Sample] = []
        self.received += self._ring.drain(decode_sample, samples, 8192)
        self.symbolizer.newest_images((sample[2], sample[8]) for sample in samples)
        rows = [self._row(sample) for sample in samples]
        for pid, image in self.symbolizer.take_read():
            self._images.update(_PID.pack(pid), _IMAGE.pack(*image))
        return make_events(self._schema, rows)

    def _row(self, sample: Sample) -> dict[str, Any]:
        ts, mntns, pid, tid, uid, gid, cpu, comm, image, kernel, user = sample
        symbols = self.symbolizer
        before = symbols.unresolved
        user_stack = symbols.user_stack(pid, image, user, _render)
        kernel_stack = symbols.kernel_stack(kernel, _render)
        self.unnamed += symbols.unresolved > before
        return {
            "timestamp": ts,
            "mntns": mntns,
            "pid": pid,
            "tid": tid,
            "uid": uid,
            "gid": gid,
            "cpu": cpu,
            "comm": os.fsdecode(comm.split(b"\0", 1)[0]),
            "user_stack": user_stack,
            "kernel_stack": kernel_stack,
        }


def _render(frames: list[str]) -> str:
    """A stack's text from its names, leaf first: root first, each frame escaped."""
    return ";".join(map(escape_frame, reversed(frames)))


def _sampler_map(obj: BpfObject, source: str) -> str:
    """The ring buffer named by the GADGET_STACK_SAMPLER marker, its record checked."""
    btf = obj.btf
    names = [v.name for v in btf.datasec(".rodata") if v.name.startswith(SAMPLER_PREFIX)]
    if len(names) != 1:
        raise LoadError(f"read {source}: expected one GADGET_STACK_SAMPLER(map) marker")
    record = btf.find(RECORD, Kind.STRUCT)
    if record is None or btf.size(record) != RECORD_SIZE or IMAGES_MAP not in obj.maps:
        raise LoadError(
            f"read {source}: struct {RECORD} is not the {RECORD_SIZE}-byte record "
            f"espia reads, or map {IMAGES_MAP} is missing (rebuild with this espia's headers)"
        )
    return names[0].removeprefix(SAMPLER_PREFIX)
