"""Renderers of the catalog's semantic types (types.h, "catalog types").

Each turns a raw value the kernel wrote into the name an operator reads:
a signal number into SIGKILL, a capability into CAP_NET_RAW, a syscall
number into its name, option and flag bits into A|B.  The names are written
here, from the kernel's headers, never taken from C identifiers in the
gadgets' objects, so a program's enum can change without changing what
users see.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from functools import cache
from pathlib import Path


def bits_text(value: int, names: Iterable[tuple[int, str]]) -> str:
    """ "A|B" for the bits of `value` that have names, in the order given; leftover bits in hex."""
    out = []
    for bit, name in names:
        if value & bit:
            out.append(name)
            value &= ~bit
    if value:
        out.append(hex(value))
    return "|".join(out)


def signal_name(value: int) -> str:
    """ "SIGKILL" for 9, "SIGRTMIN+3" for 37; the number for anything else."""
    if 0 < value < signal.SIGRTMIN:
        try:
            return signal.Signals(value).name
        except ValueError:
            return str(value)
    if signal.SIGRTMIN <= value <= signal.SIGRTMAX:
        offset = value - signal.SIGRTMIN
        return f"SIGRTMIN+{offset}" if offset else "SIGRTMIN"
    return str(value)


# The result argument of signal/signal_generate (include/trace/events/signal.h).
# 255: no signal was sent (types.h).
SIGNAL_RESULTS = {
    0: "delivered",
    1: "ignored",
    2: "pending",
    3: "overflow",
    4: "lost-info",
    255: "",
}


def signal_result(value: int) -> str:
    return SIGNAL_RESULTS.get(value, str(value))


# include/uapi/linux/capability.h, in number order.
CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)


def capability_name(value: int) -> str:
    return CAPABILITIES[value] if 0 <= value < len(CAPABILITIES) else str(value)


def cap_verdict(value: int) -> str:
    return "deny" if value else "allow"


# Where this machine's C library headers list the syscall numbers (linux-libc-dev).
UNISTD_HEADERS = (
    Path("/usr/include/asm/unistd_64.h"),
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    Path("/usr/include/aarch64-linux-gnu/asm/unistd.h"),
    Path("/usr/include/asm-generic/unistd.h"),
)
_NR = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$", re.MULTILINE)


@cache
def syscall_names() -> dict[int, str]:
    """Number -> name, from the first header there is (read once, when first needed)."""
    for header in UNISTD_HEADERS:
        try:
            text = header.read_text()
        except OSError:
            continue
        names = {int(number): name for name, number in _NR.findall(text)}
        if names:
            return names
    return {}


def syscall_name(value: int) -> str:
    """ "bind" for 49 on x86_64; "" for -1 (no syscall: a kernel thread); the number if unknown."""
    if value < 0:
        return ""
    return syscall_names().get(value, str(value))


BIND_OPTS = (
    (1, "REUSEADDR"),
    (2, "REUSEPORT"),
    (4, "FREEBIND"),
    (8, "TRANSPARENT"),
    (16, "BIND_ADDRESS_NO_PORT"),
)


def bind_opts(value: int) -> str:
    return bits_text(value, BIND_OPTS)


# gadget_mount_call values (types.h): the syscall's name.
MOUNT_CALLS = (
    "mount",
    "umount",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "fspick",
    "mount_setattr",
)

# include/uapi/linux/mount.h, per call.
_MS = (
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
)
_UMOUNT = ((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW"))
_FSOPEN = ((1, "FSOPEN_CLOEXEC"),)
_FSMOUNT = ((1, "FSMOUNT_CLOEXEC"),)
_MOVE_MOUNT = (
    (1, "MOVE_MOUNT_F_SYMLINKS"),
    (2, "MOVE_MOUNT_F_AUTOMOUNTS"),
    (4, "MOVE_MOUNT_F_EMPTY_PATH"),
    (0x10, "MOVE_MOUNT_T_SYMLINKS"),
    (0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
    (0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
    (0x100, "MOVE_MOUNT_SET_GROUP"),
    (0x200, "MOVE_MOUNT_BENEATH"),
)
_AT = (
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
)
_OPEN_TREE = ((1, "OPEN_TREE_CLONE"), (0o2000000, "OPEN_TREE_CLOEXEC"), *_AT)
_FSPICK = (
    (1, "FSPICK_CLOEXEC"),
    (2, "FSPICK_SYMLINK_NOFOLLOW"),
    (4, "FSPICK_NO_AUTOMOUNT"),
    (8, "FSPICK_EMPTY_PATH"),
)
_MOUNT_FLAGS = (_MS, _UMOUNT, _FSOPEN, _FSMOUNT, _MOVE_MOUNT, _OPEN_TREE, _FSPICK, _AT)


def mount_call(value: int) -> str:
    return MOUNT_CALLS[value] if 0 <= value < len(MOUNT_CALLS) else str(value)


def mount_flags(value: int) -> str:
    """The low 32 bits as the flag names of the call in the high 32 (types.h)."""
    call, flags = value >> 32, value & 0xFFFFFFFF
    names = _MOUNT_FLAGS[call] if call < len(_MOUNT_FLAGS) else ()
    return bits_text(flags, names)


# include/net/tcp_states.h
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
    13: "BOUND_INACTIVE",
}


def tcp_state(value: int) -> str:
    return TCP_STATES.get(value, str(value))


# The TCP header's flags byte (include/net/tcp.h TCPHDR_*), in header order.
TCP_FLAGS = (
    (0x01, "FIN"),
    (0x02, "SYN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
)


def tcp_flags(value: int) -> str:
    return bits_text(value, TCP_FLAGS)


TCP_RETRANSMIT_KINDS = {0: "RETRANSMIT", 1: "SYNACK"}


def tcp_retransmit_kind(value: int) -> str:
    return TCP_RETRANSMIT_KINDS.get(value, str(value))
