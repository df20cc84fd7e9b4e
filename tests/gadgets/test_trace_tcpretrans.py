"""trace tcpretrans: a transfer between test namespaces, losing packets on purpose (iptables)."""

from __future__ import annotations

import json

import pytest
from support.netns import NetNs, require
from support.workloads import PRELUDE, comm_name

import espia

SIZE = 4 << 20

# Reads argv[4] bytes from one connection, then answers one byte and closes.
SERVER = """
import socket
family = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
listener = socket.socket(family, socket.SOCK_STREAM)
listener.bind((sys.argv[2], int(sys.argv[3])))
listener.listen()
print("ready", flush=True)
conn, _ = listener.accept()
left = int(sys.argv[4])
while left:
    left -= len(conn.recv(min(left, 65536)))
conn.send(b"k")
conn.close()
"""

# Sends argv[4] bytes, waits for the server's byte (so every resend is of an
# established connection), closes; prints its pid and local port.
CLIENT = """
import json, socket
s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
s.sendall(b"x" * int(sys.argv[4]))
assert s.recv(1) == b"k"
print(json.dumps([os.getpid(), s.getsockname()[1]]))
s.close()
"""


def endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def counter(ns: NetNs, table: str, prefix: str, name: str) -> int:
    """A counter of the namespace's own (a new namespace starts at 0): `name` on the
    `prefix` lines of /proc/net/`table`."""
    lines = [line.split() for line in ns.run("cat", f"/proc/net/{table}").stdout.splitlines()]
    names, values = (line for line in lines if line[0] == prefix)
    return int(values[names.index(name)])


def retransmitted_segments(ns: NetNs) -> int:
    """TcpRetransSegs: every segment resent, loss probes included."""
    return counter(ns, "snmp", "Tcp:", "RetransSegs")


def loss_probes(ns: NetNs) -> int:
    """TcpExtTCPLossProbes: tail loss probes sent, of new data or resent."""
    return counter(ns, "netstat", "TcpExt:", "TCPLossProbes")


def lossy_pair(lab, family: int, *statistic: str) -> tuple[NetNs, NetNs, str, str]:
    """(client, server, client address, server address): two test namespaces linked,
    the server losing the data segments (200 bytes or more: never a handshake segment
    or a bare ACK) that iptables' `statistic` match with `statistic` picks."""
    require("iptables", "ip6tables")
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    local, peer = (link.local4, link.peer4) if family == 4 else (link.local6, link.peer6)
    server.run(
        "iptables" if family == 4 else "ip6tables",
        "-A", "INPUT", "-p", "tcp", "-m", "length", "--length", "200:65535",
        "-m", "statistic", *statistic, "-j", "DROP",
    )  # fmt: skip
    return client, server, local, peer


@pytest.mark.parametrize("family", [4, 6])
def test_lost_segments_are_resent_and_each_resend_is_reported(lab, family):
    # The server drops one data segment in twenty it receives.
    client, server, local, peer = lossy_pair(
        lab, family, "--mode", "random", "--probability", "0.05"
    )
    comm = comm_name()
    with espia.trace("tcpretrans") as trace:
        lab.start(
            server,
            "python3",
            "-c",
            PRELUDE + SERVER,
            comm_name(),
            peer,
            "8080",
            str(SIZE),
            ready="ready",
        )
        done = client.run("python3", "-c", PRELUDE + CLIENT, comm, peer, "8080", str(SIZE))
        trace.stop()
        events = [e for e in trace if e.netns in (client.inode, server.inode)]
    assert trace.lost == 0
    pid, port = json.loads(done.stdout)
    resent = retransmitted_segments(client)
    assert resent > 0 and retransmitted_segments(server) == 0
    shown = {(e.pid, e.comm, e.netns, str(e.src), str(e.dst), e.get("state")) for e in events}
    assert shown == {
        (pid, comm, client.inode, endpoint(local, port), endpoint(peer, 8080), "ESTABLISHED")
    }
    # Fast retransmits and timeouts, and the tail loss probes that resent (a probe
    # may send new data instead: the kernel's count holds both kinds).
    assert {e.get("type") for e in events} <= {"RETRANSMIT", "LOSS PROBE"}
    assert sum(e.get("type") == "LOSS PROBE" for e in events) <= loss_probes(client)
    # Every resent segment is counted once, as the kernel's own counter says.
    assert sum(e.segs for e in events if e.err == 0) == resent
    assert {e.get("tcpflags") for e in events} <= {"ACK", "PSH|ACK"}


