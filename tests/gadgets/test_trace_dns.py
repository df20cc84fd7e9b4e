"""trace dns against real resolvers in namespaces the tests make: events, pairing, time-outs."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.dnsclient import ClientRun, Exchange, ask
from support.netns import Lab, Link, NetNs
from support.runtimes import Ctr
from support.workloads import EspiaCli, comm_name

import espia

RECORDS = {"www.test.": ["10.9.9.8", "10.9.9.9"], "six.test.": ["fd00:e5b1:99::9"]}
A, AAAA = 1, 28


@pytest.fixture
def pair(lab: Lab) -> tuple[NetNs, NetNs, Link]:
    """A client namespace and a server namespace, linked, dnsmasq answering RECORDS."""
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    lab.dnsmasq(server, RECORDS, link.peer4, link.peer6)
    return client, server, link


def traced(workload: Callable[[], Any], **options: Any) -> tuple[list[espia.Event], Any]:
    """The events of `trace dns` while `workload` runs, and what it returned."""
    with espia.trace("dns", **options) as trace:
        result = workload()
        trace.stop()
        events = list(trace)
    assert trace.lost == 0
    return events, result


def view(event: espia.Event) -> dict[str, Any]:
    """The fields a test compares exactly (latency and time are checked apart)."""
    shown = event.to_dict()
    for key in ("timestamp", "latency", "runtime", "k8s", "mntns", "size"):
        shown.pop(key)
    shown["addresses"] = addresses(event)
    return shown


def addresses(event: espia.Event) -> str:
    """ADDRESSES in a stable order: dnsmasq rotates its answers."""
    return ",".join(sorted(event.get("addresses").split(","))) if event.get("addresses") else ""


def expected(run: ClientRun, index: int, netns: int, **fields: Any) -> dict[str, Any]:
    sent = run.sent[index]
    return {"netns": netns, "pid": run.pid, "tid": sent.tid, "comm": run.comm, **fields}


def test_udp_queries_and_responses_are_paired_with_exact_fields(pair):
    client, _server, link = pair
    exchanges = [
        Exchange(link.peer4, "www.test.", A, ident=101),
        Exchange(link.peer4, "six.test.", AAAA, ident=102),
        Exchange(link.peer4, "nope.test.", A, ident=103),
    ]
    events, run = traced(lambda: ask(client, exchanges), filter=f"netns:{client.inode}")
    server = f"{link.peer4}:53"
    answers = [
        ("NOERROR", 2, "10.9.9.8,10.9.9.9"),
        ("NOERROR", 1, "fd00:e5b1:99::9"),
        ("NXDOMAIN", 0, ""),
    ]
    want = []
    for i, (exchange, (rcode, count, addresses)) in enumerate(zip(exchanges, answers, strict=True)):
        qtype = "A" if exchange.qtype == A else "AAAA"
        common = {
            "proto": "UDP",
            "id": exchange.ident,
            "qtype": qtype,
            "name": exchange.name,
            "nameserver": link.peer4,
        }
        src = run.sent[i].src
        want.append(
            expected(
                run,
                i,
                client.inode,
                type="OUTGOING",
                src=src,
                dst=server,
                qr="Q",
                rcode="",
                numanswers=0,
                addresses="",
                **common,
            )
        )
        want.append(
            expected(
                run,
                i,
                client.inode,
                type="HOST",
                src=server,
                dst=src,
                qr="R",
                rcode=rcode,
                numanswers=count,
                addresses=addresses,
                **common,
            )
        )
    assert [view(e) for e in events] == want
    for i, response in enumerate(events[1::2]):
        measured = run.sent[i].latency
        # Seen by the kernel after the client's send and before its recv returned.
        assert 0 < response.get("latency") <= measured
        assert measured - response.get("latency") < 50_000_000
        assert events[2 * i].get("latency") == 0


def test_task_filters_drop_in_the_kernel(pair):
    """-F comm:/pid: are applied to the packet's process in the kernel: what they drop is
    never received (the other client's messages, and the server's sightings)."""
    client, _server, link = pair
    mine, other = comm_name(), comm_name()
    with espia.trace("dns", filter=f"comm:{mine}") as trace:
        ask(client, [Exchange(link.peer4, "www.test.", A, ident=201)], comm=other)
        ask(client, [Exchange(link.peer4, "www.test.", A, ident=202)], comm=mine)
        trace.stop()
        events = list(trace)
    assert [(e.comm, e.get("qr"), e.get("id")) for e in events] == [
        (mine, "Q", 202),
        (mine, "R", 202),
    ]
    assert trace.received == 2

    dnsmasq = pair_server_pid(client, link)
    with espia.trace("dns", filter=f"pid:{dnsmasq}") as trace:
        ask(client, [Exchange(link.peer4, "www.test.", A, ident=203)])
        trace.stop()
        events = list(trace)
    # The server sends the response (its receiving the query is attributed only if it
    # bound its socket after espia started); the client's two messages never arrive.
    assert (dnsmasq, "R", "OUTGOING") in [(e.pid, e.get("qr"), e.get("type")) for e in events]
    assert {e.pid for e in events} == {dnsmasq}
    assert trace.received == len(events)


def pair_server_pid(client: NetNs, link: Link) -> int:
    """dnsmasq's pid, as trace dns sees it answer one query (no filter)."""
    events, _ = traced(
        lambda: ask(client, [Exchange(link.peer4, "www.test.", A, ident=200)]),
        filter="qr:R,type:OUTGOING",
    )
    assert len(events) == 1 and events[0].comm == "dnsmasq"
    return events[0].pid


