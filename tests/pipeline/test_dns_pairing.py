"""DNS pairing on injected events, with an injected clock: no network, no waiting."""

from __future__ import annotations

import sys

import pytest
from support.schemas import event, schema

from espia.errors import LoadError
from espia.semantic.dns import UNANSWERED, DnsMessage
from espia.semantic.dns_pairing import DnsPairing
from espia.semantic.net import Endpoint

MS = 1_000_000
SECOND = 1000 * MS
CLIENT, SERVER = Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.53", 53)
SERVICE = Endpoint("10.96.0.10", 53)  # what a pod asks, DNAT'ed to SERVER


@pytest.fixture(scope="module")
def dns_schema():
    return schema(
        timestamp="gadget_timestamp",
        netns="gadget_netns_id",
        src="gadget_l4endpoint",
        dst="gadget_l4endpoint",
        dns="gadget_dns_message",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def message(qr: str, ident: int = 7, name: str = "www.test.", qtype: str = "A") -> DnsMessage:
    made = DnsMessage()
    made.qr, made.id, made.name, made.qtype = qr, ident, name, qtype
    made.rcode = "NOERROR" if qr == "R" else ""
    return made


def query(of, at: int, ident: int = 7, netns: int = 1, server: Endpoint = SERVER):
    return event(of, timestamp=at, netns=netns, src=CLIENT, dst=server, dns=message("Q", ident))


def response(of, at: int, ident: int = 7, netns: int = 1, server: Endpoint = SERVER):
    return event(of, timestamp=at, netns=netns, src=server, dst=CLIENT, dns=message("R", ident))


def shown(events):
    return [(e.dns.qr, e.dns.rcode, e.dns.latency, e.dns.nameserver, e.timestamp) for e in events]


def test_a_response_gets_its_latency_and_nameserver(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    out = pairing.process([query(dns_schema, 1 * SECOND), response(dns_schema, SECOND + 3 * MS)])
    assert shown(out) == [
        ("Q", "", 0, "10.0.0.53", SECOND),
        ("R", "NOERROR", 3 * MS, "10.0.0.53", SECOND + 3 * MS),
    ]


def test_a_response_from_behind_a_service_address_is_still_paired(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    out = pairing.process(
        [query(dns_schema, SECOND, server=SERVICE), response(dns_schema, SECOND + MS)]
    )
    assert out[1].dns.latency == MS


def test_retransmissions_keep_the_first_sighting(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    out = pairing.process(
        [
            query(dns_schema, SECOND),
            query(dns_schema, 2 * SECOND),  # the client sent it again
            response(dns_schema, 2 * SECOND + MS),
        ]
    )
    assert [e.dns.latency for e in out] == [0, 0, SECOND + MS]


def test_a_response_seen_twice_gets_its_latency_both_times(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    out = pairing.process(
        [
            query(dns_schema, SECOND),
            response(dns_schema, SECOND + MS),  # leaving the server
            response(dns_schema, SECOND + 2 * MS),  # reaching the client, same namespace
        ]
    )
    assert [e.dns.latency for e in out] == [0, MS, 2 * MS]


def test_namespaces_and_ids_keep_exchanges_apart(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    out = pairing.process(
        [
            query(dns_schema, SECOND, netns=1),
            response(dns_schema, SECOND + MS, netns=2),  # another namespace's
            response(dns_schema, SECOND + MS, ident=8),  # another id
        ]
    )
    assert [e.dns.latency for e in out] == [0, 0, 0]


def test_an_unanswered_query_gets_a_record_when_the_clock_passes_its_timeout(dns_schema):
    clock = Clock()
    pairing = DnsPairing(dns_schema, clock=clock)
    assert len(pairing.process([query(dns_schema, 10 * SECOND)])) == 1
    clock.now = 15 * SECOND  # exactly 5 s: not yet
    assert pairing.process([]) == []
    clock.now = 15 * SECOND + 1
    [record] = pairing.process([])
    assert shown([record]) == [("Q", UNANSWERED, 5 * SECOND, "10.0.0.53", 15 * SECOND)]
    assert pairing.process([]) == [] and pairing.finish() == []


def test_time_also_passes_with_the_events(dns_schema):
    pairing = DnsPairing(dns_schema, clock=Clock())
    first = query(dns_schema, SECOND)
    out = pairing.process([first, query(dns_schema, 7 * SECOND, ident=9)])
    assert [e.dns.rcode for e in out] == ["", "", UNANSWERED]
    assert out[2].dns.id == 7 and first.dns.rcode == ""  # a copy: the query is unchanged


def test_queries_still_waiting_at_the_end_are_given_up_then(dns_schema):
    clock = Clock()
    pairing = DnsPairing(dns_schema, clock=clock)
    pairing.process([query(dns_schema, SECOND), query(dns_schema, 2 * SECOND, ident=8)])
    clock.now = 3 * SECOND
    assert shown(pairing.finish()) == [
        ("Q", UNANSWERED, 2 * SECOND, "10.0.0.53", 3 * SECOND),
        ("Q", UNANSWERED, SECOND, "10.0.0.53", 3 * SECOND),
    ]


def test_an_answered_exchange_is_forgotten_without_a_record(dns_schema):
    clock = Clock()
    pairing = DnsPairing(dns_schema, clock=clock)
    pairing.process([query(dns_schema, SECOND), response(dns_schema, SECOND + MS)])
    clock.now = 100 * SECOND
    assert pairing.process([]) == [] and pairing.finish() == []


def test_an_answered_query_is_let_go_at_once(dns_schema):
    """Only an unanswered query is ever copied: an answered one is not held for 5 s (at
    50,000 queries/s that would be a quarter of a million events alive)."""
    pairing = DnsPairing(dns_schema, clock=Clock())
    asked = query(dns_schema, SECOND)
    pairing.process([asked, query(dns_schema, SECOND, ident=8)])
    before = sys.getrefcount(asked)
    pairing.process([response(dns_schema, SECOND + MS)])
    assert sys.getrefcount(asked) == before - 1
    # The exchange itself is remembered: the response seen again still gets its latency.
    again = pairing.process([response(dns_schema, SECOND + 2 * MS)])
    assert again[0].dns.latency == 2 * MS


def test_the_contract_is_checked_at_construction():
    with pytest.raises(LoadError, match="needs two gadget_l4endpoint members"):
        DnsPairing(schema(timestamp="gadget_timestamp", dns="gadget_dns_message"))
