"""Reaching a runtime's unix socket, and the one-line error when that fails.

Every runtime client connects here first, so "the daemon is not running" reads
the same for containerd, CRI, Docker and Podman, whatever library sits on top.
"""

from __future__ import annotations

import os
import socket

from espia.errors import RuntimeUnavailable


def unavailable(runtime: str, action: str, cause: object) -> RuntimeUnavailable:
    """Build the error for a runtime that failed at ``action``, on one line."""
    text = " ".join(str(cause).split()) or "no details"
    return RuntimeUnavailable(f"{runtime}: {action}: {text}")


def reason(exc: OSError) -> str:
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    if exc.errno:
        text = os.strerror(exc.errno)
        return text[:1].lower() + text[1:]
    return str(exc) or type(exc).__name__


def connect(runtime: str, path: str, timeout: float | None = 5.0) -> socket.socket:
    """Connect to ``path``; a missing or refusing socket raises RuntimeUnavailable."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise unavailable(runtime, f"cannot connect to {path}", reason(exc)) from exc
    return sock


def probe(runtime: str, path: str) -> None:
    """Check that something accepts connections on ``path`` (gRPC's own errors are vaguer)."""
    connect(runtime, path, timeout=2.0).close()
