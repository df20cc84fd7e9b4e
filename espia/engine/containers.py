"""The container service of a runtime: one container collection per process, shared.

However many gadgets run at once (the API in several threads, an agent
later), they share one collection, one set of runtime connections and one
kernel tracker.  It starts with the first gadget that needs it and ends
with the last one, so nothing outlives the gadgets: no connection, no
thread, no program in the kernel.

The kernel tracker (espia/containers/tracker) is a ring-buffer tracer run
here, by the engine; the collection only reads its reports, so the
containers package needs nothing of the engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from espia.containers.collection import TRACKER_BUFFER, TRACKER_DIR, ContainerCollection
from espia.containers.model import this_node
from espia.containers.runtimes import Runtime, detect
from espia.ebpf import features
from espia.engine.background import Background
from espia.engine.tracer import RingBufferTracer
from espia.errors import RuntimeUnavailable
from espia.gadget.spec import GadgetSpec
from espia.pipeline.operator import KernelConfig

log = logging.getLogger("espia")


@dataclass(frozen=True)
class ContainerSources:
    """Where a runtime finds containers: the same for every gadget it runs."""

    runtimes: tuple[str, ...] | None = None  # --runtimes; None: every one present
    sockets: tuple[tuple[str, str], ...] = ()  # --runtime-socket NAME=PATH
    containerd_namespaces: tuple[str, ...] = ("k8s.io",)
    node: str = field(default_factory=this_node)


class ContainerService:
    """The shared collection (see the module): `acquire()` it, `release()` it once each."""

    def __init__(self, sources: ContainerSources) -> None:
        self.sources = sources
        self._lock = threading.Lock()
        self._users = 0
        self._collection: ContainerCollection | None = None
        self._tracker: RingBufferTracer | None = None
        self._reading = threading.Lock()

    def acquire(self, kernel: bool) -> ContainerCollection:
        """The collection, started if it is not; with `kernel`, also fed by the tracker.

        Starting both, the tracker is loaded (the kernel's verifier: CPU in
        the kernel, the GIL released) while the runtimes are asked for their
        containers (sockets, gRPC), in a second thread: each start-up pays
        for the longer of the two, not for both.
        """
        with self._lock:
            loading: Background[RingBufferTracer] | None = None
            if kernel and self._tracker is None:
                loading = Background(self._load_tracker, "espia-load-tracker", _close)
            try:
                if self._collection is None:
                    # With the tracker to come, /proc is read once, after it is attached.
                    self._collection = self._start_collection(scan_proc=not kernel)
            except BaseException:
                if loading is not None:
                    loading.discard()
                raise
            self._users += 1
            try:
                tracker = loading.result() if loading is not None else None
            except BaseException:  # the load failed (result() cleans up after a Ctrl-C)
                self._release()
                raise
            try:
                if tracker is not None:
                    self._follow_tracker(self._collection, tracker)
            except BaseException:
                self._release()
                raise
            return self._collection

    def release(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        collection, tracker = self._collection, self._tracker
        self._collection = self._tracker = None
        try:
            if collection is not None:
                collection.close()
        finally:
            if tracker is not None:
                tracker.close()

    @staticmethod
    def _load_tracker() -> RingBufferTracer:
        """The tracker, loaded and attached (closed again if that fails)."""
        tracker = RingBufferTracer(GadgetSpec.from_folder(TRACKER_DIR), TRACKER_BUFFER)
        try:
            tracker.prepare()
            tracker.start(KernelConfig())
        except BaseException:
            tracker.close()
            raise
        return tracker

    def _follow_tracker(self, collection: ContainerCollection, tracker: RingBufferTracer) -> None:
        try:
            collection.follow_kernel(lambda: self._read(tracker), features.cgroup2_root())
        except BaseException:
            tracker.close()
            raise
        self._tracker = tracker

    def _read(self, tracker: RingBufferTracer) -> tuple[list[object], int]:
        """The tracker's reports; one reader at a time (gadgets run in several threads)."""
        with self._reading:
            events, lost = tracker.poll()
            return list(events), lost

    def _start_collection(self, scan_proc: bool) -> ContainerCollection:
        """Connects to the runtimes and starts following them.

        A runtime named with --runtimes that does not answer is not fatal: the
        gadget runs, its containers are shown by id, and it is followed as
        soon as it answers.
        """
        sources = self.sources

        def connect(names: list[str] | None) -> list[Runtime]:
            return detect(
                names, dict(sources.sockets), containerd_namespaces=sources.containerd_namespaces
            )

        runtimes: list[Runtime] = []
        missing: list[str] = []
        if sources.runtimes is None:
            runtimes = connect(None)
        else:
            for name in sources.runtimes:
                try:
                    runtimes += connect([name])
                except RuntimeUnavailable as exc:
                    log.warning("%s (its containers are shown by id until it answers)", exc)
                    missing.append(name)
        collection = ContainerCollection(runtimes, sources.containerd_namespaces, sources.node)
        try:
            collection.start(scan_proc)
            for name in missing:
                collection.connect_later(name, _first(connect, name))
        except BaseException:
            collection.close()
            raise
        return collection


def _first(
    connect: Callable[[list[str] | None], list[Runtime]], name: str
) -> Callable[[], Runtime]:
    """A retry of runtime `name` alone (for ContainerCollection.connect_later)."""
    return lambda: connect([name])[0]


def _close(tracker: RingBufferTracer) -> None:
    tracker.close()
