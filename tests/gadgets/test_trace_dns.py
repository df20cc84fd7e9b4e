"""trace dns against real resolvers in namespaces the tests make: events, pairing, time-outs."""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.dnsclient import ClientRun, Exchange, ask
from support.netns import Lab, Link, NetNs
from support.runtimes import Ctr
from support.workloads import PRELUDE, EspiaCli, comm_name

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
            "dns_truncated": False,
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


def test_server_started_before_the_trace_is_attributed_from_its_first_query(lab):
    """dnsmasq binds and listens before espia starts: its sockets' owners are learnt at
    start, so its first received query (UDP, and TCP through the accepted socket that
    inherits the listener's owner) is dnsmasq's, not PID 0."""
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    dnsmasq = lab.dnsmasq(server, RECORDS, link.peer4).pid
    exchanges = [
        Exchange(link.peer4, "www.test.", A, ident=311),
        Exchange(link.peer4, "www.test.", A, ident=312, tcp=True),
    ]
    events, _ = traced(lambda: ask(client, exchanges), filter=f"netns:{server.inode},qr:Q")
    seen = [(e.get("proto"), e.get("type"), e.get("id"), e.pid, e.tid, e.comm) for e in events]
    assert seen == [
        ("UDP", "HOST", 311, dnsmasq, dnsmasq, "dnsmasq"),
        ("TCP", "HOST", 312, dnsmasq, dnsmasq, "dnsmasq"),
    ]


# A TCP client that writes its queries in the pieces it is given, each piece its own
# segment (TCP_NODELAY, a pause between writes), and reads the responses it expects.
_TCP_PIECES = """
import json, socket, struct, time
server, pieces, responses = json.loads(sys.argv[2])
s = socket.create_connection((server, 53))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for piece in pieces:
    s.sendall(bytes.fromhex(piece))
    time.sleep(0.05)
s.settimeout(5)
data = b""
for _ in range(responses):
    while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
        data += s.recv(65536)
    data = data[2 + struct.unpack("!H", data[:2])[0]:]
print(json.dumps({"pid": os.getpid(), "src": list(s.getsockname())}))
s.close()
"""


