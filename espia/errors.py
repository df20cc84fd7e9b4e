"""espia's exceptions: one hierarchy, translated from foreign errors at one boundary.

    EspiaError                  anything espia reports to a user (exit 1)
    ├── UsageError              a bad flag, column, field, filter or gadget name (exit 2)
    ├── PrivilegeError          not root / missing capabilities
    ├── KernelError             the kernel lacks something or refused something
    │   ├── NotSupportedError   a feature (BTF, ring buffer, a hook) is absent
    │   └── LoadError           libbpf or the verifier refused a program
    ├── BuildError              a gadget's C source did not compile, or is not built
    ├── OutputError             espia's output could not be written (a full disk, closed stdout)
    ├── ImageError              a gadget image is missing, corrupt, badly signed, or its
    │                           registry cannot be reached
    └── RuntimeUnavailable      a container runtime could not be reached

Every message is one line a user can act on: "verb object: cause (fix)".
libbpf errors (negative errno values) and OS errors are turned into these
exceptions in ``espia.ebpf``; the CLI prints ``str(error)`` and never a traceback.
"""

from __future__ import annotations


class EspiaError(Exception):
    """Base of every error espia reports to a user."""

    exit_code = 1


class UsageError(EspiaError):
    """The user asked for something that does not exist or is malformed."""

    exit_code = 2


class PrivilegeError(EspiaError):
    """espia runs without the privileges eBPF needs."""


class KernelError(EspiaError):
    """The kernel refused an operation."""


class NotSupportedError(KernelError):
    """A kernel feature a gadget needs is missing.

    ``feature`` names it (``"BTF"``, ``"tracepoint syscalls/sys_enter_openat"``)
    so that callers can decide on a fallback without parsing the message.
    """

    def __init__(self, feature: str, message: str) -> None:
        super().__init__(message)
        self.feature = feature


class LoadError(KernelError):
    """libbpf or the verifier rejected a gadget's object.

    ``log`` keeps what libbpf and the verifier printed, for ``--verbose``.
    """

    def __init__(self, message: str, log: list[str] | None = None) -> None:
        super().__init__(message)
        self.log = log or []


class BuildError(EspiaError):
    """A gadget's eBPF source did not compile, or its object was never built."""


class RuntimeUnavailable(EspiaError):
    """A container runtime's API could not be reached or answered badly."""


class ImageError(EspiaError):
    """A gadget image could not be found, read, verified, stored or moved."""


class OutputError(EspiaError):
    """espia's own output could not be written: the run stops, its gadget unloaded."""
