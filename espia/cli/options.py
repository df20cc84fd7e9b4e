"""From parsed flags to the engine's option objects: one place for every command."""

from __future__ import annotations

from typing import Any

from espia.containers.selector import ContainerSelector
from espia.engine.session import ContainerOptions


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def container_options(args: Any) -> ContainerOptions:
    """The container flags (-c -n -p -l -A --host --runtimes ...) as ContainerOptions."""
    selector = ContainerSelector.from_flags(
        containername=args.containername,
        namespace=args.namespace,
        all_namespaces=getattr(args, "all_namespaces", False),
        podname=args.podname,
        selector=args.selector,
        host=getattr(args, "host", False),
    )
    return ContainerOptions(
        selector=selector,
        runtimes=_names(args.runtimes) if args.runtimes else None,
        sockets=dict(args.runtime_socket),
        containerd_namespaces=_names(args.containerd_namespace) or ("k8s.io",),
    )