# Sends argv[4] bytes in one segment and waits for the server's byte: nothing
# else is in flight, so a lost segment is the tail of the flight, which only
# a tail loss probe (or, later, the retransmission timer) can resend.
TAIL_CLIENT = """
import json, socket
s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.send(b"t" * int(sys.argv[4]))
assert s.recv(1) == b"k"
print(json.dumps([os.getpid(), s.getsockname()[1]]))
s.close()
"""


@pytest.mark.parametrize("family", [4, 6])
def test_a_lost_tail_segment_is_resent_by_a_loss_probe(lab, family):
    # The server loses the first segment carrying data, and only that one (the nth
    # match counts the segments the length match lets through: the 1st of a million).
    client, server, local, peer = lossy_pair(
        lab, family, "--mode", "nth", "--every", "1000000", "--packet", "0"
    )
    comm = comm_name()
    with espia.trace("tcpretrans") as trace:
        lab.start(server, "python3", "-c", PRELUDE + SERVER, comm_name(), peer, "8080", "1000",
                  ready="ready")  # fmt: skip
        done = client.run("python3", "-c", PRELUDE + TAIL_CLIENT, comm, peer, "8080", "1000")
        trace.stop()
        events = [e for e in trace if e.netns in (client.inode, server.inode)]
    assert trace.lost == 0
    pid, port = json.loads(done.stdout)
    # The kernel's own counters: one probe, which was the one resend.
    assert (loss_probes(client), retransmitted_segments(client)) == (1, 1)
    assert [
        (e.pid, e.comm, str(e.src), str(e.dst), e.get("state"), e.get("tcpflags"), e.get("type"))
        for e in events
    ] == [
        (
            pid,
            comm,
            endpoint(local, port),
            endpoint(peer, 8080),
            "ESTABLISHED",
            "PSH|ACK",
            "LOSS PROBE",
        )
    ]


# Connects, waits (its handshake ACKs are lost: the server resends its SYN-ACK
# after a second; the wait leaves the timer room on a busy machine), then sends
# a byte, which completes the server's handshake.
SLOW_CLIENT = """
import json, socket, time
s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
time.sleep(2.5)
s.send(b"x")
print(json.dumps(s.getsockname()[1]))
"""

ACCEPT_ONE = """
import socket
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind((sys.argv[2], int(sys.argv[3])))
listener.listen()
print("ready", flush=True)
conn, _ = listener.accept()
conn.recv(1)
# Never closes: its FIN, whose ACK would be lost too, would be resent.
import time
time.sleep(120)
"""


def test_a_lost_handshake_ack_makes_the_listener_resend_its_syn_ack(lab):
    require("iptables")
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    # Pure ACKs to the server are lost (a segment with data still gets through).
    server.run(
        "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080",
        "--tcp-flags", "SYN,ACK,FIN,RST,PSH", "ACK", "-j", "DROP",
    )  # fmt: skip
    with espia.trace("tcpretrans") as trace:
        lab.start(server, "python3", "-c", PRELUDE + ACCEPT_ONE, comm_name(), link.peer4, "8080",
                  ready="ready")  # fmt: skip
        done = client.run("python3", "-c", PRELUDE + SLOW_CLIENT, comm_name(), link.peer4, "8080")
        trace.stop()
        events = [e for e in trace if e.netns == server.inode]
    port = json.loads(done.stdout)
    # The listener has sent nothing through its socket: its owner is not known.
    assert [
        (e.pid, e.comm, str(e.src), str(e.dst), e.get("state"), e.get("tcpflags"), e.get("type"))
        for e in events
    ] == [(0, "", f"{link.peer4}:8080", f"{link.local4}:{port}", "SYN_RECV", "SYN|ACK", "SYNACK")]
