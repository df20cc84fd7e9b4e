"""What this kernel and this process can do, probed rather than guessed from `uname`.

Each probe is asked once per process and cached.  The kernel version is only
used to label an error ("needs 5.8"), never to decide.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from enum import IntEnum
from functools import cache
from pathlib import Path

from espia.errors import NotSupportedError, PrivilegeError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
TRACEFS = Path("/sys/kernel/tracing")


class Capability(IntEnum):
    """The capabilities eBPF gadgets may need (bits of linux/capability.h)."""

    CAP_DAC_OVERRIDE = 1
    CAP_DAC_READ_SEARCH = 2
    CAP_NET_ADMIN = 12
    CAP_SYS_PTRACE = 19
    CAP_SYS_ADMIN = 21
    CAP_PERFMON = 38
    CAP_BPF = 39


# What each kind of program (its ELF section's prefix, as libbpf names them) needs
# to load and attach, and why: the kernel checks CAP_BPF for loading, CAP_PERFMON
# for tracing programs (which read kernel memory), CAP_NET_ADMIN for attaching
# to cgroups and network devices.
_TRACING = {Capability.CAP_BPF: "load eBPF programs", Capability.CAP_PERFMON: "trace the kernel"}
_NETWORK = {Capability.CAP_BPF: "load eBPF programs", Capability.CAP_NET_ADMIN: "attach to cgroups"}
_PROGRAM_NEEDS: dict[str, dict[Capability, str]] = {
    "tracepoint": _TRACING,
    "tp": _TRACING,
    "raw_tracepoint": _TRACING,
    "raw_tp": _TRACING,
    "tp_btf": _TRACING,
    "perf_event": _TRACING,
    "kprobe": _TRACING,
    "uprobe": _TRACING,
    "cgroup_skb": _NETWORK,
    "cgroup": _NETWORK,
    "sockops": _NETWORK,
    "tc": _NETWORK,
    "classifier": _NETWORK,
    "xdp": _NETWORK,
    "socket": {Capability.CAP_BPF: "load eBPF programs"},
}
# Every gadget reads other processes' /proc entries (namespaces, descriptors) to
# tie events to containers and sockets to processes; without it they come out empty.
_EVERY_GADGET = {Capability.CAP_SYS_PTRACE: "read other processes' /proc entries"}
# Capabilities that the kernel accepts in place of another one.
_IMPLIED_BY = {
    Capability.CAP_BPF: Capability.CAP_SYS_ADMIN,
    Capability.CAP_PERFMON: Capability.CAP_SYS_ADMIN,
    Capability.CAP_DAC_READ_SEARCH: Capability.CAP_DAC_OVERRIDE,
}


# The order messages and documentation list them in: from loading to attributing.
_ORDER = (
    Capability.CAP_BPF,
    Capability.CAP_PERFMON,
    Capability.CAP_NET_ADMIN,
    Capability.CAP_DAC_READ_SEARCH,
    Capability.CAP_SYS_PTRACE,
)


def _effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def _tracefs_readable() -> bool:
    """tracefs is root's only (0700): another user needs CAP_DAC_READ_SEARCH to find
    tracepoints there.  Asked with this process's effective rights and capabilities."""
    for root in (TRACEFS, Path("/sys/kernel/debug/tracing")):
        if root.exists():
            return os.access(root, os.R_OK | os.X_OK, effective_ids=True)
    return True  # not mounted: tracefs() mounts it, or says why it cannot


def needed_capabilities(sections: Iterable[str]) -> dict[Capability, str]:
    """The capabilities a gadget whose programs are in `sections` needs here, and why.

    Derived from the kinds of program the object holds (not a table per gadget);
    reading tracefs adds CAP_DAC_READ_SEARCH only where this user cannot already.
    """
    needed = dict(_EVERY_GADGET)
    tracing = False
    for section in sections:
        kind = section.split("/", 1)[0].split(".", 1)[0]
        needs = _PROGRAM_NEEDS.get(kind, {Capability.CAP_BPF: "load eBPF programs"})
        tracing = tracing or needs is _TRACING
        needed.update(needs)
    if tracing and not _tracefs_readable():
        needed[Capability.CAP_DAC_READ_SEARCH] = "read tracefs"
    return {cap: needed[cap] for cap in _ORDER if cap in needed}


def require_privileges(what: str, sections: Iterable[str]) -> None:
    """Raises PrivilegeError naming each capability `what` (a gadget) lacks, and why."""
    effective = _effective_capabilities()

    def held(cap: Capability) -> bool:
        implied = _IMPLIED_BY.get(cap)
        return bool(effective >> cap & 1 or (implied is not None and effective >> implied & 1))

    missing = {cap: why for cap, why in needed_capabilities(sections).items() if not held(cap)}
    if not missing:
        return
    reasons = ", ".join(f"{cap.name} ({why})" for cap, why in missing.items())
    raise PrivilegeError(
        f"{what} needs {reasons}: run espia as root, or grant "
        f"{'it' if len(missing) == 1 else 'them'} (setpriv --ambient-caps, or a "
        "container's securityContext.capabilities)"
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
