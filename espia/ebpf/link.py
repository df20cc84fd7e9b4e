"""Links: a loaded program attached to a hook.  Destroying the link detaches it.

Links are never pinned: they live as file descriptors of this process, so
even a SIGKILL leaves no program attached behind us.

Kinds of attachment: by SEC() name (tracepoints, raw tracepoints), to a
cgroup (cgroup_skb), and to perf events (`attach_perf_event`: a software
cpu-clock sampler on each CPU, what a stack-sampling profiler needs; this
kernel has no hardware counters).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from espia.ebpf import _libbpf, features
from espia.ebpf.object import Program
from espia.errors import KernelError, NotSupportedError, PrivilegeError


class Link:
    """An attachment; `destroy()` is idempotent (libbpf closes a perf event's fd with it)."""

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


# linux/perf_event.h
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
_ATTR_FREQ = 1 << 10  # perf_event_attr.freq: sample_freq is a frequency, not a period
_ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5; the kernel takes any size it knows
_PERF_FLAG_FD_CLOEXEC = 1 << 3
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}


def perf_event_open_cpu_clock(cpu: int, frequency: int) -> int:
    """A software cpu-clock event sampling every task on `cpu` `frequency` times a second."""
    number = _NR_PERF_EVENT_OPEN.get(os.uname().machine)
    if number is None:
        raise NotSupportedError("perf_event_open", f"perf events on {os.uname().machine}")
    attr = struct.pack(
        "<IIQQQQQ",
        PERF_TYPE_SOFTWARE,
        _ATTR_SIZE,
        PERF_COUNT_SW_CPU_CLOCK,
        frequency,
        0,
        0,
        _ATTR_FREQ,
    )
    # Writable: the kernel writes the size it expects back on E2BIG.
    buffer = ctypes.create_string_buffer(attr, _ATTR_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        ctypes.c_long(number),
        buffer,
        ctypes.c_int(-1),
        ctypes.c_int(cpu),
        ctypes.c_int(-1),
        ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC),
    )
    if fd < 0:
        code = ctypes.get_errno()
        hook = f"perf event cpu-clock on cpu {cpu}"
        if code in (errno.EPERM, errno.EACCES):
            raise PrivilegeError(f"open {hook}: operation not permitted")
        raise NotSupportedError("perf_event_open", f"open {hook}: {os.strerror(code)}")
    return int(fd)


def attach_perf_event(program: Program, cpu: int, frequency: int) -> Link:
    """Attaches a SEC("perf_event") program to a cpu-clock sampler on `cpu`."""
    fd = perf_event_open_cpu_clock(cpu, frequency)
    _libbpf.log.take()
    handle = _libbpf.lib().bpf_program__attach_perf_event(program.handle, fd)
    if not handle:
        error = _attach_error(program, f"perf event cpu-clock on cpu {cpu}")
        os.close(fd)
        raise error
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
