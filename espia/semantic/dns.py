"""DNS messages as trace dns shows them: a small parser of the wire format.

Why not dnspython: it parses a whole message into rich objects, about 17 us
for a query and 74 us for a two-answer response on the machines we measure
on; this parser reads only what the fields need (header, first question, A
and AAAA answers) in about 1 and 3.5 us.  At 20,000 queries per second
(40,000 messages) that is the difference between a saturated core and a few
percent of one.  The tests check it against dnspython's encoder.

Messages come from the traced system and may be malformed or cut short (the
kernel copies at most 512 bytes): the parser keeps whatever it could read
and never raises (tests/fuzz holds it to that).
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

from espia.errors import UsageError
from espia.gadget.fields import Field, ValueKind
from espia.semantic import SemanticType, register
from espia.semantic.files import TRUNCATED_MARKER

if TYPE_CHECKING:
    from espia.gadget.schema import EventSchema
    from espia.pipeline.operator import Operator

HEADER_SIZE = 12
_HEADER = struct.Struct("!HHHHHH").unpack_from
_RECORD = struct.Struct("!HHIH").unpack_from
_QUESTION = struct.Struct("!HH").unpack_from
# Enough for any legal name: 255 bytes are at most 127 labels.
_MAX_LABELS = 128

QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    41: "OPT",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    52: "TLSA",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    257: "CAA",
}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
# What RCODE reads for the record of a query that got no response in time.
UNANSWERED = "UNANSWERED"
_TYPE_A = 1
_TYPE_AAAA = 28


def qtype_name(value: int) -> str:
    """ "AAAA" for 28; "TYPE65280" (RFC 3597) for a type without a name."""
    return QTYPES.get(value) or f"TYPE{value}"


def rcode_name(value: int) -> str:
    return RCODES.get(value) or f"RCODE{value}"


class DnsMessage:
    """What the fields of one DNS message show.

    `nameserver` and `latency` (ns, 0 when unknown) are set by the pairing
    stage (espia.semantic.dns_pairing), which knows the packet's endpoints and the
    other messages of the exchange.
    """

    __slots__ = (
        "addresses",
        "id",
        "latency",
        "name",
        "nameserver",
        "numanswers",
        "qr",
        "qtype",
        "rcode",
    )

    def __init__(self) -> None:
        self.id = 0
        self.qr = ""
        self.qtype = ""
        self.name = ""
        self.rcode = ""
        self.numanswers = 0
        self.addresses = ""
        self.nameserver = ""
        self.latency = 0

    def copy(self) -> DnsMessage:
        # Spelt out: it runs for every message (see parse), a loop over the slots is slower.
        twin = _new(DnsMessage)
        twin.id = self.id
        twin.qr = self.qr
        twin.qtype = self.qtype
        twin.name = self.name
        twin.rcode = self.rcode
        twin.numanswers = self.numanswers
        twin.addresses = self.addresses
        twin.nameserver = self.nameserver
        twin.latency = self.latency
        return twin


_new = object.__new__


def _escape_label(label: bytes) -> bytes:
    r"""A label as text: "a.b" is `a\.b`, so that it cannot read as two labels."""
    return label.replace(b"\\", b"\\\\").replace(b".", b"\\.")


def _name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` ("www.example.com.") and the offset after it in the message.

    Compression pointers are followed, a bounded number of times, so that a
    loop of pointers ends.
    """
    labels: list[bytes] = []
    end = -1
    for _ in range(_MAX_LABELS):
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length >= 0xC0:
            if end < 0:
                end = offset + 2
            offset = (length & 0x3F) << 8 | data[offset + 1]
            continue
        labels.append(data[offset + 1 : offset + 1 + length])
        offset += 1 + length
    else:
        raise ValueError("name too long")
    joined = b".".join(labels)
    if b"\\" in joined or joined.count(b".") != len(labels) - 1:
        # A dot or a backslash inside a label: escaped as DNS presentation format does.
        joined = b".".join(_escape_label(label) for label in labels)
    text = joined.decode("utf-8", "surrogateescape") + "."
    return text, end if end >= 0 else offset


def parse(data: bytes, truncated: bool = False) -> DnsMessage:
    """The fields of the DNS message `data`, as far as it could be read.

    `truncated`: the kernel cut the message (its dns_truncated flag), so
    answers may be missing: ADDRESSES ends with the cut marker.
    """
    parsed = _CUT if truncated else _WHOLE
    key = data[2:]
    known = parsed.get(key)
    if known is None:
        known = DnsMessage()
        _read(known, data)
        if truncated:
            known.addresses += TRUNCATED_MARKER
        if len(parsed) >= _PARSED_MAX:
            parsed.clear()
        parsed[key] = known
    message = known.copy()  # a message of its own: pairing sets its NAMESERVER and LATENCY
    if len(data) >= HEADER_SIZE:
        message.id = data[0] << 8 | data[1]
    return message


