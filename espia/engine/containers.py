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
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from espia.containers.collection import TRACKER_BUFFER, TRACKER_DIR, ContainerCollection
from espia.containers.runtimes import Runtime, detect
from espia.ebpf import features
from espia.engine.tracer import RingBufferTracer
from espia.errors import RuntimeUnavailable
from espia.gadget.spec import GadgetSpec
from espia.pipeline.operator import KernelConfig

log = logging.getLogger("espia")


def node_name() -> str:
    """This host's Kubernetes node name (NODE_NAME, as a DaemonSet sets it) or hostname."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


@dataclass(frozen=True)
class ContainerSources:
    """Where a runtime finds containers: the same for every gadget it runs."""

    runtimes: tuple[str, ...] | None = None  # --runtimes; None: every one present
    sockets: tuple[tuple[str, str], ...] = ()  # --runtime-socket NAME=PATH
    containerd_namespaces: tuple[str, ...] = ("k8s.io",)
    node: str = field(default_factory=node_name)


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
        """The collection, started if it is not; with `kernel`, also fed by the tracker."""
        with self._lock:
            if self._collection is None:
                self._collection = self._start_collection()
            self._users += 1
            try:
                if kernel and self._tracker is None:
                    self._start_tracker(self._collection)
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

    def _start_tracker(self, collection: ContainerCollection) -> None:
        tracker = RingBufferTracer(GadgetSpec.from_folder(TRACKER_DIR), TRACKER_BUFFER)
        try:
            tracker.prepare()
            tracker.start(KernelConfig())
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

    def _start_collection(self) -> ContainerCollection:
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
            collection.start()
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
