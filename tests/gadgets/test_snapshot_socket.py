"""snapshot socket: the sockets of a namespace the test makes, with their owners, once."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from support.netns import Lab
from support.workloads import PRELUDE, comm_name, espia

# Listens on TCP and UDP (IPv4) and TCP (IPv6), connects to itself, then waits.
HOLDER = """
import socket, time
tcp = socket.socket(); tcp.bind(("127.0.0.1", 7070)); tcp.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 7071))
tcp6 = socket.socket(socket.AF_INET6); tcp6.bind(("::1", 7072)); tcp6.listen()
client = socket.create_connection(("127.0.0.1", 7070))
server, _ = tcp.accept()
inodes = {name: os.fstat(s.fileno()).st_ino for name, s in
          (("tcp", tcp), ("udp", udp), ("tcp6", tcp6), ("client", client), ("server", server))}
print(json.dumps({"pid": os.getpid(), "port": client.getsockname()[1], "inodes": inodes}),
      flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder() -> Iterator[tuple[int, dict, str]]:
    """(netns inode, the holder's report, its comm) in a namespace of its own."""
    with Lab() as lab:
        ns = lab.netns("sockets")
        comm = comm_name()
        proc = lab.start(ns, "python3", "-c", PRELUDE + "import json\n" + HOLDER, comm)
        assert proc.stdout is not None
        yield ns.inode, json.loads(proc.stdout.readline()), comm


def test_lists_listening_and_established_sockets_with_their_owner(holder):
    netns, report, comm = holder
    done = espia("snapshot", "socket", "-o", "json", "-F", f"netns:{netns}")
    assert done.returncode == 0, done.stderr
    (listed,) = [json.loads(line) for line in done.stdout.splitlines()]  # one list
    seen = {
        (s["protocol"], s["local"], s["remote"], s["status"], s["inode"], s["pid"], s["comm"])
        for s in listed
    }
    pid, port, inodes = report["pid"], report["port"], report["inodes"]
    assert seen == {
        ("TCP", "127.0.0.1:7070", "0.0.0.0:0", "LISTEN", inodes["tcp"], pid, comm),
        ("UDP", "127.0.0.1:7071", "0.0.0.0:0", "INACTIVE", inodes["udp"], pid, comm),
        ("TCP", "[::1]:7072", "[::]:0", "LISTEN", inodes["tcp6"], pid, comm),
        ("TCP", f"127.0.0.1:{port}", "127.0.0.1:7070", "ESTABLISHED", inodes["client"], pid, comm),
        ("TCP", "127.0.0.1:7070", f"127.0.0.1:{port}", "ESTABLISHED", inodes["server"], pid, comm),
    }
    assert {s["netns"] for s in listed} == {netns}


def test_columns_and_an_empty_snapshot(holder):
    netns, report, comm = holder
    done = espia("snapshot", "socket", "-F", f"netns:{netns},status:LISTEN,local:~7070")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[-7:] == ["PROTOCOL", "LOCAL", "REMOTE", "STATUS", "INODE", "PID", "COMM"]
    assert [row.split()[-7:] for row in rows] == [
        [
            "TCP",
            "127.0.0.1:7070",
            "0.0.0.0:0",
            "LISTEN",
            str(report["inodes"]["tcp"]),
            str(report["pid"]),
            comm,
        ]
    ]
    empty = espia("snapshot", "socket", "-o", "json", "-F", "netns:1")
    assert (empty.returncode, empty.stdout) == (0, "[]\n")
    assert os.path.exists(f"/proc/{report['pid']}")  # the holder was alive throughout
