"""DNS messages and TLS ClientHellos from traced systems: parsed, never raised on.

Both parsers promise to keep what they could read and never raise; the
fuzzers also hold them to bounded output (a 512-byte message cannot become
a name of kilobytes through compression pointers) and to agreeing with
dnspython on the messages it can read.
"""

from __future__ import annotations

import re

import dns.exception
import dns.message
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import inputs

from espia.semantic import dns as dns_wire
from espia.semantic import tls
from espia.semantic.files import TRUNCATED_MARKER


def name_bound(data: bytes) -> int:
    """Compression pointers are followed, never in a loop, so each byte of the message is
    read at most once into the name; once shown, a byte is at most 4 characters (an
    escaped dot, a surrogate escape), plus the final dot."""
    return 4 * len(data) + 1


@given(inputs("dns", max_size=512), st.booleans())
def test_dns_parse_never_raises_and_stays_bounded(data: bytes, truncated: bool) -> None:
    message = dns_wire.parse(data, truncated)
    assert isinstance(message, dns_wire.DnsMessage)
    assert len(message.name) <= name_bound(data)
    assert message.qr in ("", "Q", "R")
    addresses = message.addresses.removesuffix(TRUNCATED_MARKER)
    assert message.addresses.endswith(TRUNCATED_MARKER) == truncated
    # Each address needs at least 12 bytes of record (a compressed name, 10 of header).
    assert len(addresses.split(",")) <= max(1, len(data) // 12)


_PLAIN = re.compile(rb"[A-Za-z0-9_-]+")


@given(inputs("dns", max_size=512))
def test_dns_parse_agrees_with_dnspython(data: bytes) -> None:
    try:
        reference = dns.message.from_wire(data, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return  # dnspython refuses it: only the test above applies
    message = dns_wire.parse(data)
    assert message.id == reference.id
    assert message.qr == ("R" if reference.flags & 0x8000 else "Q")
    if reference.question:
        question = reference.question[0]
        assert message.qtype == dns_wire.qtype_name(question.rdtype)
        labels = question.name.labels
        if all(_PLAIN.fullmatch(label) for label in labels[:-1]):
            # Plain labels print the same in both; dnspython escapes more than we need.
            assert message.name == question.name.to_text()


@given(inputs("tls", max_size=2048))
def test_tls_parse_never_raises_and_stays_bounded(data: bytes) -> None:
    hello = tls.parse(data)
    assert isinstance(hello, tls.ClientHello)
    assert all(isinstance(value, str) for value in hello)
    # Escaping may widen a byte to 4 characters; nothing else adds.
    assert len(hello.name) + len(hello.alpn) <= 4 * len(data)
    assert tls.parse(memoryview(data)) == hello
