"""What espia knows about a container: the values the enrichment stage attaches to events.

A :class:`Container` is immutable and shared: the enrichment stage hands the
same object to every event of that container, so attaching it costs one
reference, not a copy of every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class K8sMeta:
    """The Kubernetes identity of a pod container, as the kubelet and the CRI record it."""

    namespace: str = ""
    pod: str = ""
    container: str = ""
    pod_uid: str = ""
    pod_labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # The pod's sandbox ("pause") container: it holds the pod's namespaces and
    # runs no workload, so enrichment can attribute it to the pod or skip it.
    sandbox: bool = False
    # The node the container runs on, stamped by the collection of that node, so
    # that events merged from several nodes each say where they happened.
    node: str = ""


@dataclass(frozen=True, slots=True)
class Container:
    """One container as a runtime reports it, with the kernel ids that tie events to it.

    ``k8s`` is always there (empty for containers that are not in a pod), so
    that reading ``container.k8s.pod`` never needs a None check.
    """

    id: str
    name: str
    runtime: str
    image: str = ""
    pid: int = 0
    mntns: int = 0
    netns: int = 0
    cgroup: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    k8s: K8sMeta = field(default_factory=K8sMeta)

    def __bool__(self) -> bool:
        """False for NO_CONTAINER, so that `if event.container:` reads naturally."""
        return bool(self.id)


# What events of processes outside any container carry: every field empty.
NO_CONTAINER = Container(id="", name="", runtime="")


class ContainerEventKind(Enum):
    """What happened to a container."""

    STARTED = "started"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A change a runtime's event stream (or espia's own kernel hook) reported."""

    kind: ContainerEventKind
    container: Container
