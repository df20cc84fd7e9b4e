"""The runtime protocol: what every door (CLI, Python API, and later the node agent and
its cluster client) runs gadgets through.

    runtime.run(GadgetRef("trace", "open"), RunOptions(...)) -> GadgetRun
    run.schema (a WireSchema value), run.fields, run.start(), run.batches(),
    run.stop(), run.close(), run.lost, run.received

:class:`LocalRuntime` runs gadgets on this host: one data source per gadget
(espia.engine.source), its pipeline (espia.engine.pipeline), and the
runtime's container service (espia.engine.containers), shared by all its
gadgets.  A remote runtime implements the same protocol with the schema it
receives (a WireSchema) and the batches it is sent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import NamedTuple, Protocol

from espia.containers.collection import ContainerCollection
from espia.containers.fields import K8S_FIELDS, RUNTIME_FIELDS
from espia.containers.model import Container
from espia.engine.background import Background
from espia.engine.containers import ContainerService, ContainerSources
from espia.engine.pipeline import Pipeline
from espia.engine.source import Batch, DataSource, RunOptions
from espia.engine.tracer import RingBufferTracer
from espia.engine.user import UserSource
from espia.engine.wire import WireSchema
from espia.errors import UsageError
from espia.gadget.fields import Field
from espia.gadget.registry import BUILTIN_DIR, CATEGORIES, builtin
from espia.gadget.schema import EventSchema
from espia.gadget.spec import DESCRIPTION, GadgetSpec
from espia.pipeline.enrich import ContainerEnricher
from espia.pipeline.filter import FilterStage, compile_terms, parse_all, split_terms_by
from espia.pipeline.operator import (
    PRIORITY_EARLY_FILTER,
    PRIORITY_LATE_FILTER,
    KernelConfig,
    Operator,
)
from espia.pipeline.select import ContainerSelection
from espia.pipeline.semantic import semantic_stages

log = logging.getLogger("espia")

# The fields the container service adds to every gadget's events.
CONTAINER_FIELDS: tuple[Field, ...] = (*RUNTIME_FIELDS, *K8S_FIELDS)


class GadgetRef(NamedTuple):
    """Which gadget: `espia <category> <name>`."""

    category: str
    name: str


class GadgetRun(Protocol):
    """One gadget running, whatever runs it.  `start()`, iterate `batches()`, `close()`."""

    schema: WireSchema
    fields: tuple[Field, ...]

    @property
    def lost(self) -> int:
        """Events the kernel produced but could not hand over, so far."""
        ...

    @property
    def received(self) -> int:
        """Records handed over so far, before user-space stages dropped any."""
        ...

    def start(self) -> None: ...

    def batches(self) -> Iterator[Batch]: ...

    def stop(self) -> None:
        """Ends `batches()` after what is in flight; safe from another thread (not from a signal
        handler: it may take a lock the interrupted thread holds; see espia.cli.main)."""
        ...

    def close(self) -> None:
        """Unloads everything; idempotent."""
        ...


# A gadget of the catalog, or one already opened from a user's path (espia.gadget.local).
Gadget = GadgetRef | GadgetSpec


class Runtime(Protocol):
    """Runs gadgets (see the module)."""

    def run(self, gadget: Gadget, options: RunOptions) -> GadgetRun:
        """Prepares `gadget` (bad options fail here); nothing runs until `start()`."""
        ...


def find_gadget(gadget: Gadget) -> GadgetSpec:
    """A gadget of the catalog, or one of espia's own outside it (list-containers), or
    the user's gadget already opened."""
    if isinstance(gadget, GadgetSpec):
        return gadget
    if gadget.category in CATEGORIES:
        return builtin(gadget.category, gadget.name)
    folder = BUILTIN_DIR / f"{gadget.category}_{gadget.name}"
    if not gadget.category.isidentifier() or not (folder / DESCRIPTION).is_file():
        raise UsageError(f"unknown gadget {gadget.category} {gadget.name!r}")
    return GadgetSpec.from_folder(folder)


def refuse_unused(spec: GadgetSpec, options: RunOptions) -> None:
    """An option the gadget would ignore is refused: the user meant something by it."""
    if spec.data_source and options.buffer_size is not None:
        raise UsageError(
            f"{spec.title} reads its data in user space: it has no ring buffer "
            "for a buffer size (--buffer-size) to size"
        )
    if spec.kind == "interval" and options.buffer_size is not None:
        raise UsageError(
            f"{spec.title} counts in kernel maps: it has no ring buffer (--buffer-size) to size"
        )
    if spec.category == "snapshot" and options.timeout:
        raise UsageError(
            f"{spec.title} is taken once and ends at once: a timeout (-t) does not apply"
        )


class LocalRuntime:
    """Runs gadgets on this host; its gadgets share one container service."""

    def __init__(self, containers: ContainerSources | None = None) -> None:
        self.containers = ContainerService(containers or ContainerSources())

    def run(self, gadget: Gadget, options: RunOptions) -> LocalGadgetRun:
        spec = find_gadget(gadget)
        options = options.validated()
        refuse_unused(spec, options)
        return LocalGadgetRun(self, spec, options)


_shared: dict[ContainerSources, LocalRuntime] = {}
_shared_lock = threading.Lock()


def local_runtime(containers: ContainerSources) -> LocalRuntime:
    """The process's runtime for `containers`: gadgets run through it share one collection."""
    with _shared_lock:
        runtime = _shared.get(containers)
        if runtime is None:
            runtime = _shared[containers] = LocalRuntime(containers)
        return runtime


