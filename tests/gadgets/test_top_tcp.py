"""top tcp over a known connection on loopback: exact bytes each way, per connection end,
over several intervals."""

from __future__ import annotations

import pytest
from support.intervals import intervals_around, totals
from support.workloads import comm_name, run_python

# One process, both ends: a listener, a client connected to it, the accepted socket.
# The client sends `up` bytes in chunks, the server answers `down` bytes, over
# several rounds with pauses between them, so the counts spread over intervals.
TRANSFER = """
import socket, time
family, host = (socket.AF_INET6, "::1") if sys.argv[2] == "6" else (socket.AF_INET, "127.0.0.1")
up, down, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
server = socket.socket(family, socket.SOCK_STREAM)
server.bind((host, 0))
server.listen()
client = socket.create_connection(server.getsockname()[:2])
peer, _ = server.accept()
def move(sender, receiver, size):
    sender.sendall(b"u" * size)
    got = 0
    while got < size:
        got += len(receiver.recv(size - got))
for _ in range(rounds):
    move(client, peer, up)
    move(peer, client, down)
    time.sleep(0.15)
print(os.getpid(), client.getsockname()[1], server.getsockname()[1])
"""


@pytest.mark.parametrize("ip", ["4", "6"])
def test_bytes_each_way_per_connection_end_add_up_over_intervals(ip):
    comm = comm_name()
    rounds, up, down = 8, 70000, 1234

    def transfer() -> list[int]:
        out = run_python(comm, TRANSFER, ip, str(up), str(down), str(rounds)).stdout
        return [int(word) for word in out.split()]

    intervals, (pid, client, server), stderr = intervals_around(
        ["top", "tcp", "--interval", "0.3", "-F", f"comm:{comm}"], transfer
    )
    summed, spread = totals(
        intervals,
        lambda r: (r["pid"], r["comm"], r["ip"], r["saddr"], r["sport"], r["daddr"], r["dport"]),
        ["sent", "received"],
    )
    host = "::1" if ip == "6" else "127.0.0.1"
    client_end = (pid, comm, int(ip), host, client, host, server)
    server_end = (pid, comm, int(ip), host, server, host, client)
    assert summed == {
        client_end: {"sent": rounds * up, "received": rounds * down},
        server_end: {"sent": rounds * down, "received": rounds * up},
    }
    assert spread[client_end] >= 3
    assert "lost" not in stderr


# TCP hands received bytes to a pipe (splice) without passing sock_recvmsg: the bytes a
# process splices off a connection are its RECEIVED all the same. Pipe-to-socket splices
# count as SENT (they reach sock_sendmsg). A failed splice (nothing queued, non-blocking)
# counts nothing.
SPLICE = """
import socket, time
size, rounds = int(sys.argv[2]), int(sys.argv[3])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
r, w = os.pipe()
peer.setblocking(False)
try:
    os.splice(peer.fileno(), w, size)
except BlockingIOError:
    pass
peer.setblocking(True)
for _ in range(rounds):
    client.sendall(b"s" * size)
    got = 0
    while got < size:
        moved = os.splice(peer.fileno(), w, size - got)
        os.read(r, moved)
        got += moved
    os.write(w, b"b" * 300)
    assert os.splice(r, peer.fileno(), 300) == 300
    assert len(client.recv(300, socket.MSG_WAITALL)) == 300
    time.sleep(0.15)
print(os.getpid(), client.getsockname()[1], server.getsockname()[1])
"""


def test_bytes_spliced_off_a_connection_are_received():
    comm = comm_name()
    rounds, size = 6, 50000

    def transfer() -> list[int]:
        out = run_python(comm, SPLICE, str(size), str(rounds)).stdout
        return [int(word) for word in out.split()]

    intervals, (pid, client, server), stderr = intervals_around(
        ["top", "tcp", "--interval", "0.3", "-F", f"comm:{comm}"], transfer
    )
    summed, _ = totals(
        intervals, lambda r: (r["pid"], r["sport"], r["dport"]), ["sent", "received"]
    )
    assert summed == {
        (pid, client, server): {"sent": rounds * size, "received": rounds * 300},
        (pid, server, client): {"sent": rounds * 300, "received": rounds * size},
    }
    assert "lost" not in stderr


# A transmit timestamp comes back on the sender's error queue with a copy of the packet
# (SO_TIMESTAMPING without OPT_TSONLY): reading it returns bytes, which are not the
# peer's. The zero-copy send's completion notice comes the same way.
ERRQUEUE = """
import socket, time
size = int(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
peer, _ = server.accept()
client.setsockopt(socket.SOL_SOCKET, 60, 1)  # SO_ZEROCOPY
client.setsockopt(socket.SOL_SOCKET, 37, (1 << 1) | (1 << 4))  # SO_TIMESTAMPING: TX software
assert client.send(b"z" * size, 0x4000000) == size  # MSG_ZEROCOPY
assert len(peer.recv(size, socket.MSG_WAITALL)) == size
time.sleep(0.1)
notices = 0
while True:
    try:
        data, _, _, _ = client.recvmsg(65536, 4096, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except BlockingIOError:
        break
    notices += len(data)
assert notices > 0
print(os.getpid(), client.getsockname()[1], server.getsockname()[1])
"""


def test_reads_of_the_error_queue_are_not_received_bytes():
    comm = comm_name()
    size = 10000

    def transfer() -> list[int]:
        return [int(word) for word in run_python(comm, ERRQUEUE, str(size)).stdout.split()]

    intervals, (pid, client, server), _ = intervals_around(
        ["top", "tcp", "--interval", "0.3", "-F", f"comm:{comm}"], transfer
    )
    summed, _ = totals(
        intervals, lambda r: (r["pid"], r["sport"], r["dport"]), ["sent", "received"]
    )
    assert summed == {
        (pid, client, server): {"sent": size, "received": 0},
        (pid, server, client): {"sent": 0, "received": size},
    }
