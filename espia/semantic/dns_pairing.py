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
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from espia.errors import LoadError
from espia.gadget.event import Event
from espia.gadget.schema import EventSchema
from espia.pipeline.operator import Operator
from espia.semantic.dns import UNANSWERED, DnsMessage

UNANSWERED_AFTER = 5.0  # seconds: resolv.conf's default timeout


def boot_time_ns() -> int:
    """The clock of the events' timestamps (bpf_ktime_get_boot_ns)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


# An exchange is a list [query, first sighting]: its query's event is let go once it is
# answered (None), as only an unanswered query is copied into a record (at 50,000
# queries/s, holding every query's event for 5 s kept a quarter of a million alive).
# A list rather than a dataclass: it is made for every query, and a list is made by one
# bytecode where a dataclass runs its __init__ (a tenth of the stage's time).
_Exchange = list[Any]
_QUERY, _FIRST = 0, 1


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

    def __init__(
        self,
        schema: EventSchema,
        timeout: float = UNANSWERED_AFTER,
        clock: Callable[[], int] = boot_time_ns,
    ) -> None:
        self._clock = clock
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
        # What each event is read for, in one call (the per-event loop is the hot path);
        # without a netns member every exchange is in one namespace, 0.
        read = attrgetter(self._message, self._time, self._src, self._dst, *netns[:1])
        self._fields: Callable[[Event], tuple[Any, ...]] = (
            read if netns else lambda event: (*read(event), 0)
        )
        self._timeout = int(timeout * 1e9)
        # What pairing sets (an UNANSWERED record also gets the time it was given up).
        self.writes = frozenset({"nameserver", "latency", "rcode", self._time})
        self._exchanges: dict[tuple[object, ...], _Exchange] = {}
        # (first sighting, key) in time order: what to expire next, in O(1) per exchange
        # (the front of a dict that has lost entries is found by skipping their holes).
        self._order: deque[tuple[int, tuple[object, ...]]] = deque()

    def process(self, events: list[Event]) -> list[Event]:
        exchanges, fields, remember = self._exchanges, self._fields, self._order.append
        known = exchanges.get
        now = 0
        for event in events:
            message: DnsMessage
            message, now, src, dst, netns = fields(event)
            if message.qr == "Q":
                message.nameserver = dst.addr
                key = (netns, message.id, src, message.name, message.qtype)
                exchange = known(key)
                if exchange is None or exchange[_QUERY] is None:
                    exchanges[key] = [event, now]
                    remember((now, key))
            else:
                message.nameserver = src.addr
                exchange = known((netns, message.id, dst, message.name, message.qtype))
                if exchange is not None:
                    message.latency = now - exchange[_FIRST]
                    exchange[_QUERY] = None
        if not events:
            now = self._clock()
        return self._expire(events, now - self._timeout)

    def _expire(self, events: list[Event], before: int, end: int = 0) -> list[Event]:
        """Forgets exchanges that started before `before`; the unanswered ones become records,
        given up `timeout` after their query, or at `end` (the end of the trace) if set."""
        exchanges, order = self._exchanges, self._order
        while order and order[0][0] < before:
            first, key = order.popleft()
            exchange = exchanges.get(key)
            if exchange is None or exchange[_FIRST] != first:
                continue  # replaced by a later exchange with the same key
            del exchanges[key]
            query = exchange[_QUERY]
            if query is not None:
                events.append(self._unanswered(query, first, end or first + self._timeout))
        return events

    def _unanswered(self, query: Event, first: int, given_up: int) -> Event:
        record = copy.copy(query)
        message: DnsMessage = getattr(query, self._message).copy()
        message.rcode = UNANSWERED
        message.latency = given_up - first
        setattr(record, self._message, message)
        setattr(record, self._time, given_up)
        return record

    def finish(self) -> list[Event]:
        """Everything is drained: what timed out by now, then what was still waiting."""
        now = self._clock()
        timed_out = self._expire([], now - self._timeout)
        return self._expire(timed_out, now + 1, end=now)
