"""Enrich: attach to each event the container (and pod) that caused it.

The key is the event's mount namespace (``gadget_mntns_id``), or its
network namespace (``gadget_netns_id``) for gadgets whose events belong to
a network namespace rather than a process (DNS packets).  The lookup is one
dict access per event; the container object is shared, not copied.  The
node is a value of the container too (K8S.NODE), so events merged from
several nodes keep theirs.

Time (how long an event may wait for its container) comes from an
injectable clock, so the stage is tested on injected events without a
kernel or a sleep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from operator import attrgetter

from espia.containers.model import Container
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.pipeline.operator import PRIORITY_ENRICH, Operator

# How long events of a namespace nobody knows yet wait for its container.
HOLD = 1.0

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


def k8s_fields() -> tuple[Field, ...]:
    """The K8S.* fields, the node's included: all read from the event's container."""
    return (
        Field(
            "k8s.node",
            "e.container.k8s.node",
            ValueKind.STR,
            "Kubernetes node (this host's name outside a cluster)",
            hidden=True,
            width=20,
        ),
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
    """Sets `event.container` from a namespace-to-container index.

    `catch_up` first applies what the kernel reported about new namespaces
    (they were reported before these events happened).  A namespace the
    index does not know yet is a container that started a moment ago: the
    runtime is describing it right now.  Its events wait (at most `hold`
    seconds), and so do the events behind them, so that the output keeps its
    order; then `settle` gives the best answer.  A namespace number that
    changed hands (`recycled`) gives events older than the change to its
    previous owner, by their timestamp.
    """

    name = "enrich"
    priority = PRIORITY_ENRICH
    writes = frozenset(f.name for f in (*RUNTIME_FIELDS, *k8s_fields()))

    def __init__(
        self,
        index: Mapping[int, Container],
        key_attribute: str,
        settle: Callable[[int], Container],
        catch_up: Callable[[], None] | None = None,
        recycled: Mapping[int, tuple[int, Container]] | None = None,
        timestamp_attribute: str | None = None,
        hold: float = HOLD,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._index = index
        self._key = attrgetter(key_attribute)
        self._settle = settle
        self._catch_up = catch_up
        self._recycled = recycled if recycled is not None and timestamp_attribute else {}
        self._timestamp = attrgetter(timestamp_attribute or key_attribute)
        self._hold = hold
        self._clock = clock
        self._sleep = sleep
        self._pending: deque[tuple[float, Event]] = deque()

    def _previous_owners(self, events: list[Event]) -> None:
        """Events from before a namespace number changed hands go to its previous owner."""
        recycled = self._recycled
        key = self._key
        timestamp = self._timestamp
        for event in events:
            change = recycled.get(key(event))
            if change is not None and timestamp(event) < change[0]:
                event.container = change[1]

    def process(self, events: list[Event]) -> list[Event]:
        if self._catch_up is not None:
            self._catch_up()
        out = self._attach(events)
        if self._recycled:
            self._previous_owners(out)
        return out

    def _attach(self, events: list[Event]) -> list[Event]:
        get = self._index.get
        key = self._key
        if not self._pending:
            for position, event in enumerate(events):
                container = get(key(event))
                if container is None:
                    self._wait(events[position:])
                    del events[position:]
                    break
                event.container = container
            else:
                return events
            return events + self._release(self._clock())
        self._wait(events)
        return self._release(self._clock())

    def _wait(self, events: list[Event]) -> None:
        deadline = self._clock() + self._hold
        self._pending.extend((deadline, event) for event in events)

    def _release(self, now: float) -> list[Event]:
        """The waiting events whose container is now known (or whose time is up), in order."""
        get = self._index.get
        key = self._key
        out = []
        pending = self._pending
        while pending:
            deadline, event = pending[0]
            namespace = key(event)
            container = get(namespace)
            if container is None:
                if now < deadline:
                    break
                container = self._settle(namespace)
            event.container = container
            out.append(pending.popleft()[1])
        return out

    def finish(self) -> list[Event]:
        """At the end, waits out the holds (the last container may be a second old)."""
        out: list[Event] = []
        while True:
            if self._catch_up is not None:
                self._catch_up()
            out += self._release(self._clock())
            if not self._pending:
                break
            self._sleep(0.02)
        if self._recycled:
            self._previous_owners(out)
        return out
