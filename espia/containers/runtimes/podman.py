"""Podman through the Docker-compatible API of ``podman system service``.

Podman serves the Engine API on its own socket, so this is the Docker client
with Podman's socket and the one difference that matters here: its event for
a removed container is ``remove``, not ``destroy``.
"""

from __future__ import annotations

from typing import ClassVar

from .docker import DockerRuntime


class PodmanRuntime(DockerRuntime):
    """Containers of a Podman API service (rootful: /run/podman/podman.sock)."""

    default_name: ClassVar[str] = "podman"
    default_socket: ClassVar[str] = "/run/podman/podman.sock"
    remove_actions: ClassVar[frozenset[str]] = frozenset({"remove"})