def query_bytes(name: str, qtype: int, ident: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def framed(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def tcp_pieces(ns: NetNs, server: str, pieces: list[bytes], responses: int) -> dict[str, Any]:
    comm = comm_name()
    plan = json.dumps([server, [p.hex() for p in pieces], responses])
    done = ns.run("python3", "-c", PRELUDE + _TCP_PIECES, comm, plan, timeout=60)
    return {**json.loads(done.stdout), "comm": comm}


def test_tcp_message_split_across_segments_and_two_in_one_segment(pair):
    """The length prefix split from its message, the prefix itself split, a message cut in
    the middle of its name, then two queries in one write: each decoded whole."""
    client, _server, link = pair
    split = framed(query_bytes("www.test.", A, 701))
    pieces = [split[:1], split[1:2], split[2:20], split[20:]]
    pieces.append(
        framed(query_bytes("six.test.", AAAA, 702)) + framed(query_bytes("no.test.", A, 703))
    )
    events, run = traced(
        lambda: tcp_pieces(client, link.peer4, pieces, 3), filter=f"netns:{client.inode}"
    )
    seen = [
        (e.get("qr"), e.get("id"), e.get("name"), e.get("qtype"), e.get("rcode")) for e in events
    ]
    assert sorted(seen, key=lambda s: (s[0], s[1])) == [
        ("Q", 701, "www.test.", "A", ""),
        ("Q", 702, "six.test.", "AAAA", ""),
        ("Q", 703, "no.test.", "A", ""),
        ("R", 701, "www.test.", "A", "NOERROR"),
        ("R", 702, "six.test.", "AAAA", "NOERROR"),
        ("R", 703, "no.test.", "A", "NXDOMAIN"),
    ]
    # The queries in the order they were sent, then each response after its query.
    assert [s[1] for s in seen if s[0] == "Q"] == [701, 702, 703]
    src = f"{run['src'][0]}:{run['src'][1]}"
    assert all(e.get("proto") == "TCP" and not e.get("dns_truncated") for e in events)
    assert {(e.get("src"), e.pid, e.comm) for e in events if e.get("qr") == "Q"} == {
        (src, run["pid"], run["comm"])
    }
    assert all(e.get("latency") > 0 for e in events if e.get("qr") == "R")


def test_answers_beyond_the_copy_are_marked_cut(lab):
    """40 A records over TCP: 667 bytes, of which the kernel copies 512 (the header, the
    question and 30 whole answers): DNS_TRUNCATED, and ADDRESSES ends with the marker."""
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    many = [f"10.8.0.{i}" for i in range(1, 41)]
    lab.dnsmasq(server, {"many.test.": many}, link.peer4)
    events, _ = traced(
        lambda: ask(client, [Exchange(link.peer4, "many.test.", A, ident=801, tcp=True)]),
        filter=f"netns:{client.inode},qr:R",
    )
    assert len(events) == 1
    (response,) = events
    assert response.get("dns_truncated") is True
    assert response.get("size") == 12 + 15 + 40 * 16
    assert response.get("numanswers") == 40
    shown = response.get("addresses")
    assert shown.endswith(" [...]")
    assert set(shown.removesuffix(" [...]").split(",")) <= set(many)
    assert len(shown.removesuffix(" [...]").split(",")) == (512 - 12 - 15) // 16


# Sticky IPv6 options: an extension header on every datagram the socket sends (PadN only).
_WITH_EXTENSION = """
import json, socket, struct
server, option, ident = json.loads(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, getattr(socket, option), bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s.connect((server, 53))
labels = b"\\x03www\\x04test\\x00"
s.send(struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1))
s.settimeout(5)
s.recv(4096)
print(json.dumps({"src": list(s.getsockname()[:2])}))
"""


@pytest.mark.parametrize("option", ["IPV6_HOPOPTS", "IPV6_DSTOPTS"])
def test_ipv6_extension_headers_are_followed(pair, option):
    client, _server, link = pair
    ident = 901 if option == "IPV6_HOPOPTS" else 902

    def workload() -> dict[str, Any]:
        plan = json.dumps([link.peer6, option, ident])
        done = client.run("python3", "-c", PRELUDE + _WITH_EXTENSION, comm_name(), plan)
        return json.loads(done.stdout)

    events, sent = traced(workload, filter=f"netns:{client.inode}")
    src = f"[{sent['src'][0]}]:{sent['src'][1]}"
    server = f"[{link.peer6}]:53"
    assert [
        (e.get("qr"), e.get("id"), e.get("name"), e.get("src"), e.get("dst")) for e in events
    ] == [
        ("Q", ident, "www.test.", src, server),
        ("R", ident, "www.test.", server, src),
    ]


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


def test_dns_events_carry_name_rcode_qr_latency_nameserver(pair):
    client, _server, link = pair
    with espia.trace("dns", filter=f"netns:{client.inode}") as trace:
        ask(client, [Exchange(link.peer4, "www.test.", A, ident=77)])
        trace.stop()
        events = list(trace)
    assert [(e.qr, e.name, e.qtype, e.rcode, e.numanswers, e.id) for e in events] == [
        ("Q", "www.test.", "A", "", 0, 77),
        ("R", "www.test.", "A", "NOERROR", 2, 77),
    ]
    assert [e.nameserver for e in events] == [link.peer4, link.peer4]
    assert events[0].latency == 0 and events[1].latency > 0
    assert sorted(events[1].addresses.split(",")) == ["10.9.9.8", "10.9.9.9"]
    for event in events:
        for field in type(event).fields:
            if "." not in field.name:  # raw values; JSON shows some rendered
                value = getattr(event, field.name)
                shown = field.text(value) if field.json_text else value
                assert shown == event.get(field.name), field.name
