"""Network values of events: IP addresses, endpoints, protocols, packet directions,
socket options.

The kernel side writes addresses as 16 bytes, IPv4 as IPv4-mapped IPv6
(types.h: gadget_ip_addr), so one field holds either family; here they
become the text everybody reads ("10.0.0.1", "fd00::1").
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache
from typing import NamedTuple

from espia.gadget.fields import ValueKind, bits_text, memoized
from espia.semantic import SemanticType, register

_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_ENDPOINT = struct.Struct("<16sH")


def ip_text(raw: bytes) -> str:
    """ "10.0.0.1" for ::ffff:10.0.0.1, "fd00::1" for an IPv6 address."""
    if raw[:12] == _V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, raw[12:16])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


class Endpoint(NamedTuple):
    """An address and a port: "10.0.0.1:53", "[fd00::1]:53"."""

    addr: str
    port: int

    def __str__(self) -> str:
        if ":" in self.addr:
            return f"[{self.addr}]:{self.port}"
        return f"{self.addr}:{self.port}"


@lru_cache(maxsize=4096)
def endpoint(raw: bytes) -> Endpoint:
    """A gadget_l4endpoint as the kernel laid it out (address, then port in host order).

    Cached: a server's endpoint, and a client's for its query and response, repeat.
    """
    addr, port = _ENDPOINT.unpack_from(raw)
    return Endpoint(ip_text(addr), port)


# IPPROTO_* values (netinet/in.h) a network gadget is likely to meet.
IP_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPV6", 132: "SCTP"}

# skb->pkt_type (linux/if_packet.h PACKET_*): where a packet goes.
PACKET_TYPES = {
    0: "HOST",
    1: "BROADCAST",
    2: "MULTICAST",
    3: "OTHERHOST",
    4: "OUTGOING",
    5: "LOOPBACK",
}


def ip_protocol(value: int) -> str:
    return IP_PROTOCOLS.get(value, str(value))


def packet_type(value: int) -> str:
    return PACKET_TYPES.get(value, str(value))


# espia's own bits (types.h: gadget_bind_opts), not a kernel layout.
BIND_OPTS = (
    (1, "REUSEADDR"),
    (2, "REUSEPORT"),
    (4, "FREEBIND"),
    (8, "TRANSPARENT"),
    (16, "BIND_ADDRESS_NO_PORT"),
)


def bind_opts(value: int) -> str:
    return bits_text(value, BIND_OPTS)


register("gadget_ip_addr", SemanticType(ValueKind.STR, decode=ip_text, width=16))
register(
    "gadget_l4endpoint",
    SemanticType(ValueKind.STR, render=str, json_text=True, decode=endpoint, width=22),
)
register(
    "gadget_ip_proto",
    SemanticType(
        ValueKind.INT, render=ip_protocol, json_text=True, hidden=True, width=5, parse=str.upper
    ),
)
register(
    "gadget_packet_type",
    SemanticType(
        ValueKind.INT, render=memoized(packet_type), json_text=True, width=9, parse=str.upper
    ),
)
register(
    "gadget_bind_opts",
    SemanticType(
        ValueKind.INT, render=memoized(bind_opts), json_text=True, width=12, parse=str.upper
    ),
)
