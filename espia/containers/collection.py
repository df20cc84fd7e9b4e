"""The containers of this host, indexed by the kernel ids events carry.

Three sources, joined here:

- the runtimes' APIs (containerd, CRI, Docker, Podman): names, images, pods,
  listed at start and followed through their event streams;
- the kernel, through the container tracker gadget (containers/tracker):
  each new (mount namespace, cgroup) pair, each new cgroup with its path,
  reported as it happens, so even a container that lives 50 ms is seen.
  Whoever runs the tracker (the engine's container service) hands its
  reader to `follow_kernel()`; this package never loads a program itself.
  The enrichment stage applies the reports (`catch_up()`) right after it
  drains its own gadget's records: whatever the kernel reported before
  those events happened is then known, so attribution never races;
- /proc, scanned once at start, so that every namespace that already exists
  is classified (container or host) before the first event.

`by_mntns` and `by_netns` map a namespace to its Container, or to `host`
(no container, on this node) for the host's; a namespace that is in neither is not known
yet, and the enrichment stage holds its events a moment (see
espia.pipeline.enrich).  Namespace numbers are reused as soon as they are
free, so a new container often gets the number of one that just ended:
`recycled` keeps, for such a number, when it changed hands and who had it
before, for the events still on their way.  Listeners hear every
classification: container selection keeps the kernel's filter current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from espia.containers.cgroups import CgroupTable, container_of
from espia.containers.model import NO_CONTAINER, Container, ContainerEvent, ContainerEventKind
from espia.containers.runtimes import Runtime
from espia.containers.runtimes._proc import every_process, process_ids
from espia.errors import RuntimeUnavailable

log = logging.getLogger("espia")

TRACKER_DIR = Path(__file__).resolve().parent / "tracker"
# How long a stopped container's namespaces stay known: its last events may
# still be on their way through the ring buffer.
FORGET_AFTER = 5.0
# Between attempts to reach a runtime that went away.
RECONNECT_DELAY = 0.5
NEW_CGROUP = 1  # tracker_kind in tracker/program.bpf.c
# The tracker reports namespaces and cgroups, a few per container: 256 KiB is ample.
TRACKER_BUFFER = 1 << 18

# (namespace kind "mntns"|"netns", inode, container or the host's value; None = forgotten)
Listener = Callable[[str, int, Container | None], None]


class KernelReports(Protocol):
    """The container tracker's reports: what it read since the last call, and its losses."""

    def __call__(self) -> tuple[list[Any], int]: ...


def pod_view(container: Container) -> Container:
    """What a network namespace belongs to: the pod (not one of its containers)."""
    if not container.k8s.pod:
        return container
    k8s = dataclasses.replace(container.k8s, container="", sandbox=False)
    return dataclasses.replace(container, name=container.k8s.pod, k8s=k8s)


