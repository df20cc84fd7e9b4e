"""The kernel's TCP and UDP sockets, read from user space, and who holds them.

Two users: snapshot socket shows them, and network gadgets learn, once
they are attached, the owners of the sockets that existed before they
started (`learn_socket_owners`).  Without that, a packet received on a
socket that has not sent since the gadget started (a DNS server's first
query, a listener's connections) would belong to nobody: the kernel side
learns a socket's owner where the context is right (a send, a bind), and a
long-running server did those before espia came.

Each namespace is read through one of its processes' /proc/PID/net/{tcp,
tcp6,udp,udp6}, so no setns(2) is needed.  (sock_diag netlink would need a
socket inside each namespace; BPF socket iterators would need a kernel that
allows them.)  A socket's owner is the first process, by pid, holding a
descriptor on its inode; a namespace without processes is not reached.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from espia.ebpf.maps import Map
from espia.errors import KernelError
from espia.semantic.net import Endpoint, ip_text

log = logging.getLogger("espia")

PROC = "/proc"
TABLES = (
    ("tcp", "TCP", socket.AF_INET),
    ("tcp6", "TCP", socket.AF_INET6),
    ("udp", "UDP", socket.AF_INET),
    ("udp6", "UDP", socket.AF_INET6),
)
# The SK_STORAGE map (net.bpf.h, GADGET_SOCKET_OWNERS) filled by learn_socket_owners.
OWNERS_MAP = "gadget_socket_owners"
# Its value, struct gadget_task_ident: mntns, netns, pid, tid, comm (and padding).
_IDENT = struct.Struct("=QIII16s4x")
_SYS_PIDFD_GETFD = 438  # the same number on every architecture


@dataclass(frozen=True, slots=True)
class Holder:
    """A process holding a socket, and its descriptor `fd` on it."""

    pid: int
    comm: str
    fd: int


NO_HOLDER = Holder(0, "", -1)


@dataclass(frozen=True, slots=True)
class KernelSocket:
    """One line of /proc/net/{tcp,udp}[6]."""

    netns: int
    protocol: str  # "TCP" or "UDP"
    local: Endpoint
    remote: Endpoint
    state: int  # the kernel's TCP state number (UDP uses 1 and 7 too)
    inode: int  # 0 for a TIME_WAIT socket


def pids() -> list[int]:
    return sorted(int(entry.name) for entry in os.scandir(PROC) if entry.name.isdigit())


def namespaces(processes: list[int]) -> dict[int, int]:
    """{netns inode: the lowest pid in it}."""
    found: dict[int, int] = {}
    for pid in processes:
        try:
            inode = os.stat(f"{PROC}/{pid}/ns/net").st_ino
        except OSError:
            continue  # gone, or a kernel thread
        found.setdefault(inode, pid)
    return found


def holders(processes: list[int]) -> dict[int, Holder]:
    """{socket inode: the first process holding it}."""
    found: dict[int, Holder] = {}
    for pid in processes:
        try:
            fds = os.scandir(f"{PROC}/{pid}/fd")
            with fds:
                links = [(fd.name, os.readlink(fd.path)) for fd in fds]
            with open(f"{PROC}/{pid}/comm") as comm_file:
                comm = comm_file.read().rstrip("\n")
        except OSError:
            continue
        for fd, link in links:
            if link.startswith("socket:["):
                found.setdefault(int(link[8:-1]), Holder(pid, comm, int(fd)))
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


def kernel_sockets(processes: list[int]) -> Iterator[KernelSocket]:
    """Every TCP and UDP socket, namespace by namespace, in the kernel's order."""
    for netns, pid in sorted(namespaces(processes).items()):
        for name, protocol, family in TABLES:
            for line in _table(pid, name):
                fields = line.split()
                if len(fields) < 10:
                    continue
                yield KernelSocket(
                    netns,
                    protocol,
                    address(fields[1], family),
                    address(fields[2], family),
                    int(fields[3], 16),
                    int(fields[9]),
                )


def _namespace_inode(pid: int, kind: str) -> int:
    try:
        return os.stat(f"{PROC}/{pid}/ns/{kind}").st_ino
    except OSError:
        return 0


class _Pidfds:
    """Duplicates of other processes' descriptors (pidfd_getfd(2)), one pidfd per process."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._pidfds: dict[int, int] = {}

    def dup(self, holder: Holder) -> int:
        """Our own descriptor on `holder`'s socket; -1 if the process or descriptor is gone."""
        pidfd = self._pidfds.get(holder.pid)
        if pidfd is None:
            try:
                pidfd = os.pidfd_open(holder.pid)
            except OSError:
                pidfd = -1
            self._pidfds[holder.pid] = pidfd
        if pidfd < 0:
            return -1
        return int(self._libc.syscall(_SYS_PIDFD_GETFD, pidfd, holder.fd, 0))

    def close(self) -> None:
        for pidfd in self._pidfds.values():
            if pidfd >= 0:
                os.close(pidfd)
        self._pidfds.clear()


def learn_socket_owners(owners: Map) -> int:
    """Writes the holder of every TCP and UDP socket into `owners` (see the module);
    returns how many were written.

    Runs once the gadget is attached, so that no socket is missed between
    the reading and the attaching; a socket whose owner the kernel side
    learnt meanwhile keeps it (BPF_NOEXIST: the kernel's is newer).  A
    process or descriptor gone meanwhile is skipped: it has no packets left.
    """
    if owners.value_size != _IDENT.size:
        raise KernelError(
            f"fill map {owners.name}: its value has {owners.value_size} bytes, "
            f"not a gadget_task_ident ({_IDENT.size})"
        )
    processes = pids()
    held = holders(processes)
    idents: dict[int, bytes] = {}
    pidfds = _Pidfds()
    written = failed = 0
    try:
        for sock in kernel_sockets(processes):
            holder = held.get(sock.inode)
            if holder is None:
                continue  # TIME_WAIT, or held by no process (a kernel socket)
            fd = pidfds.dup(holder)
            if fd < 0:
                continue
            try:
                ident = idents.get(holder.pid)
                if ident is None:
                    ident = _IDENT.pack(
                        _namespace_inode(holder.pid, "mnt"),
                        _namespace_inode(holder.pid, "net"),
                        holder.pid,
                        holder.pid,
                        holder.comm.encode()[:15],
                    )
                    idents[holder.pid] = ident
                written += owners.insert(struct.pack("=i", fd), ident)
            except KernelError as exc:
                failed += 1
                log.debug("%s (socket %d of pid %d)", exc, sock.inode, holder.pid)
            finally:
                os.close(fd)
    finally:
        pidfds.close()
    if failed:
        log.warning(
            "%d sockets that existed at start could not be given their owner: "
            "their packets show PID 0 until their process sends",
            failed,
        )
    log.debug("learnt the owners of %d sockets that existed at start", written)
    return written
