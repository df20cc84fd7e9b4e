"""The one interface every container runtime client implements, and how espia finds them.

Runtime modules are imported only when :func:`detect` picks them: the gRPC
ones pull in grpc and protobuf (~100 ms), which a host running only Docker
never needs.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from espia.containers.model import Container, ContainerEvent
from espia.errors import RuntimeUnavailable, UsageError

log = logging.getLogger("espia")


@runtime_checkable
class Runtime(Protocol):
    """A container runtime's API, as the local door reads it."""

    name: str

    def list_containers(self) -> list[Container]:
        """The containers running now."""
        ...

    def watch(self) -> Iterator[ContainerEvent]:
        """Block on the runtime's events, yielding each start and stop, until :meth:`close`.

        Raises RuntimeUnavailable when the runtime goes away (stops,
        restarts): the caller lists again and calls ``watch()`` anew.
        """
        ...

    def close(self) -> None:
        """Release the connection and end a :meth:`watch` running in another thread."""
        ...


@dataclass(frozen=True, slots=True)
class RuntimeKind:
    """A runtime espia can talk to: where its client lives and where its socket usually is."""

    name: str
    module: str
    cls: str
    socket: str
    # Probed by detect() when no runtime is selected. The generic "cri"
    # endpoint is not: on containerd it would list the containers twice.
    autodetect: bool = True


KINDS: Mapping[str, RuntimeKind] = {
    k.name: k
    for k in (
        RuntimeKind(
            "containerd", "containerd", "ContainerdRuntime", "/run/containerd/containerd.sock"
        ),
        RuntimeKind("docker", "docker", "DockerRuntime", "/var/run/docker.sock"),
        RuntimeKind("podman", "podman", "PodmanRuntime", "/run/podman/podman.sock"),
        RuntimeKind("cri-o", "cri", "CriRuntime", "/var/run/crio/crio.sock"),
        RuntimeKind(
            "cri", "cri", "CriRuntime", "/run/containerd/containerd.sock", autodetect=False
        ),
    )
}


def open_runtime(kind: RuntimeKind, socket: str, **options: Any) -> Runtime:
    """Connect to one runtime; RuntimeUnavailable if it does not answer."""
    module = importlib.import_module(f"{__package__}.{kind.module}")
    runtime: Runtime = getattr(module, kind.cls)(socket, name=kind.name, **options)
    return runtime


def _unknown(names: Sequence[str]) -> UsageError:
    known = ", ".join(KINDS)
    return UsageError(f"unknown container runtime {', '.join(map(repr, names))} (known: {known})")


def detect(
    selected: Sequence[str] | None = None,
    sockets: Mapping[str, str] | None = None,
    *,
    containerd_namespaces: Sequence[str] = ("k8s.io",),
) -> list[Runtime]:
    """Connect to the runtimes of this host.

    ``selected`` (``--runtimes``) names the runtimes to use: each must answer,
    or RuntimeUnavailable says why. Without it every autodetected runtime
    whose socket exists is tried and those that do not answer are skipped;
    two names for one socket (Podman's docker.sock symlink) count once.
    ``sockets`` overrides socket paths by runtime name; a runtime given a
    socket is asked even if not autodetected, and one that does not answer
    there is a warning (the user named that socket).
    """
    sockets = dict(sockets or {})
    # A socket given for a runtime is a request to ask it, even one not autodetected.
    names = (
        list(selected)
        if selected is not None
        else [k.name for k in KINDS.values() if k.autodetect or k.name in sockets]
    )
    if bad := [n for n in [*names, *sockets] if n not in KINDS]:
        raise _unknown(bad)
    runtimes: list[Runtime] = []
    seen: set[str] = set()
    try:
        for name in dict.fromkeys(names):
            kind = KINDS[name]
            path = sockets.get(name, kind.socket)
            options = {"namespaces": containerd_namespaces} if name == "containerd" else {}
            if selected is not None:
                runtimes.append(open_runtime(kind, path, **options))
                continue
            real = os.path.realpath(path)
            if real in seen or (not os.path.exists(path) and name not in sockets):
                continue
            try:
                runtimes.append(open_runtime(kind, path, **options))
            except RuntimeUnavailable as exc:
                if name in sockets:  # asked for by its socket: its absence is news
                    log.warning("%s (its containers are shown by id)", exc)
                continue
            seen.add(real)
    except BaseException:
        for runtime in runtimes:
            runtime.close()
        raise
    return runtimes
