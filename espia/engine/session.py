"""A gadget with the local door's stages around it: what the CLI and the API run.

The gadget knows nothing about containers or doors.  A session adds, in
this order, the stages of the local door:

    decode -> enrich (container, pod) -> select (-c -n -p -l) -> filter (-F)

and the container collection behind them, and decides the default columns
(RUNTIME.CONTAINERNAME, plus the K8S columns when pods are involved).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from espia.containers.collection import ContainerCollection
from espia.containers.model import Container
from espia.containers.runtimes import Runtime
from espia.containers.selector import ContainerSelector
from espia.engine.local import Batch, LocalRun, RunOptions
from espia.gadget.schema import EventSchema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.enrich import RUNTIME_FIELDS, ContainerEnricher, k8s_fields
from espia.pipeline.select import ContainerSelection

log = logging.getLogger("espia")


def node_name() -> str:
    """This host's Kubernetes node name (NODE_NAME, as a DaemonSet sets it) or hostname."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


@dataclass(frozen=True)
class ContainerOptions:
    """How the local door finds containers, and which ones it shows."""

    selector: ContainerSelector = field(default_factory=ContainerSelector)
    runtimes: tuple[str, ...] | None = None  # --runtimes; None: every one present
    sockets: Mapping[str, str] = field(default_factory=dict)
    containerd_namespaces: tuple[str, ...] = ("k8s.io",)
    enabled: bool = True


def start_collection(options: ContainerOptions, track_kernel: bool = True) -> ContainerCollection:
    """Connects to the runtimes and starts following them (and the kernel).

    A runtime named with --runtimes that does not answer is not fatal: the
    gadget runs, its containers are shown by id, and it is followed as soon
    as it answers.
    """
    from espia.containers.runtimes import detect
    from espia.errors import RuntimeUnavailable

    def connect(names: list[str] | None) -> list[Runtime]:
        return detect(names, options.sockets, containerd_namespaces=options.containerd_namespaces)

    runtimes: list[Runtime] = []
    missing: list[str] = []
    if options.runtimes is None:
        runtimes = connect(None)
        if not runtimes and options.selector.active:
            log.warning("no container runtime answers here: containers are shown by id only")
    else:
        for name in options.runtimes:
            try:
                runtimes += connect([name])
            except RuntimeUnavailable as exc:
                log.warning("%s (its containers are shown by id until it answers)", exc)
                missing.append(name)
    collection = ContainerCollection(runtimes, options.containerd_namespaces, track_kernel)
    try:
        collection.start()
        for name in missing:
            collection.connect_later(name, lambda name=name: connect([name])[0])
    except BaseException:
        collection.close()
        raise
    return collection


class Session:
    """One gadget run with the local door's stages.  `start()`, iterate, `close()`."""

    def __init__(
        self,
        spec: GadgetSpec,
        options: RunOptions,
        containers: ContainerOptions,
        shared: ContainerCollection | None = None,
    ) -> None:
        self.containers = containers
        # A collection that outlives this session (the agent's, shared by its runs).
        self._shared = shared
        self.run = LocalRun(spec, options, extra_fields=(*RUNTIME_FIELDS, *k8s_fields(node_name())))
        self.collection: ContainerCollection | None = None
        try:
            self.schema: EventSchema = self.run.prepare()
        except BaseException:
            self.run.close()
            raise

    def default_columns(self) -> list[str]:
        """The gadget's visible fields after the container columns (K8S ones for pods)."""
        pods = self.containers.selector.wants_pods or (
            self.collection is not None and any(c.k8s.pod for c in self.collection.containers())
        )
        return default_columns(self.schema, pods)

    def start(self) -> None:
        """Starts following containers, then loads and attaches the gadget."""
        key = self.schema.join_key()
        if key is not None and self.containers.enabled:
            kind, attribute = key
            self.collection = collection = self._shared or start_collection(self.containers)
            mntns = kind == "mntns"
            enrich = ContainerEnricher(
                collection.by_mntns if mntns else collection.by_netns,
                attribute,
                lambda ns: collection.settle(kind, ns),
                catch_up=collection.catch_up,
                recycled=collection.recycled if mntns else None,
                timestamp_attribute=self.schema.attribute_of("gadget_timestamp"),
            )
            self.run.operators[:0] = [enrich]
            # Events held for a new container go out as soon as it is described.
            collection.subscribe(self._wake)
            if self.containers.selector.active:
                selection = ContainerSelection(self.containers.selector, collection, kind)
                self.run.operators.insert(1, selection)
        self.run.start()

    def _wake(self, kind: str, namespace: int, container: Container | None) -> None:
        self.run.wake()

    def batches(self) -> Iterator[Batch]:
        return self.run.batches()

    def stop(self) -> None:
        self.run.stop()

    @property
    def lost_total(self) -> int:
        return self.run.lost_total

    def close(self) -> None:
        """Unloads the gadget, then stops following containers; idempotent."""
        if self.collection is not None:
            self.collection.unsubscribe(self._wake)
        try:
            self.run.close()
        finally:
            if self.collection is not None and self.collection is not self._shared:
                self.collection.close()


def open_session(
    spec: GadgetSpec,
    options: RunOptions,
    containers: ContainerOptions | None = None,
    shared: ContainerCollection | None = None,
) -> Session:
    """Prepares `spec` with the local door's stages; nothing is loaded until `start()`.

    With `shared`, the session uses that running collection and leaves it running.
    """
    return Session(spec, options, containers or ContainerOptions(), shared)


def default_columns(schema: EventSchema, show_k8s: bool) -> list[str]:
    """The gadget's visible fields, after the container (and pod) columns.

    Events keyed by network namespace belong to a pod, not to one of its
    containers: with pods, their columns are K8S.NAMESPACE and K8S.POD, as in
    the seed's trace dns output.
    """
    columns = []
    key = schema.join_key()
    if key is not None:
        per_pod = key[0] == "netns"
        if show_k8s:
            columns += ["k8s.namespace", "k8s.pod"] + ([] if per_pod else ["k8s.container"])
        if not (show_k8s and per_pod):
            columns.append("runtime.containerName")
    own = [f.name for f in schema.fields if not f.hidden and f.name not in _ENRICHED]
    return columns + own


_ENRICHED = {f.name for f in (*RUNTIME_FIELDS, *k8s_fields(""))}
