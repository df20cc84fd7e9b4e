"""Fields: what a gadget's events carry, and how each one is shown and filtered.

A field's meaning comes from the semantic typedef of its C member (see
``include/espia/types.h``): one table here maps each typedef to its
rendering, its default visibility and the in-kernel filter it can use.  So a
user gadget that declares ``gadget_errno err`` gets ERR and ERRNAME exactly
like the built-in ones, without a line of Python.

Every field is read with a Python expression over an event ``e`` (``e.pid``,
``e.container.k8s.pod``).  Stages compile those expressions into one
function each (see ``espia.pipeline``), which keeps the per-event path free
of dictionary lookups and per-field calls.
"""

from __future__ import annotations

import errno
import shlex
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from espia.gadget import catalog_types as cat
from espia.gadget import dns, tls
from espia.gadget.net import endpoint, ip_protocol, ip_text, packet_type


class ValueKind(Enum):
    """The Python type of a field's raw value."""

    INT = "int"
    STR = "str"
    BOOL = "bool"
    MAP = "map"  # str -> str, e.g. pod labels


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a gadget's events.

    ``expr`` reads the raw value from an event ``e``.  ``render`` turns the raw
    value into text for columns, regex filters and (when ``json_text``) JSON;
    without it the text is ``str(value)``.  ``untrusted`` strings come from the
    traced system and are escaped before they reach a terminal.  ``kernel``
    names the in-kernel filter (``pid`` -> ``gadget_filter_pid``) an equality
    term on this field can be pushed into.
    """

    name: str
    expr: str
    kind: ValueKind
    description: str = ""
    render: Callable[[Any], str] | None = None
    json_text: bool = False
    hidden: bool = False
    width: int = 0
    right: bool = False
    untrusted: bool = False
    kernel: str | None = None
    # Renders the raw value straight to JSON text (quotes included), where that
    # is cheaper than rendering and then quoting (timestamps).
    json_render: Callable[[Any], str] | None = None

    @property
    def header(self) -> str:
        return self.name.upper()

    def text(self, value: Any) -> str:
        if self.render:
            return self.render(value)
        if self.kind is ValueKind.MAP:
            return labels_text(value)
        return str(value)

    def with_options(self, **options: Any) -> Field:
        return replace(self, **options)


# --- renderers -----------------------------------------------------------------


class Memo(dict[Any, str]):
    """A renderer with memory: flags, modes, errnos, comms and paths repeat, so each
    is rendered once.  Bounded, so that a stream of distinct values cannot grow it."""

    def __init__(self, render: Callable[[Any], str], limit: int = 4096) -> None:
        super().__init__()
        self.render = render
        self.limit = limit

    def __missing__(self, value: Any) -> str:
        if len(self) >= self.limit:
            self.clear()
        text = self[value] = self.render(value)
        return text


def memoized(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """`render`, answered from memory after the first call for each value (a dict lookup)."""
    memo = Memo(render)
    wrapped: Callable[[Any], str] = memo.__getitem__
    return wrapped


def memo_of(render: Callable[[Any], str] | None) -> Memo | None:
    """The table behind a memoized() renderer (generated code subscripts it: `t[v]` is a
    plain dict lookup, cheaper than a call); None for other renderers."""
    table = getattr(render, "__self__", None)
    return table if isinstance(table, Memo) else None


def labels_text(labels: Any) -> str:
    """ "app=web,tier=front" (sorted, so that a filter or a diff sees one spelling)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def errno_name(value: int) -> str:
    """ "ENOENT" for 2 or -2; "" for 0."""
    return errno.errorcode.get(abs(value), str(value)) if value else ""


_ACCESS = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}
# Bits of asm-generic/fcntl.h (x86 and arm64 agree on these).
_OPEN_BITS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
)


def open_flags(value: int) -> str:
    """ "O_WRONLY|O_CREAT|O_TRUNC" for 0o1101: access mode first, then flags in bit order."""
    names = [_ACCESS[value & 3]]
    rest = value & ~3
    for bit, name in _OPEN_BITS:
        if rest & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def file_mode(value: int) -> str:
    """ "0644" (with the type, "-rw-r--r--", where the mode carries one)."""
    if stat.S_IFMT(value):
        return stat.filemode(value)
    return f"0{value & 0o7777:o}" if value else "0"


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


