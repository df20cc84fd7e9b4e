"""Network namespaces, veth links and DNS servers made by the tests, and removed after.

Every address used here is held by a namespace the test made, reached only
through veth links the test made: namespaces get no default route, so no
packet can leave the machine.  Addresses come from 10.251.0.0/16 and
fd00:e5b1::/32, one /24 (/64) per link.

    with Lab() as lab:
        client, server = lab.netns("client"), lab.netns("server")
        link = lab.link(client, server)          # client 10.251.N.1, server 10.251.N.2
        dns = lab.dnsmasq(server, {"www.test.": ["10.9.9.9"]})
        client.run("dig", f"@{link.peer4}", "www.test.")
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.workloads import require

_LINKS = itertools.count(1)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@dataclass
class NetNs:
    """A named network namespace (`ip netns add`), loopback up."""

    name: str

    @property
    def inode(self) -> int:
        return os.stat(f"/run/netns/{self.name}").st_ino

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(
        self, *command: str, timeout: float = 30, check: bool = True
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(*command), capture_output=True, text=True, timeout=timeout, check=check
        )

    def popen(self, *command: str, **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*command), **kwargs)


@dataclass(frozen=True)
class Link:
    """A veth pair between two namespaces: `local*` on the first, `peer*` on the second."""

    local4: str
    peer4: str
    local6: str
    peer6: str


@dataclass
class Lab:
    """Owns what a test made: namespaces, links (gone with their namespaces), processes."""

    netnses: list[NetNs] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    workdir: Path | None = None

    def __enter__(self) -> Lab:
        require("ip")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def netns(self, label: str) -> NetNs:
        ns = NetNs(f"espia-{label}-{uuid.uuid4().hex[:6]}")
        ip("netns", "add", ns.name)
        self.netnses.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    def link(self, a: NetNs | int, b: NetNs) -> Link:
        """A veth between `a` (a NetNs, or the pid of a process whose namespace to use) and `b`."""
        n = next(_LINKS) % 250 + 1
        suffix = uuid.uuid4().hex[:6]
        ends = (f"ea{suffix}", f"eb{suffix}")
        ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
        target = a.name if isinstance(a, NetNs) else str(a)
        ip("link", "set", ends[0], "netns", target)
        ip("link", "set", ends[1], "netns", b.name)
        link = Link(f"10.251.{n}.1", f"10.251.{n}.2", f"fd00:e5b1:{n:x}::1", f"fd00:e5b1:{n:x}::2")
        inside_a = ["nsenter", f"--net=/proc/{a}/ns/net"] if isinstance(a, int) else a.argv()
        for argv, end, v4, v6 in (
            (inside_a, ends[0], link.local4, link.local6),
            (b.argv(), ends[1], link.peer4, link.peer6),
        ):
            for command in (
                ["ip", "addr", "add", f"{v4}/24", "dev", end],
                ["ip", "-6", "addr", "add", f"{v6}/64", "dev", end, "nodad"],
                ["ip", "link", "set", end, "up"],
            ):
                subprocess.run([*argv, *command], capture_output=True, text=True, check=True)
        return link

    def start(self, ns: NetNs, *command: str, ready: str | None = None) -> subprocess.Popen:
        """A process in `ns`, killed at the end; waits for `ready` on its stdout if given."""
        proc = ns.popen(*command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(proc)
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert ready in line, f"{' '.join(command)} did not start: {line}"
        return proc

    def dnsmasq(
        self,
        ns: NetNs,
        records: Mapping[str, Sequence[str]],
        *listen: str,
        port: int = 53,
        refuse: bool = False,
    ) -> subprocess.Popen:
        """dnsmasq in `ns` answering `records` (name -> addresses), NXDOMAIN for the rest
        (or, with `refuse`, REFUSED: a dnsmasq with no upstream server for them)."""
        require("dnsmasq")
        argv = [
            "dnsmasq",
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            f"--port={port}",
            "--user=root",
            "--pid-file=",
            "--log-facility=-",
            "--cache-size=0",
            "--dns-forward-max=1000",
        ]
        argv += [f"--listen-address={address}" for address in ("127.0.0.1", *listen)]
        for name, addresses in records.items():
            argv += [f"--host-record={name.rstrip('.')},{a}" for a in addresses]
        if not refuse:
            # Names we do not list are ours alone to answer: NXDOMAIN, never forwarded.
            argv.append("--address=/#/")
        proc = ns.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.processes.append(proc)
        _wait_listening(ns, port, proc)
        return proc

    def silent_server(self, ns: NetNs, address: str, port: int = 53) -> subprocess.Popen:
        """A UDP socket on `address`:`port` that reads queries and never answers (no ICMP)."""
        family = "AF_INET6" if ":" in address else "AF_INET"
        code = (
            "import socket, sys\n"
            f"s = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n"
            f"s.bind(({address!r}, {port}))\n"
            "print('ready', flush=True)\n"
            "while True:\n    s.recv(4096)\n"
        )
        return self.start(ns, "python3", "-c", code, ready="ready")

    def responder(
        self,
        ns: NetNs,
        address: str,
        rcode: int = 0,
        delay: float = 0.0,
        drop: Sequence[int] = (),
    ) -> subprocess.Popen:
        """A UDP DNS server on `address`:53 answering every query with `rcode` and no records,
        `delay` seconds late, and never the queries of a type in `drop` (a server that loses
        one of them: dnsmasq cannot be made slow or lossy by itself)."""
        family = "AF_INET6" if ":" in address else "AF_INET"
        code = f"""
import socket, struct, threading
s = socket.socket(socket.{family}, socket.SOCK_DGRAM)
s.bind(({address!r}, 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    end = 12
    while data[end]:
        end += data[end] + 1
    qtype = struct.unpack_from("!H", data, end + 1)[0]
    if qtype in {list(drop)!r}:
        continue
    reply = data[:2] + struct.pack("!HHHHH", 0x8180 | {rcode}, 1, 0, 0, 0) + data[12 : end + 5]
    threading.Timer({delay}, s.sendto, (reply, peer)).start()
"""
        return self.start(ns, "python3", "-c", code, ready="ready")

    def resolv_conf(self, ns: NetNs, text: str) -> None:
        """/etc/resolv.conf for the processes of `ns` (`ip netns exec` mounts it), gone with it."""
        folder = Path("/etc/netns") / ns.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "resolv.conf").write_text(text)

    def close(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()
        for ns in reversed(self.netnses):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
            shutil.rmtree(Path("/etc/netns") / ns.name, ignore_errors=True)
        self.netnses.clear()


def _wait_listening(ns: NetNs, port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dnsmasq exited: {proc.stderr.read() if proc.stderr else ''}")
        listening = ns.run("ss", "-Hlun", f"sport = :{port}").stdout
        if listening.strip():
            return
        time.sleep(0.05)
    raise TimeoutError(f"dnsmasq in {ns.name} never listened on port {port}")
