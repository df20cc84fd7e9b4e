"""The DNS diagnosis on injected events: pods as clients, the clients' view only,
retransmissions, percentiles, the search-path stem."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from support.schemas import event, schema

from espia.containers.model import NO_CONTAINER, Container, K8sMeta
from espia.diagnose.dns import (
    HOST,
    OUTGOING,
    DnsDiagnosis,
    _asked_stem,
    host_resolvers,
    percentile,
)
from espia.diagnose.text import dns_report_text
from espia.engine.runtime import CONTAINER_FIELDS
from espia.semantic.dns import UNANSWERED, DnsMessage
from espia.semantic.net import Endpoint

MS = 1_000_000
SECOND = 1000 * MS
POD = Container(
    id="c1", name="app", runtime="containerd", k8s=K8sMeta(namespace="shop", pod="web-0")
)
CLIENT, SERVER = Endpoint("10.0.0.7", 40000), Endpoint("10.96.0.10", 53)


@pytest.fixture(scope="module")
def dns_schema():
    return schema(
        extra=CONTAINER_FIELDS,
        timestamp="gadget_timestamp",
        netns="gadget_netns_id",
        pid="gadget_pid",
        comm="gadget_comm",
        type="gadget_packet_type",
        src="gadget_l4endpoint",
        dst="gadget_l4endpoint",
        dns="gadget_dns_message",
    )


def sighting(
    of, kind: int, qr: str, at: int, *, rcode: str = "", latency: int = 0, ident=1, **where
):
    message = DnsMessage()
    message.qr, message.id, message.name, message.qtype = qr, ident, "db.shop.", "A"
    message.rcode, message.latency, message.nameserver = rcode, latency, SERVER.addr
    ends = (CLIENT, SERVER) if qr == "Q" else (SERVER, CLIENT)
    return event(
        of,
        container=where.get("container", POD),
        timestamp=at,
        netns=5,
        pid=where.get("pid", 42),
        comm="app",
        type=kind,
        src=ends[0],
        dst=ends[1],
        dns=message,
    )


def test_a_pod_is_named_by_namespace_and_pod_and_only_its_side_counts(dns_schema):
    diagnosis = DnsDiagnosis(dns_schema, [SERVER.addr])
    diagnosis.add(
        [
            sighting(dns_schema, OUTGOING, "Q", 0),
            sighting(dns_schema, HOST, "Q", 1 * MS),  # the server receiving it: not counted
            sighting(dns_schema, OUTGOING, "Q", 1000 * MS),  # a retransmission
            sighting(dns_schema, OUTGOING, "R", 1001 * MS, rcode="NOERROR"),  # the server's
            sighting(dns_schema, HOST, "R", 1002 * MS, rcode="NOERROR", latency=1002 * MS),
            sighting(dns_schema, OUTGOING, "Q", 2000 * MS, ident=2),
            sighting(
                dns_schema, OUTGOING, "Q", 7 * SECOND, ident=2, rcode=UNANSWERED, latency=5 * SECOND
            ),
        ]
    )  # fmt: skip
    report = diagnosis.report(10.0, 0, slow_ns=500 * MS)
    (client,) = report["clients"]
    assert (client["client"], client["kind"], client["namespace"]) == ("shop/web-0", "pod", "shop")
    assert client["nameservers"] == [
        {
            "nameserver": SERVER.addr,
            "queries": 2,
            "retransmissions": 1,
            "answered": 1,
            "unanswered": 1,
            "rcodes": {"NOERROR": 1},
            "p50": 1002 * MS,
            "p99": 1002 * MS,
        }
    ]
    assert [(f["severity"], f["text"]) for f in report["findings"]] == [
        ("error", "shop/web-0: 1 of 2 queries to 10.96.0.10 got no answer in 5 s"),
        (
            "warning",
            "shop/web-0: answers from 10.96.0.10 are slow: p99 1002.000ms, p50 1002.000ms "
            "over 1 answers (threshold 500.000ms)",
        ),
    ]


def test_a_client_is_held_to_the_resolver_of_its_own_resolv_conf(dns_schema, tmp_path):
    """Read where the process runs (its mount namespace's /etc/resolv.conf): here, ours."""
    ours = host_resolvers(Path(f"/proc/{os.getpid()}/root/etc/resolv.conf"))
    assert ours and SERVER.addr not in ours
    diagnosis = DnsDiagnosis(dns_schema)
    diagnosis.add([sighting(dns_schema, OUTGOING, "Q", 0, container=NO_CONTAINER, pid=os.getpid())])
    report = diagnosis.report(1.0, 0)
    assert report["clients"][0]["resolvers"] == list(ours)
    assert [f["text"] for f in report["findings"]][-1] == (
        f"app (pid {os.getpid()}): 1 queries went to {SERVER.addr}, which is not its resolver "
        f"({', '.join(ours)})"
    )


def test_percentile_is_nearest_rank():
    ordered = list(range(1, 101))
    assert [percentile(ordered, p) for p in (0.5, 0.99, 1.0)] == [50, 99, 100]
    assert percentile([], 0.5) == 0
    assert percentile([7], 0.99) == 7


def test_the_stem_of_an_expansion_is_the_longest_name_asked():
    asked = Counter({"api.example.com.": 1, "api.": 1})
    assert _asked_stem("api.example.com.ns.svc.cluster.local.", asked) == "api.example.com."
    assert _asked_stem("other.example.com.", asked) is None
    # A dot inside a label (escaped) is not a label boundary anyone asked about.
    assert _asked_stem("a\\.b.svc.", Counter({"a\\.b.": 1})) == "a\\.b."


def test_the_text_report_escapes_what_the_traced_system_named(dns_schema):
    """A comm and a DNS name are the traced system's: the terminal gets escapes, JSON the
    text itself (lossless)."""
    diagnosis = DnsDiagnosis(dns_schema, [SERVER.addr])
    hostile = sighting(dns_schema, OUTGOING, "Q", 0, container=NO_CONTAINER, pid=7)
    hostile.comm = "x\x1b[2Jy"
    given_up = sighting(
        dns_schema, OUTGOING, "Q", 5 * SECOND, container=NO_CONTAINER, pid=7, rcode=UNANSWERED,
        latency=5 * SECOND,
    )  # fmt: skip
    given_up.comm = hostile.comm
    diagnosis.add([hostile, given_up])
    report = diagnosis.report(5.0, 0)
    assert report["findings"][0]["text"].startswith("x\x1b[2Jy (pid 7): 1 of 1 queries")
    text = dns_report_text(report)
    assert "\x1b" not in text
    assert "  critical x\\x1b[2Jy (pid 7): 1 of 1 queries to 10.96.0.10 got no answer in 5 s\n" in (
        text
    )
    assert text.splitlines()[-1].split() == [
        "x\\x1b[2Jy", "(pid", "7)", "10.96.0.10", "1", "0", "1", "-", "-", "-",
    ]  # fmt: skip


def test_events_from_a_clusters_agents_are_diagnosed_alike_and_named_with_their_node(dns_schema):
    """The agents' wire: a packet's direction and time travel as their text; the same events
    give the same numbers, each client with its node, and the resolver given (the cluster's
    DNS service) is the only one a client is held to."""
    from espia.agent.wire import BatchEncoder, RemoteSchema, StreamDecoder, schema_message
    from espia.engine.wire import WireSchema

    on_node = Container(
        id="c1", name="app", runtime="containerd",
        k8s=K8sMeta(namespace="shop", pod="web-0", node="node-b"),
    )  # fmt: skip
    events = [
        sighting(dns_schema, OUTGOING, "Q", 0, container=on_node),
        sighting(dns_schema, OUTGOING, "Q", 1000 * MS, container=on_node),  # retransmitted
        sighting(dns_schema, HOST, "R", 1002 * MS, rcode="NOERROR", latency=1002 * MS,
                 container=on_node),
        sighting(dns_schema, OUTGOING, "Q", 2000 * MS, ident=2, container=on_node),
        sighting(dns_schema, OUTGOING, "Q", 7 * SECOND, ident=2, rcode=UNANSWERED,
                 latency=5 * SECOND, container=on_node),
    ]  # fmt: skip
    wire = WireSchema.of(dns_schema)
    remote = RemoteSchema(schema_message(wire, "node-b", "0"))
    batch = BatchEncoder(dns_schema, wire).encode(events, 1, 0)
    decoded = StreamDecoder(remote, "node-b").decode(batch)
    here = DnsDiagnosis(dns_schema, [SERVER.addr])
    here.add(events)
    there = DnsDiagnosis(remote, ["10.96.0.99"], cluster=True)
    there.add(decoded)
    local, merged = here.report(10.0, 0, 500 * MS), there.report(10.0, 0, 500 * MS)
    (client,) = merged["clients"]
    assert client == {**local["clients"][0], "node": "node-b", "resolvers": ["10.96.0.99"]}
    assert [(f["kind"], f["client"], f["node"], f["text"]) for f in merged["findings"]] == [
        ("no-answer", "shop/web-0", "node-b",
         "shop/web-0 on node-b: 1 of 2 queries to 10.96.0.10 got no answer in 5 s"),
        ("slow", "shop/web-0", "node-b",
         "shop/web-0 on node-b: answers from 10.96.0.10 are slow: p99 1002.000ms, p50 "
         "1002.000ms over 1 answers (threshold 500.000ms)"),
        ("other-resolver", "shop/web-0", "node-b",
         "shop/web-0 on node-b: 2 queries went to 10.96.0.10, which is not its resolver "
         "(10.96.0.99)"),
    ]  # fmt: skip
    text = dns_report_text(merged)
    assert text.splitlines()[-2:] == [
        "CLIENT     NODE   NAMESERVER QUERIES ANSWERED UNANSWERED ERRORS        P50        P99",
        "shop/web-0 node-b 10.96.0.10       2        1          1 -      1002.000ms 1002.000ms",
    ]
