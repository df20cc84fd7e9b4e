"""What this kernel and this process can do, probed rather than guessed from `uname`.

Each probe is asked once per process and cached.  The kernel version is only
used to label an error ("needs 5.8"), never to decide.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from pathlib import Path

from espia.errors import NotSupportedError, PrivilegeError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
TRACEFS = Path("/sys/kernel/tracing")

# Capability bits (linux/capability.h).
_CAP_SYS_ADMIN = 21
_CAP_PERFMON = 38
_CAP_BPF = 39


def _effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def require_privileges() -> None:
    """Raises PrivilegeError unless this process may load and attach tracing programs."""
    caps = _effective_capabilities()
    if caps >> _CAP_SYS_ADMIN & 1 or (caps >> _CAP_BPF & 1 and caps >> _CAP_PERFMON & 1):
        return
    raise PrivilegeError(
        "espia needs root (or CAP_BPF and CAP_PERFMON) to load eBPF programs: run it with sudo"
    )


@cache
def require_btf() -> None:
    """Raises NotSupportedError if the kernel exposes no BTF (CO-RE needs it)."""
    if not VMLINUX_BTF.exists():
        raise NotSupportedError(
            "BTF",
            f"no kernel BTF at {VMLINUX_BTF}: espia needs a kernel built with "
            "CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)",
        )


@cache
def tracefs() -> Path:
    """tracefs, mounted if it is not yet: libbpf finds tracepoint ids there."""
    if (TRACEFS / "events").is_dir():
        return TRACEFS
    legacy = Path("/sys/kernel/debug/tracing")
    if (legacy / "events").is_dir():
        return legacy
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"nodev", bytes(TRACEFS), b"tracefs", 0, None) != 0:
        reason = os.strerror(ctypes.get_errno())
        raise NotSupportedError(
            "tracefs", f"mount tracefs on {TRACEFS}: {reason} (is CONFIG_TRACING enabled?)"
        )
    return TRACEFS


def tracepoint_exists(category: str, name: str) -> bool:
    return (tracefs() / "events" / category / name).is_dir()


@cache
def cgroup2_root() -> Path:
    """Where the unified (v2) cgroup hierarchy is mounted: its root sees every task.

    /sys/fs/cgroup on most systems, /sys/fs/cgroup/unified on hybrid ones.
    """
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise NotSupportedError("cgroup2", "find cgroup v2: no cgroup2 file system is mounted")


@cache
def helper_supported(program_type: int, helper_id: int) -> bool:
    """Whether programs of `program_type` may call BPF helper `helper_id` on this kernel."""
    from espia.ebpf import _libbpf

    return _libbpf.lib().libbpf_probe_bpf_helper(program_type, helper_id, None) == 1
