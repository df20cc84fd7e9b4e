"""The TCP and UDP sockets (IPv4 and IPv6) of every network namespace, for snapshot socket.

The kernel's tables and the processes holding each socket are read by
espia.engine.sockets (network gadgets use the same reader to learn the
owners of the sockets that existed before they started).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from espia.engine.sockets import NO_HOLDER, holders, kernel_sockets, pids
from espia.engine.user import SourceContext
from espia.semantic.tcp import TCP_STATES

# A UDP socket is ESTABLISHED once connected, CLOSE (shown INACTIVE) otherwise.
UDP_STATES = {1: "ESTABLISHED", 7: "INACTIVE"}


def rows(context: SourceContext) -> Iterator[list[dict[str, Any]]]:
    """One snapshot: a row per socket, namespace by namespace, in the kernel's order."""
    yield list(_sockets())


def _sockets() -> Iterator[dict[str, Any]]:
    processes = pids()
    by_inode = holders(processes)
    for sock in kernel_sockets(processes):
        states = TCP_STATES if sock.protocol == "TCP" else UDP_STATES
        holder = by_inode.get(sock.inode, NO_HOLDER)
        yield {
            "netns": sock.netns,
            "protocol": sock.protocol,
            "local": sock.local,
            "remote": sock.remote,
            "status": states.get(sock.state, str(sock.state)),
            "inode": sock.inode,
            "pid": holder.pid,
            "comm": holder.comm,
        }