class ContainerCollection:
    """The host's containers, kept current while a gadget runs.  `close()` ends it all."""

    def __init__(
        self,
        runtimes: list[Runtime],
        containerd_namespaces: tuple[str, ...] = ("k8s.io",),
        node: str | None = None,
    ) -> None:
        self.runtimes = runtimes
        self.containerd_namespaces = containerd_namespaces
        # Every container (and the host's own value) says which node it is on:
        # `node`, or this host's (what K8sMeta says by default).
        self.node = node or NO_CONTAINER.k8s.node
        self.host = self._stamped(NO_CONTAINER)
        # 0 is what a gadget reports when it could not read a namespace.
        self.by_mntns: dict[int, Container] = {0: self.host}
        self.by_netns: dict[int, Container] = {0: self.host}
        self._by_id: dict[str, Container] = {}
        # Namespaces the kernel tied to a container id whose metadata we lack.
        self._waiting: dict[str, list[tuple[int, int]]] = {}
        self._hints: dict[int, tuple[str, str]] = {}
        # Runtimes not watched whose containers were shown by id (said once each).
        self._unwatched: set[str] = set()
        # mntns -> (boot ns when it changed hands, the container that had it before)
        self.recycled: dict[int, tuple[int, Container]] = {}
        self._listeners: list[Listener] = []
        self._watchers: list[Callable[[ContainerEvent], None]] = []
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._forget: list[tuple[float, Container]] = []
        self._host_netns = process_ids(1).netns
        self._cgroups: CgroupTable | None = None
        self._reports: KernelReports | None = None

    # --- life ----------------------------------------------------------------

    def start(self, scan_proc: bool = True) -> None:
        """Lists every runtime, follows their events, classifies what exists in /proc.

        Without `scan_proc`, /proc is left for `follow_kernel()`, which reads it
        once the tracker is attached.
        """
        self._spawn(self._housekeeping, name="espia-containers-expire")
        for runtime in self.runtimes:
            self._spawn(self._follow, runtime, name=f"espia-watch-{runtime.name}")
            try:
                self._add_all(runtime.list_containers())
            except RuntimeUnavailable as exc:
                log.warning("%s (containers of %s are shown without names)", exc, runtime.name)
        if scan_proc:
            self._scan_proc()

    def follow_kernel(self, reports: KernelReports, cgroup_root: Path) -> None:
        """From now on, `catch_up()` applies the container tracker's `reports`.

        The tracker must be attached before this is called: /proc and the
        cgroup tree are read (again) here, so that every namespace and cgroup
        is known either from that reading or from a report.
        """
        cgroups = CgroupTable(cgroup_root)
        cgroups.scan()
        with self._lock:
            self._cgroups, self._reports = cgroups, reports
        self._scan_proc()

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        """Stops following runtimes and the kernel; idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        for runtime in self.runtimes:
            runtime.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def subscribe(self, listener: Listener) -> None:
        """Calls `listener` for each classification from now on, and for those made so far."""
        with self._lock:
            self._listeners.append(listener)
            for mntns, container in list(self.by_mntns.items()):
                listener("mntns", mntns, container)
            for netns, container in list(self.by_netns.items()):
                listener("netns", netns, container)

    def on_change(self, watcher: Callable[[ContainerEvent], None]) -> None:
        """Calls `watcher` with every start and stop a runtime reports from now on."""
        with self._lock:
            self._watchers.append(watcher)

    def off_change(self, watcher: Callable[[ContainerEvent], None]) -> None:
        """No more calls to `watcher` once this returns."""
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def unsubscribe(self, listener: Listener) -> None:
        """No more calls to `listener` once this returns."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # --- what is known ---------------------------------------------------------

    def containers(self) -> list[Container]:
        """The running containers the runtimes reported, sandboxes included."""
        with self._lock:
            return list(self._by_id.values())

    def settle(self, kind: str, namespace: int) -> Container:
        """The best answer for a namespace still unknown when its events cannot wait longer.

        A container the kernel saw but its runtime did not describe (not
        watched, or gone before we asked) is shown by its id.
        """
        with self._lock:
            index = self.by_mntns if kind == "mntns" else self.by_netns
            if namespace in index:
                return index[namespace]
            hint = self._hints.get(namespace)
            if hint is None:
                self._classify(kind, namespace, self.host)
                return self.host
            runtime, container_id = hint
            self._warn_unnamed(runtime, container_id)
            stub = self._stamped(
                Container(id=container_id, name=container_id[:12], runtime=runtime)
            )
            self._classify(kind, namespace, stub)
            return stub

    def _warn_unnamed(self, runtime: str, container_id: str) -> None:
        """Says why a container is shown by id: once per runtime that is not watched (each
        of its containers would say the same), else once per container (it ended at once)."""
        if runtime and runtime not in {r.name for r in self.runtimes}:
            if runtime not in self._unwatched:
                self._unwatched.add(runtime)
                log.warning(
                    "containers of %s are shown by id: %s's API does not answer here "
                    "(give its socket with --runtime-socket %s=PATH)",
                    runtime,
                    runtime,
                    runtime,
                )
            return
        log.warning(
            "container %s: no %s metadata (it ended at once)",
            container_id[:12],
            runtime or "runtime",
        )

    # --- updates -------------------------------------------------------------

    def _classify(self, kind: str, namespace: int, container: Container) -> None:
        if not namespace:
            return
        index = self.by_mntns if kind == "mntns" else self.by_netns
        if index.get(namespace) is container:
            return
        index[namespace] = container
        for listener in self._listeners:
            listener(kind, namespace, container)

    def _claim_netns(self, netns: int, container: Container) -> None:
        """A container's network namespace is its pod's, unless it is the host's."""
        if netns == self._host_netns:
            return
        current = self.by_netns.get(netns)
        if current is None or current is self.host or container.k8s.sandbox:
            self._classify("netns", netns, pod_view(container))

    def _stamped(self, container: Container) -> Container:
        if container.k8s.node == self.node:
            return container
        return dataclasses.replace(
            container, k8s=dataclasses.replace(container.k8s, node=self.node)
        )

    def _add(self, container: Container) -> None:
        with self._lock:
            self._by_id[container.id] = container
            self._classify("mntns", container.mntns, container)
            self._claim_netns(container.netns, container)
            for mntns, netns in self._waiting.pop(container.id, []):
                self._classify("mntns", mntns, container)
                self._claim_netns(netns, container)

    def _add_all(self, containers: Iterable[Container]) -> None:
        for container in containers:
            self._add(self._stamped(container))

    def _remove(self, container: Container) -> None:
        """Forgets a stopped container once its last events had time to arrive."""
        with self._lock:
            self._forget.append((time.monotonic() + FORGET_AFTER, container))
            self._by_id.pop(container.id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [c for deadline, c in self._forget if deadline <= now]
            self._forget = [(d, c) for d, c in self._forget if d > now]
            for container in due:
                for kind, index in (("mntns", self.by_mntns), ("netns", self.by_netns)):
                    for namespace in [n for n, c in index.items() if c.id == container.id]:
                        del index[namespace]
                        for listener in self._listeners:
                            listener(kind, namespace, None)
            # Past FORGET_AFTER, no event older than a change is still on its way
            # (the previous owner may be the host, which is never forgotten).
            oldest = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - int(FORGET_AFTER * 1e9)
            for mntns in [m for m, (since, _) in self.recycled.items() if since < oldest]:
                del self.recycled[mntns]

    def _learn(self, mntns: int, netns: int, cgroup: str | None, since: int = 0) -> None:
        """A namespace met in the kernel (at boot time `since`) or in /proc: whose is it?"""
        with self._lock:
            found = container_of(cgroup or "", self.containerd_namespaces)
            current = self.by_mntns.get(mntns)
            if current is not None:
                # A report from outside any container never takes a namespace
                # away: `runc exec` joins the container's namespaces while still
                # in the root cgroup.  Only another container's report does.
                if found is None or current.id == found[1]:
                    return
                # The number changed hands: events before `since` are the old owner's.
                self.recycled[mntns] = (since, current)
                if found[1] not in self._by_id:
                    del self.by_mntns[mntns]  # the new owner's events wait for its name
            if found is None:
                # A host process; its network namespace (the host's, or one made
                # with `ip netns`) is the host's unless a container claims it.
                self._classify("mntns", mntns, self.host)
                if netns not in self.by_netns:
                    self._classify("netns", netns, self.host)
                return
            runtime, container_id = found
            container = self._by_id.get(container_id)
            if container is not None:
                self._classify("mntns", mntns, container)
                self._claim_netns(netns, container)
                return
            self._waiting.setdefault(container_id, []).append((mntns, netns))
            self._hints[mntns] = (runtime, container_id)
            if netns != self._host_netns:
                self._hints[netns] = (runtime, container_id)

    def catch_up(self) -> None:
        """Applies what the kernel tracker reported so far (see the module's docstring)."""
        reports, cgroups = self._reports, self._cgroups
        if reports is None or cgroups is None:
            return
        events, lost = reports()
        for event in events:
            if event.kind == NEW_CGROUP:
                cgroups.add(event.cgroup_id, event.cgroup)
            else:
                self._learn(
                    event.mntns, event.netns, cgroups.path(event.cgroup_id), event.timestamp
                )
        if lost:
            log.warning("container tracker lost %d reports: containers may go unnamed", lost)

    def _scan_proc(self) -> None:
        for ids in every_process():
            if ids.mntns not in self.by_mntns:
                self._learn(ids.mntns, ids.netns, ids.cgroup)
        if self._host_netns:
            with self._lock:
                self._classify("netns", self._host_netns, self.host)

    # --- threads ---------------------------------------------------------------

    def connect_later(self, name: str, connect: Callable[[], Runtime]) -> None:
        """Keeps trying to reach a runtime that did not answer at start; follows it once it does."""
        self._spawn(self._connect, name, connect, name=f"espia-connect-{name}")

    def _connect(self, name: str, connect: Callable[[], Runtime]) -> None:
        while not self._closing.wait(RECONNECT_DELAY * 4):
            try:
                runtime = connect()
            except RuntimeUnavailable:
                continue
            if self._closing.is_set():
                runtime.close()
                return
            log.warning("%s answers now: following its containers", name)
            self.runtimes.append(runtime)
            with contextlib.suppress(RuntimeUnavailable):  # _follow lists again when back
                self._add_all(runtime.list_containers())
            self._follow(runtime)
            return

    def _housekeeping(self) -> None:
        while not self._closing.wait(1.0):
            self._expire()

    def _follow(self, runtime: Runtime) -> None:
        """Applies a runtime's events; reconnects, lists again, when it comes back."""
        down = False
        while not self._closing.is_set():
            try:
                if down:
                    self._add_all(runtime.list_containers())
                    log.warning("%s is back: following its containers again", runtime.name)
                    down = False
                for event in runtime.watch():
                    self._apply(event)
            except RuntimeUnavailable as exc:
                if self._closing.is_set():
                    return
                if not down:
                    log.warning("%s (retrying)", exc)
                down = True
                self._closing.wait(RECONNECT_DELAY)

    def _apply(self, event: ContainerEvent) -> None:
        event = ContainerEvent(event.kind, self._stamped(event.container))
        if event.kind is ContainerEventKind.STARTED:
            self._add(event.container)
        else:
            self._remove(event.container)
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher(event)