def quote_args(args: list[str]) -> str:
    """Shell-quoted arguments: `sh -c 'echo hi'`, so that spaces stay readable."""
    return " ".join(shlex.quote(a) for a in args)


def latency_text(nanoseconds: int) -> str:
    """ "1.234ms"; "" for 0 (no latency known)."""
    return f"{nanoseconds / 1e6:.3f}ms" if nanoseconds else ""


# What a gadget_dns_message member becomes ("{}" is the parsed DnsMessage).
DNS_FIELDS = (
    Field("id", "{}.id", ValueKind.INT, "DNS message id", hidden=True, width=5, right=True),
    Field("qr", "{}.qr", ValueKind.STR, "Q for a query, R for a response", width=2),
    Field("qtype", "{}.qtype", ValueKind.STR, "Type of the question (A, AAAA...)", width=5),
    Field("name", "{}.name", ValueKind.STR, "Name asked about", width=30, untrusted=True),
    Field(
        "rcode",
        "{}.rcode",
        ValueKind.STR,
        "Response code (NOERROR, NXDOMAIN...); UNANSWERED for the record of a query "
        "that got no response within 5 s (or by the end of the trace)",
        width=10,
    ),
    Field(
        "numanswers", "{}.numanswers", ValueKind.INT, "Answers in a response", width=10, right=True
    ),
    Field(
        "nameserver",
        "{}.nameserver",
        ValueKind.STR,
        "Address of the server side of the exchange",
        hidden=True,
        width=16,
    ),
    Field(
        "latency",
        "{}.latency",
        ValueKind.INT,
        "Time from the query to this response (ns in JSON); for an UNANSWERED record, "
        "how long it waited",
        render=latency_text,
        hidden=True,
        width=10,
        right=True,
    ),
    Field(
        "addresses",
        "{}.addresses",
        ValueKind.STR,
        "A and AAAA answers, comma-separated",
        hidden=True,
        width=16,
        untrusted=True,
    ),
)

# --- semantic types ------------------------------------------------------------


class SemanticType:
    """What a typedef of types.h means for a field of that type.

    `look` is the field such a member becomes, but for its name and
    expression: its kind and presentation (the keyword arguments of
    :class:`Field`).  The rest says what else the type brings.
    """

    __slots__ = ("companion", "decode", "expand", "look", "stage")

    def __init__(
        self,
        kind: ValueKind,
        *,
        companion: tuple[str, Callable[[Any], str]] | None = None,
        decode: Callable[[Any], Any] | None = None,
        expand: tuple[Field, ...] = (),
        stage: str | None = None,
        **presentation: Any,
    ) -> None:
        self.look = Field("", "", kind, **presentation)
        # A companion field "<name><suffix>" computed from this one (ERR -> ERRNAME).
        self.companion = companion
        # Turns the raw member (bytes for arrays and structs) into the event's value.
        self.decode = decode
        # The fields this member becomes instead of one of its own; "{}" in their
        # expressions stands for the member's value (a DNS message -> QR, NAME...).
        self.expand = expand
        # "module:Class" of the pipeline stage events with such a member need (an
        # Operator built from the schema); the engine adds it (espia.pipeline.semantic).
        self.stage = stage

    @property
    def kind(self) -> ValueKind:
        return self.look.kind


