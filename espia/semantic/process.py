"""The types of the task an event describes: ids, names, namespaces, times, errors."""

from __future__ import annotations

import errno
import time

from espia.gadget.fields import ValueKind, memoized
from espia.semantic import SemanticType, register


def cstring(raw: bytes) -> str:
    """A NUL-terminated C string; bytes that are not UTF-8 are kept (surrogateescape)."""
    return raw.partition(b"\0")[0].decode("utf-8", "surrogateescape")


def errno_name(value: int) -> str:
    """ "ENOENT" for 2 or -2; "" for 0."""
    return errno.errorcode.get(abs(value), str(value)) if value else ""


class BootClock:
    """Turns bpf_ktime_get_boot_ns() values into wall-clock time.

    The offset between the two clocks is taken once; suspend is counted by
    the boot clock, so the offset holds.
    """

    def __init__(self) -> None:
        self.offset_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)

        self._second = -1
        self._prefix = ""

    def iso(self, boot_ns: int) -> str:
        """2026-11-25T12:00:00.123456789Z (the date part formatted once per second)."""
        return self.quoted(boot_ns)[1:-1]

    def quoted(self, boot_ns: int) -> str:
        """iso() as a JSON string: formatted with its quotes, nothing to escape."""
        seconds, nanos = divmod(boot_ns + self.offset_ns, 1_000_000_000)
        if seconds != self._second:
            self._prefix = time.strftime('"%Y-%m-%dT%H:%M:%S.', time.gmtime(seconds))
            self._second = seconds
        return '%s%09dZ"' % (self._prefix, nanos)  # noqa: UP031 - faster than an f-string


BOOT_CLOCK = BootClock()

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
# Comms repeat: each is decoded once.
register(
    "gadget_comm",
    SemanticType(ValueKind.STR, decode=cstring, memo=True, width=16, untrusted=True, kernel="comm"),
)
register("gadget_pid", SemanticType(ValueKind.INT, width=7, right=True, kernel="pid"))
register("gadget_tid", SemanticType(ValueKind.INT, width=7, right=True, kernel="tid"))
register("gadget_ppid", SemanticType(ValueKind.INT, width=7, right=True))
register("gadget_uid", SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="uid"))
register("gadget_gid", SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="gid"))
_ERRNO_NAME = ("name", memoized(errno_name), str.upper)
register("gadget_errno", SemanticType(ValueKind.INT, width=4, right=True, companion=_ERRNO_NAME))
register(
    "gadget_syscall_ret", SemanticType(ValueKind.INT, width=4, right=True, companion=_ERRNO_NAME)
)
