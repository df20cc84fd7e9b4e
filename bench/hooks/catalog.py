"""What each catalog gadget costs the syscall it hooks, when its filter drops everything.

    sudo python3 bench/hooks/catalog.py [ROUNDS]

For each gadget, catalog_load.c makes the cheapest calls of the syscall (or
path) the gadget hooks, and for some, calls that do their work as well (a
bind that binds, a signal delivered, a tmpfs mounted and unmounted), each
untraced and then with the gadget loaded through
the Python API and filtered on a comm nobody has (so the kernel drops every
event at its first check); getppid(2), which no gadget hooks, shows what
the hooks cost every other syscall.  Times are the caller's CPU time (the
machine is shared).  Rounds are interleaved and medians reported, since
this machine's timings drift.  Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]
from _common import OUT, machine, markdown_table, replace_section  # noqa: E402

import espia  # noqa: E402

# (gadget, catalog_load call, what it is, calls per run)
LOADS = [
    ("bind", "bind", "bind(2), EINVAL", 1_000_000),
    ("bind", "bindok", "socket(2), bind(2) to 127.0.0.1:0, close(2)", 200_000),
    ("signal", "kill", "kill(2) of an ignored signal", 1_000_000),
    ("signal", "killed", "kill(2) of a signal delivered to a handler", 300_000),
    ("capabilities", "setuid", "setuid(0): a CAP_SETUID check", 500_000),
    ("mount", "umount", "umount2(2), ENOENT", 1_000_000),
    ("mount", "mount", "mount(2) of a tmpfs, then umount2(2)", 30_000),
    ("tcpretrans", "send", "send(2) of 1 byte, loopback TCP", 500_000),
    ("sni", "send", "send(2) of 1 byte, loopback TCP", 500_000),
]


def load(call: str, n: int) -> float:
    binary = OUT / "catalog_load"
    source = HERE / "catalog_load.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    argv = [str(binary), call, str(n)]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def measure(gadget: str | None, call: str, n: int) -> tuple[float, float]:
    """(ns per hooked call, ns per getppid), with `gadget` loaded and dropping everything."""
    if gadget is None:
        return load(call, n), load("getppid", 2_000_000)
    with espia.trace(gadget, filter="comm:nomatch"):
        return load(call, n), load("getppid", 2_000_000)


def change(ratios: Iterable[float]) -> str:
    """The median of each round's traced/untraced ratio, as "+12%" (pairs within a round
    share the machine's state of the moment, which drifts between rounds)."""
    return f"{statistics.median(ratios) - 1:+.0%}"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    OUT.mkdir(exist_ok=True)
    times: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {
        (gadget, call): {"off": [], "on": []} for gadget, call, _what, _n in LOADS
    }
    loads = [" ".join(Path("/proc/loadavg").read_text().split()[:3])]
    for _ in range(rounds):
        for gadget, call, _what, n in LOADS:
            times[gadget, call]["off"].append(measure(None, call, n))
            times[gadget, call]["on"].append(measure(gadget, call, n))
        loads.append(" ".join(Path("/proc/loadavg").read_text().split()[:3]))
    rows = []
    for gadget, call, what, _n in LOADS:
        pairs = list(zip(times[gadget, call]["off"], times[gadget, call]["on"], strict=True))
        rows.append(
            [
                f"trace {gadget}",
                what,
                f"{statistics.median(off[0] for off, _ in pairs):,.0f}",
                f"{statistics.median(on[0] for _, on in pairs):,.0f}",
                change(on[0] / off[0] for off, on in pairs),
                change(on[1] / off[1] for off, on in pairs),
            ]
        )
    table = markdown_table(
        [
            "gadget",
            "hooked call",
            "ns untraced",
            "ns, gadget dropping all",
            "cost on the hooked call",
            "cost on getppid (not hooked)",
        ],
        rows,
        right_from=2,
    )
    body = f"""
Machine: {machine()}, shared with other work while measured (load average,
1, 5 and 15 min, at the start and after each round: {"; ".join(loads)}): times
are the caller's CPU time per call (catalog_load.c).  Medians of
{rounds} interleaved rounds (bench/hooks/catalog.py), costs as the median of
each round's traced/untraced ratio; each gadget is loaded with `-F
comm:nomatch`, so the kernel drops every event at its first check.

{table}

The target was +20% on the hooked call.  The cheapest calls there are (a
bind or umount2 that fails at once, a kill of an ignored signal) show the
fixed cost of a syscall tracepoint that drops its event, a few hundred ns
(KERNEL.md: about 200 ns, the floor of any syscall gadget), as a large
share of them.  The calls that do their work (a socket bound and closed, a
signal delivered to its handler, a tmpfs mounted and unmounted) pay the
same fixed cost, which is then a small share of what they do: that is the
cost on the calls a node makes.  The socket and close of the bind row, and
the handler's return (rt_sigreturn), are syscalls not hooked that still
take the slower tracing path while a syscall tracepoint is attached.  trace
signal pays twice on a kill, at the syscall's exit and where the signal is
generated; trace mount, on that row, at mount(2) and at umount2(2).
trace oomkill hooks only oom/mark_victim, which runs when the OOM killer
has chosen a victim: no other path pays for it.  A syscall tracepoint puts
every syscall of every task on the kernel's slower tracing path while it is
attached (the getppid column), which is the floor of any syscall gadget
(see "syscall hooks").  trace tcpretrans pays on every TCP send, where it
checks that the sender is the socket's known owner; its retransmission
hooks run only when a segment is resent.  trace sni runs on every packet
sent (a cgroup_skb program), and looks further only into a segment that
starts a TLS handshake record.
"""
    replace_section("catalog gadgets, filtered out", body)
    print(body)


if __name__ == "__main__":
    main()