SEMANTIC_TYPES: dict[str, SemanticType] = {
    "gadget_timestamp": SemanticType(
        ValueKind.INT,
        render=BOOT_CLOCK.iso,
        json_text=True,
        hidden=True,
        width=30,
        json_render=BOOT_CLOCK.quoted,
    ),
    "gadget_mntns_id": SemanticType(ValueKind.INT, hidden=True, width=10, right=True),
    "gadget_netns_id": SemanticType(
        ValueKind.INT, hidden=True, width=10, right=True, kernel="netns"
    ),
    "gadget_comm": SemanticType(ValueKind.STR, width=16, untrusted=True, kernel="comm"),
    "gadget_pid": SemanticType(ValueKind.INT, width=7, right=True, kernel="pid"),
    "gadget_tid": SemanticType(ValueKind.INT, width=7, right=True, kernel="tid"),
    "gadget_ppid": SemanticType(ValueKind.INT, width=7, right=True),
    "gadget_uid": SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="uid"),
    "gadget_gid": SemanticType(ValueKind.INT, hidden=True, width=6, right=True, kernel="gid"),
    "gadget_errno": SemanticType(
        ValueKind.INT, width=4, right=True, companion=("name", memoized(errno_name))
    ),
    "gadget_syscall_ret": SemanticType(
        ValueKind.INT, width=4, right=True, companion=("name", memoized(errno_name))
    ),
    "gadget_file_flags": SemanticType(
        ValueKind.INT, render=memoized(open_flags), json_text=True, hidden=True, width=24
    ),
    "gadget_file_mode": SemanticType(
        ValueKind.INT, render=memoized(file_mode), json_text=True, hidden=True, width=6
    ),
    "gadget_string_list": SemanticType(ValueKind.STR, untrusted=True),
    "gadget_path_components": SemanticType(ValueKind.STR, untrusted=True, width=24),
    "gadget_truncated": SemanticType(ValueKind.BOOL, hidden=True, width=5),
    "gadget_ip_addr": SemanticType(ValueKind.STR, decode=ip_text, width=16),
    "gadget_l4endpoint": SemanticType(
        ValueKind.STR, render=str, json_text=True, decode=endpoint, width=22
    ),
    "gadget_ip_proto": SemanticType(
        ValueKind.INT, render=ip_protocol, json_text=True, hidden=True, width=5
    ),
    "gadget_packet_type": SemanticType(
        ValueKind.INT, render=packet_type, json_text=True, width=9
    ),
    "gadget_dns_message": SemanticType(
        ValueKind.STR, decode=dns.parse, expand=DNS_FIELDS, stage="espia.pipeline.dns:DnsPairing"
    ),
    # --- catalog types (trace bind, signal, oomkill, capabilities, mount, tcpretrans, sni) ---
    # Their renderers are in catalog_types.py, the ClientHello parser in tls.py.
    "gadget_signal": SemanticType(
        ValueKind.INT, render=memoized(cat.signal_name), json_text=True, width=9
    ),
    "gadget_signal_result": SemanticType(
        ValueKind.INT, render=cat.signal_result, json_text=True, hidden=True, width=9
    ),
    "gadget_capability": SemanticType(
        ValueKind.INT, render=cat.capability_name, json_text=True, width=22
    ),
    "gadget_cap_verdict": SemanticType(
        ValueKind.INT, render=cat.cap_verdict, json_text=True, width=7
    ),
    "gadget_syscall_nr": SemanticType(
        ValueKind.INT, render=memoized(cat.syscall_name), json_text=True, width=16
    ),
    "gadget_bind_opts": SemanticType(
        ValueKind.INT, render=memoized(cat.bind_opts), json_text=True, width=12
    ),
    "gadget_mount_call": SemanticType(
        ValueKind.INT, render=cat.mount_call, json_text=True, width=13
    ),
    "gadget_mount_flags": SemanticType(
        ValueKind.INT, render=memoized(cat.mount_flags), json_text=True, width=24
    ),
    "gadget_tcp_state": SemanticType(ValueKind.INT, render=cat.tcp_state, json_text=True, width=11),
    "gadget_tcp_flags": SemanticType(
        ValueKind.INT, render=memoized(cat.tcp_flags), json_text=True, width=12
    ),
    "gadget_tcp_retransmit_kind": SemanticType(
        ValueKind.INT, render=cat.tcp_retransmit_kind, json_text=True, width=10
    ),
    "gadget_tls_client_hello": SemanticType(
        ValueKind.STR,
        decode=tls.parse,
        expand=(
            Field("name", "{}.name", ValueKind.STR, "Server name (SNI)", width=30, untrusted=True),
            Field(
                "version",
                "{}.version",
                ValueKind.STR,
                "Highest TLS version offered (TLS1.3 when supported_versions lists it)",
                width=7,
            ),
            Field(
                "alpn",
                "{}.alpn",
                ValueKind.STR,
                "Application protocols offered (ALPN), comma-separated",
                hidden=True,
                width=12,
                untrusted=True,
            ),
        ),
    ),
}
