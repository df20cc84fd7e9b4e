"""The types of TCP: connection states, segment flags, what a retransmission resent."""

from __future__ import annotations

from espia.gadget.fields import ValueKind, bits_text, memoized
from espia.semantic import SemanticType, register

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


TCP_RETRANSMIT_KINDS = {0: "RETRANSMIT", 1: "SYNACK", 2: "LOSS PROBE"}


def tcp_retransmit_kind(value: int) -> str:
    return TCP_RETRANSMIT_KINDS.get(value, str(value))


register(
    "gadget_tcp_state",
    SemanticType(ValueKind.INT, render=tcp_state, json_text=True, width=11, parse=str.upper),
)
register(
    "gadget_tcp_flags",
    SemanticType(
        ValueKind.INT, render=memoized(tcp_flags), json_text=True, width=12, parse=str.upper
    ),
)
register(
    "gadget_tcp_retransmit_kind",
    SemanticType(
        ValueKind.INT, render=tcp_retransmit_kind, json_text=True, width=10, parse=str.upper
    ),
)
