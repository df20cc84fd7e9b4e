"""TLS ClientHellos as trace sni shows them: the server name, the version, ALPN.

The kernel copies a ClientHello from its record header on, at most 2 KiB
of it, from a traced system that may send anything: the parser reads only
the fields shown, checks every length against what is there, keeps what it
could read before the data ended or stopped making sense, and never raises.
"""

from __future__ import annotations

from typing import NamedTuple

from espia.gadget.fields import Field, ValueKind
from espia.semantic import SemanticType, register

_RECORD_HEADER = 5
_HANDSHAKE_HEADER = 4
_RANDOM = 32
_SERVER_NAME, _ALPN, _SUPPORTED_VERSIONS = 0, 16, 43
_HOST_NAME = 0
VERSIONS = {
    0x0300: "SSL3.0",
    0x0301: "TLS1.0",
    0x0302: "TLS1.1",
    0x0303: "TLS1.2",
    0x0304: "TLS1.3",
}


class ClientHello(NamedTuple):
    """What a ClientHello says; "" for what it does not (or what could not be read)."""

    name: str
    version: str
    alpn: str


NOTHING = ClientHello("", "", "")


class _Reader:
    """Reads big-endian fields of `data` from `at`; IndexError past the end."""

    __slots__ = ("at", "cut", "data", "end")

    def __init__(self, data: bytes, at: int, end: int) -> None:
        self.data, self.at, self.end = data, at, min(end, len(data))
        # The data ends before the block does: a copy cut short.
        self.cut = end > len(data)

    def number(self, size: int) -> int:
        if self.at + size > self.end:
            raise IndexError(self.at)
        value = int.from_bytes(self.data[self.at : self.at + size], "big")
        self.at += size
        return value

    def skip(self, size: int) -> None:
        self.at += size
        if self.at > self.end:
            raise IndexError(self.at)

    def block(self, size_bytes: int) -> _Reader:
        """The next length-prefixed block, as a reader of its own (it may end past the data:
        a cut-short copy; its reads then stop where the data does)."""
        size = self.number(size_bytes)
        inner = _Reader(self.data, self.at, self.at + size)
        self.at += size
        return inner


def _text(raw: bytes) -> str:
    """A name as sent; bytes that are not UTF-8 as \\x escapes (the output escapes the rest)."""
    return raw.decode("utf-8", "backslashreplace")


def parse(raw: bytes | memoryview) -> ClientHello:
    """The fields of the ClientHello in `raw`; NOTHING if it is not one."""
    data = bytes(raw)
    if len(data) < _RECORD_HEADER + _HANDSHAKE_HEADER or data[0] != 0x16 or data[5] != 1:
        return NOTHING
    name, version, alpn = "", "", []
    reader = _Reader(data, _RECORD_HEADER + _HANDSHAKE_HEADER, len(data))
    try:
        legacy = reader.number(2)
        version = VERSIONS.get(legacy, hex(legacy))
        reader.skip(_RANDOM)
        reader.block(1)  # session id
        reader.block(2)  # cipher suites
        reader.block(1)  # compression methods
        extensions = reader.block(2)
        while extensions.at < extensions.end:
            kind = extensions.number(2)
            body = extensions.block(2)
            if kind == _SERVER_NAME:
                names = body.block(2)
                while names.at < names.end:
                    name_type = names.number(1)
                    value = names.block(2)
                    if name_type == _HOST_NAME and not value.cut:
                        name = _text(data[value.at : value.end])
                        break
            elif kind == _SUPPORTED_VERSIONS:
                offered = body.block(1)
                listed = [offered.number(2) for _ in range((offered.end - offered.at) // 2)]
                # Unknown values are GREASE (RFC 8701) or from the future: not shown.
                known = [v for v in listed if v in VERSIONS]
                if known:
                    version = VERSIONS[max(known)]
            elif kind == _ALPN:
                protocols = body.block(2)
                while protocols.at < protocols.end:
                    protocol = protocols.block(1)
                    if protocol.cut:
                        break
                    alpn.append(_text(data[protocol.at : protocol.end]))
    except (IndexError, ValueError):
        pass
    return ClientHello(name, version, ",".join(alpn))


# What a gadget_tls_client_hello member becomes (paths start at the parsed ClientHello).
CLIENT_HELLO_FIELDS = (
    Field("name", ("name",), ValueKind.STR, "Server name (SNI)", width=30, untrusted=True),
    Field(
        "version",
        ("version",),
        ValueKind.STR,
        "Highest TLS version offered (TLS1.3 when supported_versions lists it)",
        width=7,
        parse=str.upper,
    ),
    Field(
        "alpn",
        ("alpn",),
        ValueKind.STR,
        "Application protocols offered (ALPN), comma-separated",
        hidden=True,
        width=12,
        untrusted=True,
    ),
)

register(
    "gadget_tls_client_hello",
    SemanticType(ValueKind.STR, decode=parse, expand=CLIENT_HELLO_FIELDS),
)
