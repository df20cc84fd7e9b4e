"""espia: eBPF inspection of Linux nodes and Kubernetes clusters.

    import espia

    for event in espia.trace("open", filter="comm:cat", timeout=5):
        print(event.pid, event.comm, event.path, event.container.name)

The API is loaded on first use, so that `import espia` (and the CLI's
start-up) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from espia._version import __version__
from espia.errors import (
    BuildError,
    EspiaError,
    KernelError,
    LoadError,
    NotSupportedError,
    PrivilegeError,
    RuntimeUnavailable,
    UsageError,
)

if TYPE_CHECKING:
    from espia._api import Trace, run, trace
    from espia.containers.model import Container, K8sMeta
    from espia.gadget.event import Event
    from espia.kubectl.api import cluster

_LAZY = {
    "Trace": "espia._api",
    "cluster": "espia.kubectl.api",
    "run": "espia._api",
    "trace": "espia._api",
    "Event": "espia.gadget.event",
    "Container": "espia.containers.model",
    "K8sMeta": "espia.containers.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'espia' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BuildError",
    "Container",
    "EspiaError",
    "Event",
    "K8sMeta",
    "KernelError",
    "LoadError",
    "NotSupportedError",
    "PrivilegeError",
    "RuntimeUnavailable",
    "Trace",
    "UsageError",
    "__version__",
    "cluster",
    "run",
    "trace",
]
