"""DNS pairing: each response with its query, for NAMESERVER, LATENCY and UNANSWERED.

A query and its response are matched within one network namespace, by
message id, client endpoint (address and port) and question (name and
type).  The server's address is left out on purpose: behind a Service's
DNAT a query goes to the pod's address but its response comes back from the
Service's.

- Retransmissions (and a query seen twice in one namespace, leaving the
  client and reaching a server there) keep the first sighting: LATENCY is
  what the client waited.
- A response seen twice (leaving the server, reaching the client in the
  same namespace) gets its latency both times: an exchange is remembered
  until it would have timed out.
- A query without a response within ``UNANSWERED_AFTER`` seconds gets a
  record of its own: a copy of the query with RCODE ``UNANSWERED``, LATENCY
  the time waited (5 s), TIMESTAMP when it was given up (its first sending
  plus 5 s).  Queries still waiting when the trace ends get one too, given
  up at the end.

Time is the events' own (boot-clock nanoseconds) while records flow, and
the clock on idle wake-ups, when nothing older can still be in the ring.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from dataclasses import dataclass

from espia.errors import LoadError
from espia.gadget.dns import UNANSWERED, DnsMessage
from espia.gadget.event import Event
from espia.gadget.schema import EventSchema
from espia.pipeline.operator import Operator

UNANSWERED_AFTER = 5.0  # seconds: resolv.conf's default timeout


@dataclass(slots=True)
class _Exchange:
    query: Event
    message: DnsMessage
    first: int
    answered: bool = False


def _one(schema: EventSchema, typedef: str) -> str:
    members = schema.members(typedef)
    if len(members) != 1:
        raise LoadError(
            f"read {schema.spec.title}: DNS pairing needs exactly one {typedef} member, "
            f"found {len(members)}"
        )
    return members[0]


class DnsPairing(Operator):
    """Sets NAMESERVER and LATENCY and adds UNANSWERED records (see the module)."""

    name = "dns"

    def __init__(self, schema: EventSchema, timeout: float = UNANSWERED_AFTER) -> None:
        self._message = _one(schema, "gadget_dns_message")
        self._time = _one(schema, "gadget_timestamp")
        endpoints = schema.members("gadget_l4endpoint")
        if len(endpoints) != 2:
            raise LoadError(
                f"read {schema.spec.title}: DNS pairing needs two gadget_l4endpoint members "
                "(source, destination)"
            )
        self._src, self._dst = endpoints
        netns = schema.members("gadget_netns_id")
        self._netns = netns[0] if netns else None
        self._timeout = int(timeout * 1e9)
        # What pairing sets (an UNANSWERED record also gets the time it was given up).
        self.writes = frozenset({"nameserver", "latency", "rcode", self._time})
        self._exchanges: dict[tuple[object, ...], _Exchange] = {}
        # (first sighting, key) in time order: what to expire next, in O(1) per exchange
        # (the front of a dict that has lost entries is found by skipping their holes).
        self._order: deque[tuple[int, tuple[object, ...]]] = deque()

    def process(self, events: list[Event]) -> list[Event]:
        exchanges = self._exchanges
        now = 0
        for event in events:
            message: DnsMessage = getattr(event, self._message)
            now = getattr(event, self._time)
            netns = getattr(event, self._netns) if self._netns else 0
            if message.qr == "Q":
                client, server = getattr(event, self._src), getattr(event, self._dst)
            else:
                client, server = getattr(event, self._dst), getattr(event, self._src)
            message.nameserver = server.addr
            key = (netns, message.id, client, message.name, message.qtype)
            exchange = exchanges.get(key)
            if message.qr == "Q":
                if exchange is None or exchange.answered:
                    exchanges[key] = _Exchange(event, message, now)
                    self._order.append((now, key))
            elif exchange is not None:
                message.latency = now - exchange.first
                exchange.answered = True
        if not events:
            now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return self._expire(events, now - self._timeout)

    def _expire(self, events: list[Event], before: int, end: int = 0) -> list[Event]:
        """Forgets exchanges that started before `before`; the unanswered ones become records,
        given up `timeout` after their query, or at `end` (the end of the trace) if set."""
        exchanges, order = self._exchanges, self._order
        while order and order[0][0] < before:
            first, key = order.popleft()
            exchange = exchanges.get(key)
            if exchange is None or exchange.first != first:
                continue  # replaced by a later exchange with the same key
            del exchanges[key]
            if not exchange.answered:
                events.append(self._unanswered(exchange, end or first + self._timeout))
        return events

    def _unanswered(self, exchange: _Exchange, given_up: int) -> Event:
        record = copy.copy(exchange.query)
        message = exchange.message.copy()
        message.rcode = UNANSWERED
        message.latency = given_up - exchange.first
        setattr(record, self._message, message)
        setattr(record, self._time, given_up)
        return record

    def finish(self) -> list[Event]:
        """Everything is drained: what timed out by now, then what was still waiting."""
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        timed_out = self._expire([], now - self._timeout)
        return self._expire(timed_out, now + 1, end=now)
