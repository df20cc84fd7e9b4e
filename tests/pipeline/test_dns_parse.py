"""The DNS parser of trace dns against messages dnspython encodes, and against garbage."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset
import pytest

from espia.semantic.dns import parse


def response(name: str, *records: tuple[str, str, str], rcode: int = 0) -> bytes:
    query = dns.message.make_query(name, "A", id=4242)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    for owner, rdtype, value in records:
        reply.answer.append(dns.rrset.from_text(owner, 300, "IN", rdtype, value))
    return reply.to_wire()


def test_query_fields():
    wire = dns.message.make_query("www.Example.com.", "AAAA", id=7).to_wire()
    message = parse(wire)
    assert (message.id, message.qr, message.qtype, message.name) == (
        7,
        "Q",
        "AAAA",
        "www.Example.com.",
    )
    assert (message.rcode, message.numanswers, message.addresses) == ("", 0, "")


def test_response_with_cname_and_compressed_addresses():
    wire = response(
        "www.example.com.",
        ("www.example.com.", "CNAME", "web.example.com."),
        ("web.example.com.", "A", "192.0.2.1"),
        ("web.example.com.", "AAAA", "2001:db8::1"),
    )
    message = parse(wire)
    assert (message.qr, message.rcode, message.numanswers) == ("R", "NOERROR", 3)
    assert message.addresses == "192.0.2.1,2001:db8::1"
    assert (message.name, message.qtype) == ("www.example.com.", "A")


@pytest.mark.parametrize(
    ("rcode", "name"),
    [
        (dns.rcode.NXDOMAIN, "NXDOMAIN"),
        (dns.rcode.SERVFAIL, "SERVFAIL"),
        (dns.rcode.REFUSED, "REFUSED"),
        (11, "RCODE11"),
    ],
)
def test_rcode_names(rcode, name):
    assert parse(response("nope.example.", rcode=rcode)).rcode == name


def test_unknown_qtype_is_shown_rfc3597_style():
    wire = dns.message.make_query("x.example.", 65280, id=1).to_wire()
    assert parse(wire).qtype == "TYPE65280"


def test_cut_short_keeps_what_was_read():
    wire = response(
        "www.example.com.", *[("www.example.com.", "A", f"192.0.2.{i}") for i in range(9)]
    )
    cut = parse(wire[: len(wire) - 10])  # the kernel copies at most 512 bytes
    assert cut.numanswers == 9
    assert cut.addresses.split(",") == [f"192.0.2.{i}" for i in range(8)]


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x00\x01",
        b"\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xc0\x0c",  # a name pointing at itself
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc",  # a label past the end
    ],
)
def test_garbage_never_raises(wire):
    message = parse(wire)
    assert message.addresses == ""