# Messages already parsed, by all but their id: a name asked again, and its answer, are
# the same bytes but for the id, so most messages are a dict lookup and a copy (about a
# third of a parse).  Bounded, so that a stream of distinct messages cannot grow it.
# Whole and cut messages apart: the key is then the bytes alone (no tuple to build
# and hash per message).
_WHOLE: dict[bytes, DnsMessage] = {}
_CUT: dict[bytes, DnsMessage] = {}
_PARSED_MAX = 4096


def _read(message: DnsMessage, data: bytes) -> None:
    if len(data) < HEADER_SIZE:
        return
    ident, flags, questions, answers, _, _ = _HEADER(data, 0)
    message.id = ident
    response = flags & 0x8000
    message.qr = "R" if response else "Q"
    if response:
        message.rcode = rcode_name(flags & 0xF)
    message.numanswers = answers
    try:
        offset = HEADER_SIZE
        if questions:
            message.name, offset = _name(data, offset)
            message.qtype = qtype_name(_QUESTION(data, offset)[0])
            offset += 4
            for _ in range(questions - 1):
                offset = _name(data, offset)[1] + 4
        if answers:
            message.addresses = _addresses(data, offset, answers)
    except (IndexError, ValueError, struct.error):
        pass  # cut short or malformed: keep what was read


def _addresses(data: bytes, offset: int, count: int) -> str:
    """The A and AAAA answers, comma-separated, as far as the message goes."""
    found: list[str] = []
    try:
        for _ in range(count):
            offset = _name(data, offset)[1]
            rtype, _, _, length = _RECORD(data, offset)
            offset += 10
            if rtype == _TYPE_A and length == 4 and offset + 4 <= len(data):
                found.append(socket.inet_ntop(socket.AF_INET, data[offset : offset + 4]))
            elif rtype == _TYPE_AAAA and length == 16 and offset + 16 <= len(data):
                found.append(socket.inet_ntop(socket.AF_INET6, data[offset : offset + 16]))
            offset += length
    except (IndexError, ValueError, struct.error):
        pass
    return ",".join(found)


def latency_text(nanoseconds: int) -> str:
    """ "1.234ms"; "" for 0 (no latency known)."""
    return f"{nanoseconds / 1e6:.3f}ms" if nanoseconds else ""


_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def parse_duration(text: str) -> int:
    """Nanoseconds of "5ms", "1.5s", "200us", "300ns" or a bare number of nanoseconds."""
    value = text.strip().lower()
    unit = next((u for u in ("ns", "us", "ms", "s") if value.endswith(u)), "ns")
    number = value.removesuffix(unit) if value.endswith(unit) else value
    try:
        amount = float(number)
    except ValueError:
        raise UsageError(f"{text!r} is not a duration (e.g. 5ms, 1.5s, 200us)") from None
    if not 0 <= amount < 2**63 / _UNITS[unit]:
        raise UsageError(f"{text!r} is not a duration (e.g. 5ms, 1.5s, 200us)")
    return round(amount * _UNITS[unit])


def fully_qualified(name: str) -> str:
    """ "foo.test." for "foo.test" or "foo.test.": names are shown with their final dot."""
    return name if name.endswith(".") else name + "."


# What a gadget_dns_message member becomes (paths from the parsed DnsMessage).
DNS_FIELDS = (
    Field("id", ("id",), ValueKind.INT, "DNS message id", hidden=True, width=5, right=True),
    Field(
        "qr", ("qr",), ValueKind.STR, "Q for a query, R for a response", width=2, parse=str.upper
    ),
    Field(
        "qtype",
        ("qtype",),
        ValueKind.STR,
        "Type of the question (A, AAAA...)",
        width=5,
        parse=str.upper,
    ),
    Field(
        "name",
        ("name",),
        ValueKind.STR,
        "Name asked about",
        width=30,
        untrusted=True,
        wide=True,
        parse=fully_qualified,
    ),
    Field(
        "rcode",
        ("rcode",),
        ValueKind.STR,
        "Response code (NOERROR, NXDOMAIN...); UNANSWERED for the record of a query "
        "that got no response within 5 s (or by the end of the trace)",
        width=10,
        parse=str.upper,
    ),
    Field(
        "numanswers", ("numanswers",), ValueKind.INT, "Answers in a response", width=10, right=True
    ),
    Field(
        "nameserver",
        ("nameserver",),
        ValueKind.STR,
        "Address of the server side of the exchange",
        hidden=True,
        width=16,
    ),
    Field(
        "latency",
        ("latency",),
        ValueKind.INT,
        "Time from the query to this response (ns in JSON); for an UNANSWERED record, "
        "how long it waited",
        render=latency_text,
        parse=parse_duration,
        hidden=True,
        width=10,
        right=True,
    ),
    Field(
        "addresses",
        ("addresses",),
        ValueKind.STR,
        "A and AAAA answers, comma-separated",
        hidden=True,
        width=16,
        untrusted=True,
    ),
)


def _pairing(schema: EventSchema) -> Operator:
    """The stage that pairs responses with queries (imported when a gadget needs it)."""
    from espia.semantic.dns_pairing import DnsPairing

    return DnsPairing(schema)


register(
    "gadget_dns_message",
    SemanticType(ValueKind.STR, decode=parse, truncation=True, expand=DNS_FIELDS, stage=_pairing),
)
