"""`espia list-containers [--watch]`: the containers of this host, as espia sees them."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from espia.cli.options import container_options
from espia.containers.fields import K8S_FIELDS, RUNTIME_FIELDS
from espia.containers.model import Container, ContainerEvent
from espia.engine.session import start_collection
from espia.errors import UsageError
from espia.gadget.fields import Field, ValueKind
from espia.output.columns import ColumnsOutput, select_columns


@dataclass(frozen=True, slots=True)
class Row:
    """A line of the listing: a container, and with --watch what happened to it."""

    event: str
    container: Container


def _field(
    name: str, path: tuple[str, ...], width: int, kind: ValueKind = ValueKind.STR, **kw: Any
) -> Field:
    return Field(name, path, kind, width=width, **kw)


def _short_id(container_id: str) -> str:
    return container_id[:12]


_RUNTIME = {f.name: f.with_options(hidden=False) for f in RUNTIME_FIELDS}

# The enrichment stage's container fields, shown; the id cut to its usual 12 digits.
FIELDS = (
    _field("event", ("event",), 8, hidden=True),
    _RUNTIME["runtime.runtimeName"],
    _RUNTIME["runtime.containerName"],
    _RUNTIME["runtime.containerId"].with_options(render=_short_id, width=12),
    _RUNTIME["runtime.containerImageName"].with_options(width=24),
    _field("pid", ("container", "pid"), 7, ValueKind.INT, right=True),
    _field("mntns", ("container", "mntns"), 10, ValueKind.INT, right=True),
    _field("netns", ("container", "netns"), 10, ValueKind.INT, right=True),
    *(f.with_options(hidden=False) for f in K8S_FIELDS[1:4]),
    _field("k8s.podLabels", ("container", "k8s", "pod_labels"), 20, ValueKind.MAP, hidden=True),
)
DEFAULT = [f.name for f in FIELDS if not f.hidden]


def list_containers_command(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    mode, _, columns = args.output.partition("=")
    if mode not in ("columns", "json", "jsonpretty", "yaml"):
        raise UsageError(f"output {args.output!r}: use columns, json, jsonpretty or yaml")
    chosen = select_columns(FIELDS, ["event", *DEFAULT] if args.watch else DEFAULT, columns)
    options = container_options(args)
    collection = start_collection(options, track_kernel=False)
    try:
        shown = [
            c
            for c in sorted(collection.containers(), key=lambda c: (c.runtime, c.name))
            if not c.k8s.sandbox and options.selector.selects(c)
        ]
        rows = [Row("running", c) for c in shown]
        if mode == "columns":
            table = ColumnsOutput(chosen, sys.stdout, sys.stderr)
            table.begin()
            table.write(rows)  # type: ignore[arg-type]
        elif not args.watch:
            data = [row_dict(r) for r in rows]
            _dump(mode, data)
        if args.watch:
            _watch(collection, options.selector.selects, mode, chosen, stopper)
    finally:
        collection.close()
    return 0


def row_dict(row: Row) -> dict[str, Any]:
    c = row.container
    return {
        "event": row.event,
        "runtime": {
            "runtimeName": c.runtime,
            "containerName": c.name,
            "containerId": c.id,
            "containerImageName": c.image,
        },
        "pid": c.pid,
        "mntns": c.mntns,
        "netns": c.netns,
        "cgroup": c.cgroup,
        "k8s": {
            "namespace": c.k8s.namespace,
            "pod": c.k8s.pod,
            "container": c.k8s.container,
            "podUid": c.k8s.pod_uid,
            "podLabels": dict(c.k8s.pod_labels),
        },
    }


def _dump(mode: str, data: Any) -> None:
    if mode == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    else:
        sys.stdout.write(json.dumps(data, indent=2 if mode == "jsonpretty" else None) + "\n")
    sys.stdout.flush()


def _watch(
    collection: Any,
    selects: Callable[[Container], bool],
    mode: str,
    chosen: tuple[Field, ...],
    stopper: Callable[[Callable[[], None]], Any],
) -> None:
    """Prints containers as they start and stop, until Ctrl-C (JSON: a line each)."""
    done = threading.Event()
    table = ColumnsOutput(chosen, sys.stdout, sys.stderr) if mode == "columns" else None

    def show(event: ContainerEvent) -> None:
        if event.container.k8s.sandbox or not selects(event.container):
            return
        row = Row(event.kind.value, event.container)
        if table is not None:
            table.write([row])  # type: ignore[list-item]
        else:
            _dump(mode, row_dict(row))

    collection.on_change(show)
    signals = stopper(done.set)
    try:
        while not done.wait(0.5):
            pass
    finally:
        signals.restore()
