"""trace tcp with a real server and client in namespaces the test makes: exact ports and errors."""

from __future__ import annotations

import json

import pytest
from support.netns import Lab, NetNs
from support.workloads import PRELUDE, comm_name

import espia

# A server: listens, prints its pid, accepts one connection, reads a byte, closes.
SERVER = """
import socket
family = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
listener = socket.socket(family, socket.SOCK_STREAM)
listener.bind((sys.argv[2], int(sys.argv[3])))
listener.listen()
print("ready", os.getpid(), flush=True)
conn, _ = listener.accept()
conn.recv(1)
conn.close()
print("done", flush=True)
"""

# A client: connects (reporting its own port), sends a byte, closes; then a refused connect.
CLIENT = """
import json, socket
server, port, closed_port = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((server, port))
local = s.getsockname()[1]
s.send(b"x")
s.recv(1)  # waits for the server's close: the close order is known
s.close()
try:
    socket.create_connection((server, closed_port))
except ConnectionRefusedError:
    refused = True
print(json.dumps({"pid": os.getpid(), "port": local, "refused": refused}))
"""


def run_pair(
    lab: Lab, client: NetNs, server: NetNs, address: str, server_comm: str = ""
) -> tuple[dict, int, str, str]:
    """Server and client as above; (client report, server pid, client comm, server comm)."""
    server_comm, client_comm = server_comm or comm_name(), comm_name()
    proc = lab.start(server, "python3", "-c", PRELUDE + SERVER, server_comm, address, "8080")
    assert proc.stdout is not None
    ready = proc.stdout.readline().split()
    assert ready[0] == "ready", ready
    done = client.run("python3", "-c", PRELUDE + CLIENT, client_comm, address, "8080", "8081")
    assert proc.stdout.readline().strip() == "done"
    return json.loads(done.stdout), int(ready[1]), client_comm, server_comm


@pytest.mark.parametrize("family", [4, 6])
def test_connect_accept_close_and_refused_connect(lab, family):
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    local, peer = (link.local4, link.peer4) if family == 4 else (link.local6, link.peer6)
    with espia.trace("tcp", filter="comm:~^es") as trace:
        report, server_pid, client_comm, server_comm = run_pair(lab, client, server, peer)
        trace.stop()
        events = [e for e in trace if e.comm in (client_comm, server_comm)]
    assert trace.lost == 0
    port = report["port"]
    seen = [
        (e.get("type"), e.comm, e.pid, e.ip, e.saddr, e.sport, e.daddr, e.dport, e.get("errname"))
        for e in events
    ]
    client_side = (client_comm, report["pid"], family, local)
    server_side = (server_comm, server_pid, family, peer)
    refused_port = events[-1].sport
    # In the order things happen: the connect is sent at its outcome (the SYN-ACK),
    # before the server's accept returns; the server closes first.
    assert seen == [
        ("connect", *client_side, port, peer, 8080, ""),
        ("accept", *server_side, 8080, local, port, ""),
        ("close", *server_side, 8080, local, port, ""),
        ("close", *client_side, port, peer, 8080, ""),
        ("connect", *client_side, refused_port, peer, 8081, "ECONNREFUSED"),
    ]
    assert events[-1].err == 111 and refused_port not in (0, port)
    assert {e.netns for e in events if e.comm == client_comm} == {client.inode}
    assert {e.netns for e in events if e.comm == server_comm} == {server.inode}


def test_kernel_side_comm_filter_keeps_only_that_process(lab):
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    server_comm = comm_name()
    with espia.trace("tcp", filter=f"comm:{server_comm}") as trace:
        _, server_pid, _, _ = run_pair(lab, client, server, link.peer4, server_comm)
        trace.stop()
        events = list(trace)
    assert [(e.get("type"), e.comm, e.pid) for e in events] == [
        ("accept", server_comm, server_pid),
        ("close", server_comm, server_pid),
    ]
    # The client's two connects and its close were dropped before they were copied.
    assert trace.received == 2
