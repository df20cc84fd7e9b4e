"""Links: a loaded program attached to a hook.  Destroying the link detaches it.

Links are never pinned: they live as file descriptors of this process, so
even a SIGKILL leaves no program attached behind us.
"""

from __future__ import annotations

import errno
import os

from espia.ebpf import _libbpf, features
from espia.ebpf.object import Program
from espia.errors import KernelError, NotSupportedError, PrivilegeError


class Link:
    """An attachment; `destroy()` is idempotent."""

    def __init__(self, handle: int, program: Program) -> None:
        self._handle: int | None = handle
        self.program = program

    def destroy(self) -> None:
        if self._handle is not None:
            _libbpf.lib().bpf_link__destroy(self._handle)
            self._handle = None


# Sections libbpf cannot attach by name alone: they need a cgroup, which is
# the root of the v2 hierarchy (every task, every network namespace).
_CGROUP_SECTIONS = ("cgroup_skb/", "cgroup/")


def attach(program: Program) -> Link:
    """Attaches `program` where its SEC() name says (tracepoint/, raw_tracepoint/,
    cgroup_skb/ingress on the root cgroup...)."""
    if program.section.startswith(_CGROUP_SECTIONS):
        return attach_cgroup(program, str(features.cgroup2_root()))
    _libbpf.log.take()
    handle = _libbpf.lib().bpf_program__attach(program.handle)
    if not handle:
        raise _attach_error(program, program.section)
    return Link(handle, program)


def attach_cgroup(program: Program, cgroup_path: str) -> Link:
    """Attaches a cgroup program (cgroup_skb/ingress...) to the cgroup at `cgroup_path`."""
    fd = os.open(cgroup_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _libbpf.log.take()
        handle = _libbpf.lib().bpf_program__attach_cgroup(program.handle, fd)
    finally:
        os.close(fd)
    if not handle:
        raise _attach_error(program, f"{program.section} on {cgroup_path}")
    return Link(handle, program)


def _attach_error(program: Program, hook: str) -> KernelError | PrivilegeError:
    code = _libbpf.last_errno()
    _libbpf.log.take()
    if code in (errno.EPERM, errno.EACCES):
        return PrivilegeError(f"attach {program.name} to {hook}: operation not permitted")
    if code in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
        return NotSupportedError(
            hook, f"attach {program.name}: this kernel has no {hook} ({os.strerror(code)})"
        )
    return KernelError(f"attach {program.name} to {hook}: {os.strerror(code)}")
