"""A gadget with the local door's stages around it: what the CLI and the API run.

The gadget itself knows nothing about containers or doors; this module adds
the enrichment stage and decides the default columns of this door
(RUNTIME.CONTAINERNAME, plus the K8S columns where pods are involved).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from espia.containers.model import Container
from espia.engine.local import LocalRun, RunOptions
from espia.gadget.schema import EventSchema
from espia.gadget.spec import GadgetSpec
from espia.pipeline.enrich import RUNTIME_FIELDS, ContainerEnricher, k8s_fields


def node_name() -> str:
    """This host's Kubernetes node name (NODE_NAME, as a DaemonSet sets it) or hostname."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


@dataclass
class Session:
    """A prepared gadget run: its schema is known, nothing is loaded yet."""

    run: LocalRun
    schema: EventSchema
    default_columns: list[str]


def open_session(spec: GadgetSpec, options: RunOptions, show_k8s: bool = False) -> Session:
    """Prepares `spec` with the local door's stages; call `session.run.start()` next."""
    index: dict[int, Container] = {}
    run = LocalRun(spec, options, extra_fields=(*RUNTIME_FIELDS, *k8s_fields(node_name())))
    schema = run.prepare()
    key = schema.join_key()
    if key is not None:
        run.operators.insert(0, ContainerEnricher(index, key[1]))
    return Session(run, schema, default_columns(schema, show_k8s))


def default_columns(schema: EventSchema, show_k8s: bool) -> list[str]:
    """The gadget's visible fields, after the container (and pod) columns."""
    columns = []
    if schema.join_key() is not None:
        if show_k8s:
            columns += ["k8s.namespace", "k8s.pod", "k8s.container"]
        columns.append("runtime.containerName")
    own = [f.name for f in schema.fields if not f.hidden and f.name not in _ENRICHED]
    return columns + own


_ENRICHED = {f.name for f in (*RUNTIME_FIELDS, *k8s_fields(""))}
