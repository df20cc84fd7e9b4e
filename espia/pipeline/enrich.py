"""Enrich: attach to each event the container (and pod) that caused it.

The key is the event's mount namespace (``gadget_mntns_id``), or its
network namespace (``gadget_netns_id``) for gadgets whose events belong to
a network namespace rather than a process (DNS packets).  The lookup is one
dict access per event; the container object is shared, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter

from espia.containers.model import NO_CONTAINER, Container
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.pipeline.operator import Operator

RUNTIME_FIELDS = (
    Field(
        "runtime.containerName",
        "e.container.name",
        ValueKind.STR,
        "Name of the container, as its runtime knows it",
        width=20,
        untrusted=True,
    ),
    Field(
        "runtime.containerId",
        "e.container.id",
        ValueKind.STR,
        "Id of the container",
        hidden=True,
        width=13,
    ),
    Field(
        "runtime.containerImageName",
        "e.container.image",
        ValueKind.STR,
        "Image of the container",
        hidden=True,
        width=20,
        untrusted=True,
    ),
    Field(
        "runtime.runtimeName",
        "e.container.runtime",
        ValueKind.STR,
        "Container runtime (containerd, docker, podman, cri-o)",
        hidden=True,
        width=10,
    ),
)


def k8s_fields(node: str) -> tuple[Field, ...]:
    """The K8S.* fields; K8S.NODE is `node`, the same for every event of this host."""
    return (
        Field("k8s.node", repr(node), ValueKind.STR, "Kubernetes node", hidden=True, width=20),
        Field(
            "k8s.namespace",
            "e.container.k8s.namespace",
            ValueKind.STR,
            "Kubernetes namespace of the pod",
            hidden=True,
            width=14,
        ),
        Field("k8s.pod", "e.container.k8s.pod", ValueKind.STR, "Pod name", hidden=True, width=16),
        Field(
            "k8s.container",
            "e.container.k8s.container",
            ValueKind.STR,
            "Container name in the pod spec",
            hidden=True,
            width=14,
        ),
        Field(
            "k8s.podLabels",
            "e.container.k8s.pod_labels",
            ValueKind.MAP,
            "Labels of the pod",
            hidden=True,
            width=20,
        ),
    )


class ContainerEnricher(Operator):
    """Sets `event.container` from a namespace-to-container index."""

    name = "enrich"

    def __init__(self, index: Mapping[int, Container], key_attribute: str) -> None:
        self._index = index
        self._key = attrgetter(key_attribute)

    def process(self, events: list[Event]) -> list[Event]:
        get = self._index.get
        key = self._key
        for event in events:
            event.container = get(key(event), NO_CONTAINER)
        return events
