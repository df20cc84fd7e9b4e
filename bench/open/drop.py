"""What `espia trace open` costs each openat(2) when its filter drops everything in the kernel.

    sudo python3 bench/open/drop.py [ROUNDS] [TREE...]

Each round runs the generator untraced, then traced by each espia tree given
(default: this one; another tree, such as an older commit's worktree, is
run from its own code with PYTHONPATH) started with `-F comm:nomatch`, so
the kernel drops every event at its first check.  Rounds are interleaved
and each tracer's cost is the median of its per-round ratios to that
round's untraced run, since this shared machine's timings drift.  Times
are the generator's CPU time per call (what the hooks add to the caller),
besides its wall-clock time.  Prints a Markdown table.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import OUT, Tracer, loadgen, machine, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def generate_cpu(n: int, path: str) -> tuple[float, float]:
    """(CPU ns, wall ns) per openat of the generator."""
    proc = subprocess.Popen(
        [str(loadgen()), "-c", "loadgen", str(n), path], stdout=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None and os.waitstatus_to_exitcode(status) == 0
    wall = float(proc.stdout.read())
    return (usage.ru_utime + usage.ru_stime) * 1e9 / n, wall


def traced(tree: Path, n: int, path: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "espia.cli.main", "trace", "open", "-F", "comm:nomatch"]
    tracer = Tracer(argv, OUT / "drop.out", env=env)
    tracer.wait_for_text(lambda: None, "COMM")  # the header: attached
    times = generate_cpu(n, path)
    tracer.stop()
    return times


def cost(times: list[tuple[float, float]], untraced: list[tuple[float, float]], i: int) -> str:
    """The median of the rounds' traced/untraced ratios of measure `i`, as "+12.3%"."""
    ratios = (t[i] / u[i] for t, u in zip(times, untraced, strict=True))
    return f"{statistics.median(ratios) - 1:+.1%}"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    trees = [Path(t).resolve() for t in sys.argv[2:]] or [ROOT]
    n = 1_000_000
    path = f"/tmp/espia-bench-missing-{uuid.uuid4().hex[:8]}"
    OUT.mkdir(exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[0]
    untraced: list[tuple[float, float]] = []
    runs: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    for _ in range(rounds):
        untraced.append(generate_cpu(n, path))
        for tree in trees:
            runs[tree].append(traced(tree, n, path))
        ratios = "  ".join(f"{runs[t][-1][0] / untraced[-1][0]:.3f}" for t in trees)
        print(f"round: untraced {untraced[-1][0]:,.0f} ns; traced/untraced {ratios}", flush=True)
    rows = [
        [
            "untraced",
            f"{statistics.median(u[0] for u in untraced):,.0f}",
            f"{statistics.median(u[1] for u in untraced):,.0f}",
            "",
            "",
        ]
    ]
    for tree, times in runs.items():
        rows.append(
            [
                f"espia ({tree.name}), `-F comm:nomatch`",
                f"{statistics.median(t[0] for t in times):,.0f}",
                f"{statistics.median(t[1] for t in times):,.0f}",
                cost(times, untraced, 0),
                cost(times, untraced, 1),
            ]
        )
    header = ["run", "CPU ns per openat", "wall ns", "cost (CPU)", "cost (wall)"]
    print(f"Machine: {machine()}; {rounds} interleaved rounds of {n:,} calls")
    after = Path("/proc/loadavg").read_text().split()[0]
    print(f"load average (1 min) before: {load}, after: {after}")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
