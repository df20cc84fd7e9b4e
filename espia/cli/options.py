"""From parsed flags to the engine's option objects: one place for every command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from espia.cli.params import param_values
from espia.cli.parser import OPTION_PREFIX
from espia.containers.selector import ContainerSelector
from espia.engine.containers import ContainerSources
from espia.engine.source import RunOptions


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def container_sources(args: Any) -> ContainerSources:
    """--runtimes, --runtime-socket, --containerd-namespace: where containers come from."""
    return ContainerSources(
        runtimes=_names(args.runtimes) if args.runtimes else None,
        sockets=tuple(args.runtime_socket),
        containerd_namespaces=_names(args.containerd_namespace) or ("k8s.io",),
    )


def gadget_params(args: Any) -> dict[str, object]:
    """The gadget's own flags (gadget.yaml `options:`) that were given, by option name."""
    return {
        name.removeprefix(OPTION_PREFIX): value
        for name, value in vars(args).items()
        if name.startswith(OPTION_PREFIX) and value is not None
    }


def all_params(args: Any, params: Mapping[str, object] | None = None) -> dict[str, object]:
    """The gadget's parameters (--param, their named flags), its own flags, and `params`
    (what the door adds: an interval), by name: what both doors hand the engine."""
    return {**param_values(args), **gadget_params(args), **(params or {})}


def run_options(args: Any, params: Mapping[str, object] | None = None) -> RunOptions:
    """The gadget flags (-F -t --buffer-size -c -n -p -l -A --host, the gadget's
    parameters) as RunOptions."""
    selector = ContainerSelector.from_flags(
        containername=args.containername,
        namespace=args.namespace,
        all_namespaces=getattr(args, "all_namespaces", False),
        podname=args.podname,
        selector=args.selector,
        host=getattr(args, "host", False),
    )
    return RunOptions(
        filter=tuple(getattr(args, "filter", None) or ()),
        timeout=getattr(args, "timeout", 0.0),
        buffer_size=getattr(args, "buffer_size", None),
        selector=selector,
        params=all_params(args, params),
        exclude_self=True,
    )