def test_tcp_and_ipv6_transports(pair):
    client, _server, link = pair
    exchanges = [
        Exchange(link.peer6, "www.test.", A, ident=201),
        Exchange(link.peer6, "six.test.", AAAA, ident=202, tcp=True),
        Exchange(link.peer4, "www.test.", A, ident=203, tcp=True),
    ]
    events, run = traced(lambda: ask(client, exchanges), filter=f"netns:{client.inode}")
    seen = [
        (
            e.get("proto"),
            e.get("qr"),
            e.get("type"),
            e.get("src"),
            e.get("dst"),
            e.get("id"),
            e.get("rcode"),
            addresses(e),
        )
        for e in events
    ]
    server6, server4 = f"[{link.peer6}]:53", f"{link.peer4}:53"
    src = [sent.src for sent in run.sent]
    assert seen == [
        ("UDP", "Q", "OUTGOING", src[0], server6, 201, "", ""),
        ("UDP", "R", "HOST", server6, src[0], 201, "NOERROR", "10.9.9.8,10.9.9.9"),
        ("TCP", "Q", "OUTGOING", src[1], server6, 202, "", ""),
        ("TCP", "R", "HOST", server6, src[1], 202, "NOERROR", "fd00:e5b1:99::9"),
        ("TCP", "Q", "OUTGOING", src[2], server4, 203, "", ""),
        ("TCP", "R", "HOST", server4, src[2], 203, "NOERROR", "10.9.9.8,10.9.9.9"),
    ]
    assert {(e.pid, e.comm) for e in events} == {(run.pid, run.comm)}
    assert all(e.get("latency") > 0 for e in events if e.get("qr") == "R")


def test_server_side_is_attributed_through_its_socket(lab):
    """On ingress the current task is the client (its softirq delivers over the veth):
    the query must still be shown as received by dnsmasq."""
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    holder: dict[str, Any] = {}

    def workload() -> ClientRun:
        holder["dnsmasq"] = lab.dnsmasq(server, RECORDS, link.peer4)  # binds while traced
        return ask(client, [Exchange(link.peer4, "www.test.", A, ident=301)])

    events, run = traced(workload, filter=f"netns:{server.inode}")
    dnsmasq = holder["dnsmasq"].pid
    seen = [(e.get("qr"), e.get("type"), e.pid, e.tid, e.comm, e.get("src")) for e in events]
    assert seen == [
        ("Q", "HOST", dnsmasq, dnsmasq, "dnsmasq", run.sent[0].src),
        ("R", "OUTGOING", dnsmasq, dnsmasq, "dnsmasq", f"{link.peer4}:53"),
    ]
    assert events[1].get("latency") > 0


