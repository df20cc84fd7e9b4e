"""Container runtime clients for the local door: containerd, CRI (CRI-O), Docker, Podman.

``detect()`` connects to the runtimes present; each is a :class:`Runtime`
that lists running containers and watches starts and stops. Any failure to
reach a runtime is an :class:`espia.errors.RuntimeUnavailable` with one line.
"""

from .base import KINDS, Runtime, RuntimeKind, detect, open_runtime

__all__ = ["KINDS", "Runtime", "RuntimeKind", "detect", "open_runtime"]
