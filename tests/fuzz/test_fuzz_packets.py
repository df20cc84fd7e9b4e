"""Packet headers as trace dns's kernel side reads them: the programs themselves, fuzzed.

The cgroup_skb programs of trace dns are loaded and attached as a trace
does, and each example is handed to them with BPF_PROG_TEST_RUN: the kernel
runs the real program on a packet of our making (behind an Ethernet
header, as the test run wants), with a socket of its own, so what reaches
the ring buffer is what that packet would have given.  The properties:

- every packet passes (the programs observe, they never drop: verdict 1);
- a well-formed DNS query over UDP, IPv4 or IPv6 behind any chain of
  hop-by-hop, routing, destination-options and first-fragment headers,
  gives exactly one event with its addresses, ports, size and id; behind a
  fragment past the first, none;
- anything else (random bytes behind a real IP header) gives events only
  of at most the bytes it had, and never a crash or a hang.

Addresses are from the documentation ranges, so that the trace's other
traffic (this machine's) is told apart.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import inputs
from support.testrun import TestRun

SRC4, DST4 = "192.0.2.1", "198.51.100.53"
SRC6, DST6 = "2001:db8::1", "2001:db8::53"
ETH_IP, ETH_IP6 = 0x0800, 0x86DD
HOP, ROUTING, FRAGMENT, DSTOPTS = 0, 43, 44, 60
UDP, TCP = 17, 6


class Programs(TestRun):
    """trace dns's programs; only the events about this test's addresses."""

    def run(self, program: str, packet: bytes, ethertype: int) -> tuple[int, list]:
        verdict, _, events = self.test_run(program, packet, ethertype)
        ours = {SRC4, DST4, SRC6, DST6}
        return verdict, [e for e in events if e.src.addr in ours or e.dst.addr in ours]


@pytest.fixture(scope="module")
def programs():
    loaded = Programs("dns")
    yield loaded
    loaded.close()


def query(ident: int) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + b"\3www\4test\0\0\1\0\1"


def udp(payload: bytes, sport: int = 40000, dport: int = 53) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(l4: bytes, proto: int = UDP, frag: int = 0) -> bytes:
    src, dst = ipaddress.IPv4Address(SRC4).packed, ipaddress.IPv4Address(DST4).packed
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, src, dst) + l4


def ipv6(l4: bytes, extensions: list[tuple[int, bytes]], proto: int = UDP) -> bytes:
    """`extensions`: (type, body) each; a body is padded to the header's 8-byte units."""
    chain = b""
    kinds = [kind for kind, _ in extensions] + [proto]
    for i, (kind, body) in enumerate(extensions):
        if kind == FRAGMENT:
            chain += struct.pack("!BB", kinds[i + 1], 0) + body[:6].ljust(6, b"\0")
        else:
            body = body.ljust(-(-(len(body) + 2) // 8) * 8 - 2, b"\0")
            chain += struct.pack("!BB", kinds[i + 1], (len(body) + 2) // 8 - 1) + body
    payload = chain + l4
    src, dst = ipaddress.IPv6Address(SRC6).packed, ipaddress.IPv6Address(DST6).packed
    first = kinds[0]
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), first, 64, src, dst) + payload


_OPTIONS = st.binary(max_size=20)
_EXTENSION = st.one_of(
    st.tuples(st.sampled_from([HOP, ROUTING, DSTOPTS]), _OPTIONS),
    # A first fragment (offset 0, more fragments), or one past the first.
    st.tuples(st.just(FRAGMENT), st.sampled_from([b"\0\1abcd", b"\x05\x01abcd"])),
)


@given(
    extensions=st.lists(_EXTENSION, max_size=5),
    ident=st.integers(0, 0xFFFF),
    program=st.sampled_from(["dns_egress", "dns_ingress"]),
)
def test_a_dns_query_behind_any_extension_headers(programs, extensions, ident, program):
    message = query(ident)
    packet = ipv6(udp(message), extensions)
    verdict, events = programs.run(program, packet, ETH_IP6)
    assert verdict == 1
    past_first = any(kind == FRAGMENT and body[:2] != b"\0\1" for kind, body in extensions)
    if past_first:
        assert events == []
        return
    assert [
        (str(e.src), str(e.dst), e.proto, e.size, e.dns_truncated, e.dns.id) for e in events
    ] == [(f"[{SRC6}]:40000", f"[{DST6}]:53", UDP, len(message), False, ident)]


@given(ident=st.integers(0, 0xFFFF), fragment=st.sampled_from([0, 0x2000, 0x0001, 0x2005]))
def test_a_dns_query_over_ipv4_and_its_fragments(programs, ident, fragment):
    message = query(ident)
    verdict, events = programs.run("dns_egress", ipv4(udp(message), frag=fragment), ETH_IP)
    assert verdict == 1
    if fragment & 0x1FFF:  # past the first: no UDP header to read
        assert events == []
    else:
        assert [(str(e.src), str(e.dst), e.size, e.dns.id) for e in events] == [
            (f"{SRC4}:40000", f"{DST4}:53", len(message), ident)
        ]


@given(
    body=inputs("dns", max_size=700),
    transport=st.sampled_from([UDP, TCP]),
    family=st.sampled_from([4, 6]),
    lie=st.integers(-40, 40),
    program=st.sampled_from(["dns_egress", "dns_ingress"]),
)
def test_anything_behind_an_ip_header_passes_and_stays_within_its_bytes(
    programs, body, transport, family, lie, program
):
    if transport == UDP:
        l4 = udp(body)
    else:  # a TCP header (data offset 5) to port 53, then the bytes as the stream
        l4 = struct.pack("!HHIIBBHHH", 40000, 53, 1000, 0, 0x50, 0x18, 1024, 0, 0) + body
    packet = ipv4(l4, transport) if family == 4 else ipv6(l4, [], transport)
    # The IP header's length may lie, both ways.
    at = 2 if family == 4 else 4
    declared = struct.unpack_from("!H", packet, at)[0]
    packet = packet[:at] + struct.pack("!H", max(0, min(0xFFFF, declared + lie))) + packet[at + 2 :]
    verdict, events = programs.run(program, packet, ETH_IP if family == 4 else ETH_IP6)
    assert verdict == 1
    for event in events:
        assert event.proto == transport
        assert 12 <= event.size <= max(len(body), 0xFFFF if transport == TCP else len(body) + 40)