def test_unanswered_query_gets_a_record_after_the_timeout_retransmissions_included(lab):
    client, silent = lab.netns("client"), lab.netns("silent")
    link = lab.link(client, silent)
    lab.silent_server(silent, link.peer4)

    def workload() -> ClientRun:
        sent = ask(client, [Exchange(link.peer4, "lost.test.", AAAA, ident=401, sends=2, wait=0)])
        time.sleep(6.5)  # past the 5 s after which a query is given up
        return sent

    events, run = traced(workload, filter=f"netns:{client.inode}")
    seen = [
        (
            e.get("qr"),
            e.get("type"),
            e.get("qtype"),
            e.get("name"),
            e.get("rcode"),
            e.get("nameserver"),
            e.pid,
            e.comm,
        )
        for e in events
    ]
    query = ("Q", "OUTGOING", "AAAA", "lost.test.", "", link.peer4, run.pid, run.comm)
    assert seen == [query, query, (*query[:4], "UNANSWERED", *query[5:])]
    first, retransmitted, unanswered = events
    # Given up 5 s after the first sending, not the retransmission.
    assert unanswered.get("latency") == 5_000_000_000
    assert unanswered.timestamp == first.timestamp + 5_000_000_000
    assert retransmitted.timestamp - first.timestamp >= 1_000_000_000


def test_query_still_waiting_at_the_end_is_shown_unanswered(lab):
    client, silent = lab.netns("client"), lab.netns("silent")
    link = lab.link(client, silent)
    lab.silent_server(silent, link.peer6)
    events, _ = traced(
        lambda: ask(client, [Exchange(link.peer6, "late.test.", A, ident=402, wait=0)]),
        filter=f"netns:{client.inode}",
    )
    assert [(e.get("qr"), e.get("rcode")) for e in events] == [("Q", ""), ("Q", "UNANSWERED")]
    assert 0 < events[1].get("latency") < 5_000_000_000


def test_mdns_port_5353(lab):
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    lab.dnsmasq(server, RECORDS, link.peer4, port=5353)
    events, run = traced(
        lambda: ask(client, [Exchange(link.peer4, "www.test.", A, ident=501, port=5353)]),
        filter=f"netns:{client.inode}",
    )
    assert [(e.get("qr"), e.get("dst"), e.get("rcode")) for e in events] == [
        ("Q", f"{link.peer4}:5353", ""),
        ("R", run.sent[0].src, "NOERROR"),
    ]


def test_json_and_filters_on_dns_fields(pair):
    client, _server, link = pair
    cli = EspiaCli(["trace", "dns", "-o", "json", "-F", f"netns:{client.inode},qr:R,rcode:~NX"])
    ready = [Exchange(link.peer4, "ready.test.", A, ident=600)]
    cli.wait_ready(lambda: ask(client, ready), "ready.test.")
    ask(client, [Exchange(link.peer4, "www.test.", A, ident=601)])
    ask(client, [Exchange(link.peer4, "other.test.", A, ident=602)])
    cli.wait_for(lambda line: '"id":602' in line)
    cli.proc.send_signal(2)
    code, _, err = cli.finish()
    assert code == 0, err
    shown = cli.json_events()
    assert {e["name"] for e in shown} == {"ready.test.", "other.test."}
    assert all(e["rcode"] == "NXDOMAIN" and e["qr"] == "R" for e in shown)
    assert isinstance(shown[-1]["latency"], int) and shown[-1]["latency"] > 0


# --- the seed's demo, in a pod ---------------------------------------------------------------


@pytest.fixture
def pod_rootfs(rootfs: Path, tmp_path: Path) -> Path:
    """A copy of the busybox rootfs, whose resolv.conf a test can write."""
    copy = tmp_path / "rootfs"
    shutil.copytree(rootfs, copy, symlinks=True)
    return copy


def task_pid(ctr: Ctr, cid: str) -> int:
    for line in ctr.ctr("tasks", "ls").splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return int(fields[1])
    raise AssertionError(f"no task {cid}")


def nslookup(ctr: Ctr, cid: str, *args: str) -> None:
    with contextlib.suppress(RuntimeError):  # no answer: nslookup fails, as it should
        ctr.exec(cid, "/bin/nslookup", *args)


