"""top file's hook, compared between trees: its cost on the traced write(2) and on getppid(2).

    sudo flock /tmp/espia-bench.lock python3 bench/top/hooks.py WRITES CALLS ROUNDS NAME=TREE...

Each TREE is the root of an espia tree (built); its `espia top file` runs
counting every call, and again with a filter that drops every call (the
hook's floor).  Under each, two loads run: a loop of 64-byte write(2) calls to
a regular file (a call top file counts) and a loop of getppid(2) (a call it
does not trace, which a hook on every syscall's exit still runs on, and
which a node makes far more of than reads and writes).  The figure is the
loops' CPU time per call (user and kernel: the programs run in the loops'
syscalls), rounds interleaved, medians; the load average is printed with
the numbers.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _common import OUT, Tracer, markdown_table  # noqa: E402
from top.bench import ioload, loadavg  # noqa: E402


def cpu_per_call(mode: str, n: int, path: str) -> float:
    argv = [str(ioload()), "-c", "ioload", mode, str(n), path]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()[0])


def measure(
    argv: list[str] | None, tree: str | None, loads: list[tuple[str, int, str]]
) -> list[float]:
    """CPU ns per call of each load while `argv` (run from `tree`) traces."""
    if argv is None:
        return [cpu_per_call(*load) for load in loads]
    env = {**os.environ, "PYTHONPATH": tree} if tree else None
    tracer = Tracer(argv, OUT / "top-hooks.out", env=env)
    try:
        time.sleep(4)  # loaded and attached (the first interval prints at 1 s)
        if tracer.proc.poll() is not None:
            raise RuntimeError(f"{argv} ended: {tracer.stderr()[-300:]}")
        return [cpu_per_call(*load) for load in loads]
    finally:
        tracer.stop()


def main() -> None:
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    writes, calls, rounds = (int(a) for a in sys.argv[1:4])
    trees = dict(arg.split("=", 1) for arg in sys.argv[4:])
    top = ["espia", "top", "file", "-o", "json"]
    configs: dict[str, tuple[list[str] | None, str | None]] = {"untraced": (None, None)}
    for name, tree in trees.items():
        configs[f"{name}, counting"] = (top, tree)
        configs[f"{name}, filters drop all"] = ([*top, "-F", "pid:1"], tree)
    OUT.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="espia-bench-hooks-"))
    target = str(scratch / "written")
    loads = [("write", writes, target), ("getppid", calls, "-")]
    results: dict[str, list[list[float]]] = {}
    seen = [loadavg()]
    try:
        for _ in range(rounds):
            for name, (argv, tree) in configs.items():
                results.setdefault(name, []).append(measure(argv, tree, loads))
            seen.append(loadavg())
    finally:
        Path(target).unlink(missing_ok=True)
        scratch.rmdir()
    base = [statistics.median(r[i] for r in results["untraced"]) for i in range(len(loads))]
    rows = []
    for name, got in results.items():
        row = [name]
        for i in range(len(loads)):
            ns = statistics.median(r[i] for r in got)
            row.append(f"{ns:,.0f} ({(ns / base[i] - 1) * 100:+.1f}%)")
        rows.append(row)
    command = f"python3 bench/top/hooks.py {writes} {calls} {rounds} ..."
    print(f"`{command}`, load average: {'; '.join(seen)}")
    print()
    print(markdown_table(["top file", "write(2), ns per call", "getppid(2), ns per call"], rows))


if __name__ == "__main__":
    main()
