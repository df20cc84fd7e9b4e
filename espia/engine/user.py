"""User-space sources: Python shipped in the gadget's own folder feeds its pipeline.

Some data the kernel cannot stream here (a snapshot is a BPF iterator's
job, and this kernel refuses iterators), and some is not the kernel's at
all (the containers the runtimes report).  Such a gadget's gadget.yaml
names a file of its folder, ``source: source.py``, and declares its fields
with a ``type`` each (see espia.gadget.spec).  The file defines::

    def rows(context: SourceContext) -> Iterator[list[dict[str, Any]]]

yielding one list per batch (a snapshot yields once): dicts keyed by the
gadget's field names, values in their Python form (an Endpoint for a
gadget_l4endpoint, an int for a gadget_netns_id...), plus, optionally,
``"container"``: the Container the row is about.  The engine turns rows
into the gadget's events; stages, filters and outputs follow as for any
gadget.  The file may also define ``def check(containers:
ContainerCollection)``, run at start, before any output: an error it raises
(what the source cannot do without) ends the run.

A source is code that runs in espia's (root) process: only the gadgets
shipped with espia may have one; a gadget from elsewhere (a file, an image)
that names a source is refused.
"""

from __future__ import annotations

import importlib.util
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from espia.containers.collection import ContainerCollection
from espia.containers.model import NO_CONTAINER
from espia.ebpf import features
from espia.engine.source import Batch
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.registry import BUILTIN_DIR
from espia.gadget.schema import EventSchema, attribute, build_source_schema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.operator import KernelConfig

Rows = Callable[["SourceContext"], Iterable[list[dict[str, Any]]]]
Check = Callable[[ContainerCollection], None]
# How often a source waiting for news lets the stages run (see DataSource.batches).
IDLE_WAKEUP = 0.25


class SourceContext:
    """What a source may use: its parameters, the containers, and when to stop.

    `next(timeout)` is how a source waits: it returns what a producer
    `post()`ed (from any thread), or None after `timeout` seconds; it
    raises :class:`Stopped` once the run must end (Ctrl-C, the deadline),
    which ends the source's generator where it waits.
    """

    def __init__(
        self,
        params: Mapping[str, object],
        containers: Callable[[], ContainerCollection],
        deadline: float | None,
        stopping: threading.Event,
    ) -> None:
        self.params = params
        self._containers = containers
        self._deadline = deadline
        self._stopping = stopping
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()

    @property
    def containers(self) -> ContainerCollection:
        """The runtime's container collection (started on first use)."""
        return self._containers()

    def post(self, item: object) -> None:
        self._inbox.put(item)

    def wake(self) -> None:
        self._inbox.put(_WAKE)

    @property
    def stopping(self) -> bool:
        past = self._deadline is not None and time.monotonic() >= self._deadline
        return past or self._stopping.is_set()

    def next(self, timeout: float = IDLE_WAKEUP) -> object | None:
        """The next posted item, None after `timeout`; raises Stopped when the run ends."""
        if self._deadline is not None:
            timeout = min(timeout, max(0.0, self._deadline - time.monotonic()))
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            item = None
        if self.stopping:
            raise Stopped
        return None if item is _WAKE else item


class Stopped(Exception):
    """The run ends: raised out of SourceContext.next into the source's generator."""


_WAKE = object()


def load_rows(spec: GadgetSpec) -> tuple[Rows, Check | None]:
    """The `rows` (and `check`) functions of `spec`'s source file; a UsageError for any
    mistake."""
    name = spec.data_source or ""
    folder = spec.folder.resolve()
    if not folder.is_relative_to(BUILTIN_DIR.resolve()):
        raise UsageError(
            f"gadget {spec.title}: names a source ({name}), but only espia's own gadgets "
            "may run Python in espia's process"
        )
    path = (folder / name).resolve()
    if path.parent != folder or path.suffix != ".py" or not path.is_file():
        raise UsageError(f"read {folder}/gadget.yaml: source {name!r} is not a .py file there")
    module_spec = importlib.util.spec_from_file_location(f"espia.gadgets.{folder.name}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    rows = getattr(module, "rows", None)
    if not callable(rows):
        raise UsageError(f"source {path}: defines no rows(context) function")
    check = getattr(module, "check", None)
    return rows, check if callable(check) else None


def make_events(schema: EventSchema, rows: Iterable[dict[str, Any]]) -> list[Event]:
    """The events of `rows` (every row has every field of the schema)."""
    cls = schema.event_class
    names = [(leaf.name, attribute(leaf.name)) for leaf in schema.leaves]
    events = []
    for row in rows:
        event = object.__new__(cls)
        for name, attr in names:
            setattr(event, attr, row[name])
        event.container = row.get("container", NO_CONTAINER)
        events.append(event)
    return events


class UserSource:
    """A gadget fed by its folder's source file (see the module)."""

    def __init__(
        self,
        spec: GadgetSpec,
        params: Mapping[str, object],
        containers: Callable[[], ContainerCollection],
    ) -> None:
        self.spec = spec
        self.params = params
        self.received = 0
        self.lost = 0
        self._containers = containers
        self._stopping = threading.Event()
        self._rows, self._check = load_rows(spec)
        self._schema: EventSchema | None = None
        self._context: SourceContext | None = None

    def prepare(self, extra_fields: tuple[Field, ...] = ()) -> EventSchema:
        self._schema = build_source_schema(self.spec, extra_fields)
        return self._schema

    def require_privileges(self) -> None:
        """Raises PrivilegeError naming what this gadget lacks (no program: /proc only)."""
        features.require_privileges(self.spec.title, [])

    def load(self, kernel: KernelConfig) -> None:
        """Nothing to load: the user-space predicate applies every filter term."""

    def start(self, kernel: KernelConfig) -> None:
        """Nothing to load: the user-space predicate applies every filter term; the
        source's `check` says now (before any output) what it cannot do without."""
        if self._schema is None:
            self.prepare()
        if self._check is not None:
            self._check(self._containers())

    def batches(self, deadline: float | None) -> Iterator[Batch]:
        assert self._schema is not None
        context = self._context = SourceContext(
            self.params, self._containers, deadline, self._stopping
        )
        rows = iter(self._rows(context))
        while True:
            try:
                batch = next(rows)
            except (StopIteration, Stopped):
                return
            events = make_events(self._schema, batch)
            self.received += len(events)
            yield Batch(events, 0, snapshot=True)

    def stop(self) -> None:
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        if self._context is not None:
            self._context.wake()

    def close(self) -> None:
        self._stopping.set()
