"""list-containers: the containers of the runtime's collection, then (watch) their changes.

The first batch lists the containers running now; with the `watch`
parameter, one batch per start or stop follows until the run ends.  The
subscription is made before the listing, so no change falls between the
two, and the first batch (``[]`` in JSON when nothing matches yet) tells
a reader that the watch is live.  Pod sandboxes are left out: they run no
workload.  With no runtime answering, the listing says so (see `check`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from espia.containers.collection import ContainerCollection
from espia.containers.model import Container, ContainerEvent
from espia.engine.user import SourceContext
from espia.errors import RuntimeUnavailable

log = logging.getLogger("espia")


def _row(event: str, container: Container) -> dict[str, Any]:
    return {
        "container": container,
        "event": event,
        "pid": container.pid,
        "mntns": container.mntns,
        "netns": container.netns,
        "cgroup": container.cgroup,
        "podUid": container.k8s.pod_uid,
    }


def check(containers: ContainerCollection) -> None:
    """No runtime answers: an empty table would read as "no containers here", so say why.
    Not root: their sockets are root's, an error (nothing could be listed).  Root: a
    warning, and the (empty) listing, which a runtime that starts later fills (--watch);
    an agent on a node without containers lists nothing and says so in its log."""
    if containers.runtimes:
        return
    if os.geteuid() != 0:
        raise RuntimeUnavailable(
            "list containers: no container runtime answers: their sockets are root's, "
            "run espia as root (or with CAP_DAC_OVERRIDE)"
        )
    log.warning(
        "no container runtime answers here: nothing to list "
        "(start one, or give its socket with --runtime-socket NAME=PATH)"
    )


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