def test_seed_demo_pod_asking_a_nameserver_that_never_answers(ctr: Ctr, pod_rootfs, lab):
    """`trace dns -n my-ns -o columns=+nameserver`: A and AAAA queries, no response.

    Then the same pod asks a working server: responses with RCODE, NUMANSWERS,
    ADDRESSES and LATENCY.
    """
    silent, server = lab.netns("silent"), lab.netns("server")
    pod = ctr.run_pod(pod_rootfs, "my-app", "my-ns", {"app": "my-app"}, ["app"])
    try:
        app = pod.containers["app"]
        pid = task_pid(ctr, app)
        # The pod's nameserver: an address of a namespace of ours, reached over our veth.
        to_silent = lab.link(pid, silent)
        to_server = lab.link(pid, server)
        lab.silent_server(silent, to_silent.peer4)
        (pod_rootfs / "etc" / "resolv.conf").write_text(f"nameserver {to_silent.peer4}\n")
        lab.dnsmasq(server, {"www.example.com.": [to_server.peer4]}, to_server.peer4)

        columns = "columns=+nameserver,+latency,+addresses"
        cli = EspiaCli(["trace", "dns", "-n", "my-ns", "-o", columns])
        header = cli.wait_for(lambda line: line.startswith("K8S.NAMESPACE"))
        assert header.split() == [
            "K8S.NAMESPACE",
            "K8S.POD",
            "PID",
            "TID",
            "COMM",
            "QR",
            "TYPE",
            "QTYPE",
            "NAME",
            "RCODE",
            "NUMANSWERS",
            "NAMESERVER",
            "LATENCY",
            "ADDRESSES",
        ]
        nslookup(ctr, app, "www.example.com")
        nslookup(ctr, app, "www.example.com", to_server.peer4)
        cli.wait_for(lambda line: " R " in line and "AAAA" in line)
        cli.proc.send_signal(2)
        code, lines, err = cli.finish()
        assert code == 0, err
    finally:
        ctr.remove_pod(pod)
    rows = [seed_row(line) for line in lines[1:]]
    assert rows and all(row["where"] == ("my-ns", "my-app") for row in rows)
    assert len({row["pid"] for row in rows}) == 2  # one nslookup, then the other
    silent_rows = [row for row in rows if to_silent.peer4 in row["rest"]]
    queries = [row for row in silent_rows if row["rest"] == ["0", to_silent.peer4]]
    # Each of A and AAAA sent (and re-sent) with no response: QR Q, TYPE OUTGOING.
    assert {(row["qr"], row["type"], row["qtype"], row["name"]) for row in queries} == {
        ("Q", "OUTGOING", "A", "www.example.com."),
        ("Q", "OUTGOING", "AAAA", "www.example.com."),
    }
    assert len(queries) >= 4  # nslookup re-sends each
    given_up = [row for row in silent_rows if row["rest"][0] == "UNANSWERED"]
    assert sorted(row["qtype"] for row in given_up) == ["A", "AAAA"]
    assert all(row["rest"][1:] == ["0", to_silent.peer4, "5000.000ms"] for row in given_up)
    assert len(silent_rows) == len(queries) + len(given_up)  # and no response
    answered = [row for row in rows if row["qr"] == "R"]
    assert sorted(row["qtype"] for row in answered) == ["A", "AAAA"]
    for row in answered:
        assert (row["type"], row["name"]) == ("HOST", "www.example.com.")
        rcode, count, nameserver, latency, *addresses = row["rest"]
        assert (rcode, nameserver) == ("NOERROR", to_server.peer4)
        assert latency.endswith("ms") and float(latency[:-2]) > 0
        assert (count, addresses) == (
            ("1", [to_server.peer4]) if row["qtype"] == "A" else ("0", [])
        )


def seed_row(line: str) -> dict[str, Any]:
    """A columns row of the seed test, read around COMM (container columns may be empty)."""
    tokens = line.split()
    comm = tokens.index("nslookup")
    return {
        "where": tuple(tokens[:2]),
        "pid": tokens[comm - 2],
        "qr": tokens[comm + 1],
        "type": tokens[comm + 2],
        "qtype": tokens[comm + 3],
        "name": tokens[comm + 4],
        "rest": tokens[comm + 5 :],
    }