class LocalGadgetRun:
    """A gadget on this host: its source, its pipeline, the shared containers."""

    def __init__(self, runtime: LocalRuntime, spec: GadgetSpec, options: RunOptions) -> None:
        self.spec = spec
        self.options = options
        self._service = runtime.containers
        self._stack = ExitStack()
        self._collection: ContainerCollection | None = None
        self._pipeline = Pipeline(())
        self._started = False
        self.source: DataSource
        if spec.data_source:
            self.source = UserSource(spec, options.params, self._containers)
        elif spec.sampler:
            from espia.engine.sampler import StackSampler  # symbolization: profiles only

            self.source = StackSampler(spec, dict(options.params), options.buffer_size)
        elif spec.kind == "interval":
            if options.buffer_size is not None:
                raise UsageError(
                    f"{spec.title} has no ring buffer (--buffer-size): it counts in kernel maps"
                )
            from espia.engine.interval import IntervalSource

            self.source = IntervalSource(spec, options.params)
        else:
            self.source = RingBufferTracer(
                spec, options.buffer_size, options.params, options.gather
            )
        self._stack.callback(self.source.close)
        try:
            self.event_schema: EventSchema = self.source.prepare(CONTAINER_FIELDS)
            self._terms = parse_all(options.filter)
            # Every term is checked against the fields now, before anything loads.
            self._kernel_filters = compile_terms(self._terms, self.event_schema).kernel
        except BaseException:
            self.close()
            raise
        self.schema = WireSchema.of(self.event_schema)
        self.fields = self.event_schema.fields

    @property
    def lost(self) -> int:
        return self.source.lost

    @property
    def received(self) -> int:
        return self.source.received

    # --- start -------------------------------------------------------------

    def _containers(self) -> ContainerCollection:
        """The shared collection, acquired once for this run (released at close)."""
        if self._collection is None:
            joins = self.event_schema.join_key() is not None
            self._collection = self._service.acquire(kernel=joins)
            self._stack.callback(self._service.release)
            if not self._collection.runtimes and self.options.selector.active:
                log.warning("no container runtime answers here: containers are shown by id only")
        return self._collection

    def _stages(self) -> list[Operator]:
        schema, selector = self.event_schema, self.options.selector
        stages: list[Operator] = list(semantic_stages(schema))
        key = schema.join_key()
        if key is not None:
            kind, attribute = key
            collection = self._containers()
            mntns = kind == "mntns"
            stages.append(
                ContainerEnricher(
                    collection.by_mntns if mntns else collection.by_netns,
                    attribute,
                    lambda ns: collection.settle(kind, ns),
                    catch_up=collection.catch_up,
                    recycled=collection.recycled if mntns else None,
                    timestamp_attribute=schema.attribute_of("gadget_timestamp"),
                )
            )
            # Events held for a new container go out as soon as it is described.
            collection.subscribe(self._wake)
            self._stack.callback(collection.unsubscribe, self._wake)
        if selector.active:
            kind = key[0] if key is not None else ""
            stages.append(ContainerSelection(selector, self._containers(), kind))
        early, late = split_terms_by(self._terms, schema, Pipeline(stages).writes)
        for terms, priority in ((early, PRIORITY_EARLY_FILTER), (late, PRIORITY_LATE_FILTER)):
            if terms:
                stages.append(FilterStage(compile_terms(terms, schema), priority))
        return stages

    def start(self) -> None:
        """Starts the containers it needs, configures, loads, attaches, starts the stages."""
        if self._started:
            return
        self._started = True
        try:
            self.source.require_privileges()  # the gadget's own needs are reported first
            kernel = KernelConfig(
                dict(self._kernel_filters), without_helpers=self.options.without_helpers
            )
            if self.options.exclude_self:
                kernel.filters["not_pid"] = os.getpid()
            key = self.event_schema.join_key()
            kernel.filters.update(
                ContainerSelection.kernel_filters(self.options.selector, key[0] if key else "")
            )
            # Unloaded before the containers it used are let go (close runs in reverse).
            self._stack.callback(self.source.close)
            # The verifier works (in the kernel, the GIL released) while the
            # containers are listed: start-up pays for the longer of the two.
            loading = Background(lambda: self.source.load(kernel), f"espia-load-{self.spec.name}")
            try:
                self._pipeline = Pipeline(self._stages())
                self._pipeline.contribute(kernel)
            except BaseException:
                loading.discard()  # closed with the source; the stages' error is the one shown
                raise
            loading.result()
            self.source.start(kernel)
            self._pipeline.start()
            self._stack.callback(self._pipeline.stop)
            self._say_if_nothing_selected()
        except BaseException:
            self.close()
            raise

    def _say_if_nothing_selected(self) -> None:
        """A selector that matches no container would show nothing and say nothing: say it
        (once, at start; the run goes on, as a matching container may start later)."""
        selector = self.options.selector
        if not selector.active:
            return
        if not any(selector.selects(c) for c in self._containers().containers()):
            log.warning("%s", selector.nothing_selected())

    def _wake(self, kind: str, namespace: int, container: Container | None) -> None:
        self.source.wake()

    # --- run ---------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        """Batches through the pipeline until the timeout, `stop()`, or the source ends."""
        self.start()
        timeout = self.options.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        pipeline = self._pipeline
        for batch in self.source.batches(deadline):
            events = pipeline.process(batch.events)
            if batch.snapshot:
                yield Batch(events + pipeline.finish(), batch.lost, snapshot=True)
            elif events or batch.lost:
                yield Batch(events, batch.lost)
        events = pipeline.finish()
        if events:
            yield Batch(events, 0)

    def stop(self) -> None:
        self.source.stop()

    def close(self) -> None:
        """Stops the stages, unloads, releases the containers, in reverse; idempotent."""
        self._stack.close()
