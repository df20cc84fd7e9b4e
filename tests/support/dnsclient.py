"""A DNS client run by tests inside a namespace: it says exactly what it sent and when.

Each exchange is reported back as JSON (the client's pid and thread, the id
it chose, its source endpoint and the latency it measured), so that a test
can assert the exact events a gadget shows for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from support.netns import NetNs
from support.workloads import PRELUDE, comm_name

# The client's body: `plan` is a list of exchanges, each
# [server, port, name, qtype, id, tcp, sends, wait]; `sends` copies of the query
# go out on one socket (retransmissions), a second apart; `wait` is how long
# to wait for a response (0: do not wait).
_CLIENT = """
import json, socket, struct, threading, time
plan = json.loads(sys.argv[2])

def message(name, qtype, ident):
    parts = name.rstrip(".").split(".")
    labels = b"".join(bytes([len(part)]) + part.encode() for part in parts) + b"\\0"
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return header + labels + struct.pack("!HH", qtype, 1)

results = []
for server, port, name, qtype, ident, tcp, sends, wait in plan:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    query = message(name, qtype, ident)
    if tcp:
        s = socket.create_connection((server, port))
        query = struct.pack("!H", len(query)) + query
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.connect((server, port))
    s.settimeout(wait or None)
    start = time.monotonic_ns()
    for i in range(sends):
        if i:
            time.sleep(1)
        s.send(query)
    latency = 0
    if wait:
        try:
            s.recv(4096)
            latency = time.monotonic_ns() - start
        except socket.timeout:
            pass
    src = s.getsockname()
    results.append({"src": [src[0], src[1]], "latency": latency, "tid": threading.get_native_id()})
    s.close()
print(json.dumps({"pid": os.getpid(), "results": results}))
"""


@dataclass(frozen=True)
class Exchange:
    """One query a client sends: to `server`:`port`, `sends` times, waiting `wait` s."""

    server: str
    name: str
    qtype: int = 1
    ident: int = 0x1234
    tcp: bool = False
    port: int = 53
    sends: int = 1
    wait: float = 5.0


@dataclass(frozen=True)
class Sent:
    """What the client reports for one exchange."""

    src: str  # "10.251.1.1:40000" or "[fd00:e5b1:1::1]:40000", as the gadget shows it
    latency: int  # ns, 0 without a response
    tid: int


@dataclass(frozen=True)
class ClientRun:
    pid: int
    comm: str
    sent: list[Sent]


def endpoint_text(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def ask(ns: NetNs, exchanges: list[Exchange], comm: str = "") -> ClientRun:
    """Runs the client in `ns` with `comm` (default: a fresh one); what it did."""
    comm = comm or comm_name()
    plan = [[x.server, x.port, x.name, x.qtype, x.ident, x.tcp, x.sends, x.wait] for x in exchanges]
    code = PRELUDE + _CLIENT + "\nsys.stdout.flush()\nos._exit(0)\n"
    done = ns.run("python3", "-c", code, comm, json.dumps(plan), timeout=60)
    report: dict[str, Any] = json.loads(done.stdout)
    sent = [Sent(endpoint_text(*r["src"]), r["latency"], r["tid"]) for r in report["results"]]
    return ClientRun(report["pid"], comm, sent)
