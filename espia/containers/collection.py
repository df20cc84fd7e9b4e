"""The containers of this host, indexed by the kernel ids events carry.

Three sources, joined here:

- the runtimes' APIs (containerd, CRI, Docker, Podman): names, images, pods,
  listed at start and followed through their event streams;
- the kernel, through the container tracker gadget (containers/tracker):
  each new (mount namespace, cgroup) pair, each new cgroup with its path,
  reported as it happens, so even a container that lives 50 ms is seen.
  The enrichment stage reads these reports (`catch_up()`) right after it
  drains its own gadget's records: whatever the kernel reported before
  those events happened is then known, so attribution never races;
- /proc, scanned once at start, so that every namespace that already exists
  is classified (container or host) before the first event.

`by_mntns` and `by_netns` map a namespace to its Container, or to
NO_CONTAINER for the host's; a namespace that is in neither is not known
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
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from espia.containers.cgroups import CgroupTable, container_of
from espia.containers.model import NO_CONTAINER, Container, ContainerEvent, ContainerEventKind
from espia.containers.runtimes import Runtime
from espia.errors import RuntimeUnavailable

if TYPE_CHECKING:
    from espia.engine.local import LocalRun

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

# (namespace kind "mntns"|"netns", inode, container or NO_CONTAINER; None = forgotten)
Listener = Callable[[str, int, Container | None], None]


def pod_view(container: Container) -> Container:
    """What a network namespace belongs to: the pod (not one of its containers)."""
    if not container.k8s.pod:
        return container
    k8s = dataclasses.replace(container.k8s, container="", sandbox=False)
    return dataclasses.replace(container, name=container.k8s.pod, k8s=k8s)


def _namespace_ids(pid: str) -> tuple[int, int] | None:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino, os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _cgroup_of(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
            return next((line[3:].rstrip("\n") for line in f if line.startswith("0::")), None)
    except OSError:
        return None


class ContainerCollection:
    """The host's containers, kept current while a gadget runs.  `close()` ends it all."""

    def __init__(
        self,
        runtimes: list[Runtime],
        containerd_namespaces: tuple[str, ...] = ("k8s.io",),
        track_kernel: bool = True,
    ) -> None:
        self.runtimes = runtimes
        self.containerd_namespaces = containerd_namespaces
        # 0 is what a gadget reports when it could not read a namespace.
        self.by_mntns: dict[int, Container] = {0: NO_CONTAINER}
        self.by_netns: dict[int, Container] = {0: NO_CONTAINER}
        self._by_id: dict[str, Container] = {}
        # Namespaces the kernel tied to a container id whose metadata we lack.
        self._waiting: dict[str, list[tuple[int, int]]] = {}
        self._hints: dict[int, tuple[str, str]] = {}
        # mntns -> (boot ns when it changed hands, the container that had it before)
        self.recycled: dict[int, tuple[int, Container]] = {}
        self._listeners: list[Listener] = []
        self._watchers: list[Callable[[ContainerEvent], None]] = []
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._forget: list[tuple[float, Container]] = []
        init = _namespace_ids("1")
        self._host_netns = init[1] if init else 0
        self._cgroups: CgroupTable | None = None
        self._tracker: LocalRun | None = None
        self._track_kernel = track_kernel

    # --- life ----------------------------------------------------------------

    def start(self) -> None:
        """Attaches the kernel tracker, lists every runtime, classifies what exists."""
        if self._track_kernel:
            self._start_tracker()
        self._spawn(self._housekeeping, name="espia-containers-expire")
        for runtime in self.runtimes:
            self._spawn(self._follow, runtime, name=f"espia-watch-{runtime.name}")
            try:
                self._add_all(runtime.list_containers())
            except RuntimeUnavailable as exc:
                log.warning("%s (containers of %s are shown without names)", exc, runtime.name)
        self._scan_proc()

    def _start_tracker(self) -> None:
        from espia.ebpf import features
        from espia.engine.local import LocalRun, RunOptions
        from espia.gadget.spec import GadgetSpec


        self._cgroups = CgroupTable(features.cgroup2_root())
        tracker = LocalRun(
            GadgetSpec.from_folder(TRACKER_DIR), RunOptions(buffer_size=TRACKER_BUFFER)
        )
        try:
            tracker.start()
        except BaseException:
            tracker.close()
            raise
        self._tracker = tracker
        self._cgroups.scan()

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
        if self._tracker is not None:
            self._tracker.close()

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
        self._watchers.append(watcher)

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
                self._classify(kind, namespace, NO_CONTAINER)
                return NO_CONTAINER
            runtime, container_id = hint
            log.warning(
                "container %s: no %s metadata (its runtime is not watched, or it ended at once)",
                container_id[:12],
                runtime or "runtime",
            )
            stub = Container(id=container_id, name=container_id[:12], runtime=runtime)
            self._classify(kind, namespace, stub)
            return stub

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
        if current is None or current is NO_CONTAINER or container.k8s.sandbox:
            self._classify("netns", netns, pod_view(container))

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
            self._add(container)

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
                self._classify("mntns", mntns, NO_CONTAINER)
                if netns not in self.by_netns:
                    self._classify("netns", netns, NO_CONTAINER)
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
        if self._tracker is None or self._cgroups is None:
            return
        # Sessions sharing this collection (the agent's runs) call this from their threads.
        with self._lock:
            batch = self._tracker.poll()
            for event in batch.events:
                if event.kind == NEW_CGROUP:
                    self._cgroups.add(event.cgroup_id, event.cgroup)
                else:
                    path = self._cgroups.path(event.cgroup_id)
                    self._learn(event.mntns, event.netns, path, event.timestamp)
        if batch.lost:
            log.warning("container tracker lost %d reports: containers may go unnamed", batch.lost)

    def _scan_proc(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            ids = _namespace_ids(pid)
            if ids is not None and ids[0] not in self.by_mntns:
                self._learn(ids[0], ids[1], _cgroup_of(pid))
        if self._host_netns:
            with self._lock:
                self._classify("netns", self._host_netns, NO_CONTAINER)

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
        if event.kind is ContainerEventKind.STARTED:
            self._add(event.container)
        else:
            self._remove(event.container)
        for watcher in self._watchers:
            watcher(event)
