"""The TCP and UDP sockets (IPv4 and IPv6) of every network namespace, for snapshot socket.

Each namespace is read through one of its processes' /proc/PID/net/{tcp,
tcp6,udp,udp6}, so no setns(2) is needed, and a namespace that appeared a
moment ago is read like the others.  (sock_diag netlink would need a socket
inside each namespace; BPF socket iterators would need a kernel that allows
them.)  A socket's owner is the first process, by pid, holding a descriptor
on its inode; a namespace without processes is not reached.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from espia.engine.user import SourceContext
from espia.gadget.net import Endpoint, ip_text

PROC = "/proc"
_FILES = (
    ("tcp", "TCP", socket.AF_INET),
    ("tcp6", "TCP", socket.AF_INET6),
    ("udp", "UDP", socket.AF_INET),
    ("udp6", "UDP", socket.AF_INET6),
)
# include/net/tcp_states.h
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
# A UDP socket is ESTABLISHED once connected, CLOSE (shown INACTIVE) otherwise.
UDP_STATES = {1: "ESTABLISHED", 7: "INACTIVE"}


def _pids() -> list[int]:
    return sorted(int(entry.name) for entry in os.scandir(PROC) if entry.name.isdigit())


def namespaces(pids: list[int]) -> dict[int, int]:
    """{netns inode: the lowest pid in it}."""
    found: dict[int, int] = {}
    for pid in pids:
        try:
            inode = os.stat(f"{PROC}/{pid}/ns/net").st_ino
        except OSError:
            continue  # gone, or a kernel thread
        found.setdefault(inode, pid)
    return found


def owners(pids: list[int]) -> dict[int, tuple[int, str]]:
    """{socket inode: (pid, comm)} of the first process holding each socket."""
    found: dict[int, tuple[int, str]] = {}
    for pid in pids:
        try:
            fds = os.scandir(f"{PROC}/{pid}/fd")
            with fds:
                links = [os.readlink(fd.path) for fd in fds]
            with open(f"{PROC}/{pid}/comm") as comm_file:
                comm = comm_file.read().rstrip("\n")
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:["):
                found.setdefault(int(link[8:-1]), (pid, comm))
    return found


def address(text: str, family: int) -> Endpoint:
    """ "0100007F:0035" (the kernel's words in host order) -> 127.0.0.1:53."""
    hex_addr, _, hex_port = text.partition(":")
    words = bytes.fromhex(hex_addr)
    if sys.byteorder == "little":  # each 32-bit word is printed in host byte order
        words = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
    if family == socket.AF_INET:
        return Endpoint(socket.inet_ntop(socket.AF_INET, words), int(hex_port, 16))
    return Endpoint(ip_text(words), int(hex_port, 16))


def _table(pid: int, name: str) -> list[str]:
    try:
        with open(f"{PROC}/{pid}/net/{name}") as table:
            return table.readlines()[1:]
    except OSError:
        return []  # the process left, or no IPv6 in this kernel


def rows(context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    """One snapshot: a row per socket, namespace by namespace, in the kernel's order."""
    yield list(_sockets())


def _sockets() -> Iterator[dict[str, Any]]:
    pids = _pids()
    by_inode = owners(pids)
    for netns, pid in sorted(namespaces(pids).items()):
        for name, protocol, family in _FILES:
            states = TCP_STATES if protocol == "TCP" else UDP_STATES
            for line in _table(pid, name):
                fields = line.split()
                if len(fields) < 10:
                    continue
                state, inode = int(fields[3], 16), int(fields[9])
                owner_pid, comm = by_inode.get(inode, (0, ""))
                yield {
                    "netns": netns,
                    "protocol": protocol,
                    "local": address(fields[1], family),
                    "remote": address(fields[2], family),
                    "status": states.get(state, str(state)),
                    "inode": inode,
                    "pid": owner_pid,
                    "comm": comm,
                }
