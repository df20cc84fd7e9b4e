"""Time spent in top file's programs in the kernel, per counted call.

    sudo flock /tmp/espia-bench.lock python3 bench/top/kernel.py [WRITES] [ROUNDS] [NAME=TREE]...

While `espia top file` runs, the kernel times each of its programs
(BPF_ENABLE_STATS: run_time_ns and run_cnt per program, on only while this
script holds the descriptor, and counted so that it does not turn off
another user's statistics); a loop of 64-byte write(2) calls then gives the
mean time of exit_write per call: the in-kernel part of top file's cost,
without the tracepoint's own (which the write loop's CPU time includes).
Rounds alternate top file counting every call and top file whose filter
drops every call (the program's floor: the filter check and the exit),
and, for each NAME=TREE given (the root of another espia tree, built; a bare
TREE is named after itself), the same top file run from that tree, to
compare versions of the program in one run.
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _common import OUT, Tracer  # noqa: E402
from top.bench import ioload  # noqa: E402

BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0
SYS_BPF = 321  # x86_64


def enable_stats() -> int:
    """A descriptor that keeps the kernel's per-program statistics on while open."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = (ctypes.c_uint32 * 32)(BPF_STATS_RUN_TIME)
    fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, attr, ctypes.sizeof(attr))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "BPF_ENABLE_STATS")
    return int(fd)


def programs() -> dict[int, dict[str, int | str]]:
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, check=True)
    return {p["id"]: p for p in json.loads(shown.stdout or "[]")}


def held_programs(pid: int) -> set[int]:
    """Ids of the programs process `pid` holds a descriptor of (its fdinfo says
    prog_id): another user's programs of the same name are not counted."""
    ids = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def per_call(argv: list[str], writes: int, target: str, tree: str | None) -> tuple[float, float]:
    """(ns in exit_write per call, ns of the writer's CPU per call) under `argv`,
    run from `tree` (None: this one)."""
    env = {**os.environ, "PYTHONPATH": tree} if tree else None
    tracer = Tracer(argv, OUT / "top-kernel.out", env=env)
    try:
        time.sleep(4)
        held = held_programs(tracer.proc.pid)
        ours = {i for i, p in programs().items() if i in held and p.get("name") == "exit_write"}
        if len(ours) != 1:
            raise RuntimeError(f"expected one new exit_write program, found {len(ours)}")
        (prog,) = ours
        start = programs()[prog]
        cpu = float(
            subprocess.run(
                [str(ioload()), "-c", "ioload", "write", str(writes), target],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        end = programs()[prog]
    finally:
        tracer.stop()
    runs = int(end.get("run_cnt", 0)) - int(start.get("run_cnt", 0))
    ns = int(end.get("run_time_ns", 0)) - int(start.get("run_time_ns", 0))
    return ns / max(1, runs), cpu


def main() -> None:
    writes = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    trees = [arg.split("=", 1) if "=" in arg else [arg, arg] for arg in sys.argv[3:]]
    counting = ["espia", "top", "file", "-o", "json"]
    configs: dict[str, tuple[list[str], str | None]] = {
        "counting": (counting, None),
        "dropping (pid:1)": ([*counting, "-F", "pid:1"], None),
    }
    for name, tree in trees:
        configs[f"counting, {name}"] = (counting, tree)
    OUT.mkdir(exist_ok=True)
    fd = enable_stats()
    scratch = Path(tempfile.mkdtemp(prefix="espia-bench-kernel-"))
    target = str(scratch / "written")
    results: dict[str, list[tuple[float, float]]] = {}
    print("load:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    try:
        for _ in range(rounds):
            for name, (argv, tree) in configs.items():
                results.setdefault(name, []).append(per_call(argv, writes, target, tree))
    finally:
        os.close(fd)
        Path(target).unlink(missing_ok=True)
        scratch.rmdir()
    print("load:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    for name, got in results.items():
        prog = statistics.median(g[0] for g in got)
        cpu = statistics.median(g[1] for g in got)
        print(f"{name}: exit_write {prog:.0f} ns per call; writer {cpu:.0f} ns per call")


if __name__ == "__main__":
    main()
