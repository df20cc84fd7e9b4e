"""list-containers: the containers of the runtime's collection, then (watch) their changes.

The first batch lists the containers running now; with the `watch`
parameter, one batch per start or stop follows until the run ends.  The
subscription is made before the listing, so no change falls between the
two, and the first batch (``[]`` in JSON when nothing matches yet) tells
a reader that the watch is live.  Pod sandboxes are left out: they run no
workload.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from espia.containers.model import Container, ContainerEvent
from espia.engine.user import SourceContext


def _row(event: str, container: Container) -> dict[str, Any]:
    return {
        "container": container,
        "event": event,
        "pid": container.pid,
        "mntns": container.mntns,
        "netns": container.netns,
        "cgroup": container.cgroup,
        "k8s.podUid": container.k8s.pod_uid,
    }


def rows(context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    collection = context.containers
    watch = bool(context.params.get("watch"))
    if watch:
        collection.on_change(context.post)
    try:
        running = sorted(collection.containers(), key=lambda c: (c.runtime, c.name))
        yield [_row("running", c) for c in running if not c.k8s.sandbox]
        while watch:
            change = context.next()
            if isinstance(change, ContainerEvent) and not change.container.k8s.sandbox:
                yield [_row(change.kind.value, change.container)]
    finally:
        if watch:
            collection.off_change(context.post)
