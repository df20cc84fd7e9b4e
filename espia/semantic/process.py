"""The types of the task an event describes: ids, names, namespaces, times, errors, syscalls."""

from __future__ import annotations

import errno
import re
import time
from functools import cache
from pathlib import Path

from espia.errors import UsageError
from espia.gadget.fields import ValueKind, memoized
from espia.semantic import SemanticType, register


def cstring(raw: bytes) -> str:
    """A NUL-terminated C string; bytes that are not UTF-8 are kept (surrogateescape)."""
    return raw.partition(b"\0")[0].decode("utf-8", "surrogateescape")


def errno_name(value: int) -> str:
    """ "ENOENT" for 2 or -2; "" for 0."""
    return errno.errorcode.get(abs(value), str(value)) if value else ""


def errno_number(text: str) -> int:
    """2 for "ENOENT", "enoent" or "2" (a parameter's value); a ValueError otherwise."""
    name = text.strip()
    if name.isdigit():
        return int(name)
    number = getattr(errno, name.upper(), None)
    if not name.upper().startswith("E") or not isinstance(number, int):
        raise ValueError(f"{text!r} is not an errno name (ENOENT...) or number")
    return number


class BootClock:
    """Turns bpf_ktime_get_boot_ns() values into wall-clock time.

    The offset between the two clocks is taken once; suspend is counted by
    the boot clock, so the offset holds.
    """

    def __init__(self) -> None:
        self.offset_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        # The wall-clock second of the last value formatted: where it starts on the
        # boot clock (none yet: no value is that far before it), its text up to the dot.
        self._second_start = -1_000_000_000
        self._prefix = ""

    def iso(self, boot_ns: int) -> str:
        """2026-11-25T12:00:00.123456789Z (the date part formatted once per second)."""
        return self.quoted(boot_ns)[1:-1]

    def quoted(self, boot_ns: int) -> str:
        """iso() as a JSON string: formatted with its quotes, nothing to escape.

        Every event has a timestamp, and at a flood's pace a million of them
        fall in one second: so a value is compared with the start of the last
        value's second (one subtraction), and the division
        and the date's text are done only when a new second begins.
        """
        nanos = boot_ns - self._second_start
        if not 0 <= nanos < 1_000_000_000:
            seconds, nanos = divmod(boot_ns + self.offset_ns, 1_000_000_000)
            self._second_start = boot_ns - nanos
            self._prefix = time.strftime('"%Y-%m-%dT%H:%M:%S.', time.gmtime(seconds))
        return '%s%09dZ"' % (self._prefix, nanos)  # noqa: UP031 - faster than an f-string


BOOT_CLOCK = BootClock()


def local_time(boot_ns: int) -> str:
    """2026-11-25T13:00:00.123456789+01:00: a boot-clock time in this host's time zone."""
    seconds, nanos = divmod(boot_ns + BOOT_CLOCK.offset_ns, 1_000_000_000)
    moment = time.localtime(seconds)
    offset = moment.tm_gmtoff or 0
    sign, offset = ("-", -offset) if offset < 0 else ("+", offset)
    zone = f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{nanos:09d}{zone}"


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


register(
    "gadget_timestamp",
    SemanticType(
        ValueKind.INT,
        render=BOOT_CLOCK.iso,
        json_text=True,
        hidden=True,
        width=30,
        json_render=BOOT_CLOCK.quoted,
    ),
)
register("gadget_mntns_id", SemanticType(ValueKind.INT, hidden=True, width=10, right=True))
register(
    "gadget_netns_id",
    SemanticType(ValueKind.INT, hidden=True, width=10, right=True, kernel="netns"),
)
COMM_MAX = 15  # TASK_COMM_LEN - 1: the kernel cuts longer names


def comm_value(text: str) -> str:
    """A comm to compare with: one longer than the kernel keeps could never match."""
    if len(text.encode("utf-8", "surrogateescape")) > COMM_MAX:
        first = text.encode("utf-8", "surrogateescape")[:COMM_MAX].decode("utf-8", "ignore")
        raise UsageError(
            f"a comm holds at most {COMM_MAX} bytes (the kernel cuts longer names), so "
            f"{text!r} never matches: use its first {COMM_MAX}, {first!r}"
        )
    return text


# Comms repeat: each is decoded once.
register(
    "gadget_comm",
    SemanticType(
        ValueKind.STR,
        decode=cstring,
        memo=True,
        width=16,
        untrusted=True,
        kernel="comm",
        parse=comm_value,
    ),
)
register("gadget_pid", SemanticType(ValueKind.INT, width=7, right=True, kernel="pid"))
register("gadget_tid", SemanticType(ValueKind.INT, width=7, right=True, kernel="tid"))
register("gadget_ppid", SemanticType(ValueKind.INT, width=7, right=True))
register("gadget_uid", SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="uid"))
register("gadget_gid", SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="gid"))
_ERRNO_NAME = ("name", memoized(errno_name), str.upper, None)
register(
    "gadget_errno",
    SemanticType(ValueKind.INT, width=4, right=True, companion=_ERRNO_NAME, value=errno_number),
)
register(
    "gadget_syscall_ret", SemanticType(ValueKind.INT, width=4, right=True, companion=_ERRNO_NAME)
)
register(
    "gadget_syscall_nr",
    SemanticType(
        ValueKind.INT, render=memoized(syscall_name), json_text=True, width=16, parse=str.lower
    ),
)
