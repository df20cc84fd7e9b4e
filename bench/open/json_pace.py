"""Does `espia trace open -o json > file` keep pace with a full-speed openat(2) flood?

    sudo python3 bench/open/json_pace.py [--rounds 5] [--calls 1000000] [TREE...]

Each round runs the generator untraced, then traced by each espia tree given
(default: this one; another tree, such as main's worktree, is run from its
own code with PYTHONPATH) once with `-o json` and once with columns, both
written to a file, then untraced again.  The order of the traced runs is
rotated per round, so that no tree always goes first.  For each run: the
events of the generator's path captured, the losses espia reported (the
`lost_events` records, the "events lost" lines), the losses unreported
(calls made minus both), the generator's slowdown against the mean of its
round's two untraced runs, and espia's CPU time per event.  Figures are
medians over rounds.  Prints a Markdown table, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import OUT, Tracer, generate, machine, markdown_table, touch_missing

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Measured:
    captured: int
    reported: int
    ns_per_call: float
    cpu_seconds: float


def losses(text: str, stderr: str) -> int:
    """What espia said it lost: its JSON records, or its columns' stderr lines."""
    records = sum(
        json.loads(line)["lost_events"] for line in text.splitlines() if '"lost_events"' in line
    )
    return records + sum(int(n) for n in re.findall(r"espia: (\d+) events lost", stderr))


def traced(tree: Path, output: str, n: int, path: str) -> Measured:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "espia.cli.main", "trace", "open", "-o", output]
    marker = f"/tmp/espia-bench-ready-{uuid.uuid4().hex[:8]}"
    tracer = Tracer(argv, OUT / f"json-{output}.out", env=env)
    tracer.wait_for_text(touch_missing(marker), marker)
    ns = generate(n, path)
    done = tracer.stop()
    text = tracer.output.read_text(errors="replace")
    return Measured(text.count(path), losses(text, tracer.stderr()), ns, done.cpu_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("trees", nargs="*", type=Path)
    args = parser.parse_args()
    trees = [t.resolve() for t in args.trees] or [ROOT]
    n = args.calls
    path = f"/tmp/espia-bench-missing-{uuid.uuid4().hex[:8]}"
    OUT.mkdir(exist_ok=True)
    before = Path("/proc/loadavg").read_text().split()[0]
    runs = [(tree, output) for output in ("json", "columns") for tree in trees]
    results: dict[tuple[Path, str], list[tuple[Measured, float]]] = {run: [] for run in runs}
    untraced: list[float] = []
    for i in range(args.rounds):
        base = generate(n, path)
        order = runs[i % len(runs) :] + runs[: i % len(runs)]
        measured = [(run, traced(*run, n, path)) for run in order]
        base = (base + generate(n, path)) / 2
        untraced.append(base)
        for run, m in measured:
            results[run].append((m, base))
            print(
                f"round {i + 1}: {run[0].name} {run[1]}: {m.captured / n:.1%} captured, "
                f"{m.reported:,} reported lost, {m.ns_per_call / base:.2f}x, "
                f"load {Path('/proc/loadavg').read_text().split()[0]}",
                flush=True,
            )
    rows = [["untraced", "", "", "", f"{statistics.median(untraced):,.0f}", "1.00x", ""]]
    for (tree, output), values in results.items():
        ms = [m for m, _ in values]
        rows.append(
            [
                f"espia ({tree.name}) `-o {output}`",
                f"{statistics.median(m.captured / n for m in ms):.1%}",
                f"{statistics.median(m.reported / n for m in ms):.1%}",
                f"{statistics.median((n - m.captured - m.reported) / n for m in ms):.1%}",
                f"{statistics.median(m.ns_per_call for m in ms):,.0f}",
                f"{statistics.median(m.ns_per_call / b for m, b in values):.2f}x",
                f"{statistics.median(m.cpu_seconds * 1e6 / max(m.captured, 1) for m in ms):.2f}",
            ]
        )
    header = [
        "run",
        "captured",
        "losses reported",
        "losses unreported",
        "ns per openat",
        "slowdown",
        "espia CPU us per event",
    ]
    after = Path("/proc/loadavg").read_text().split()[0]
    print(f"Machine: {machine()}; {args.rounds} interleaved rounds of {n:,} calls")
    print(f"load average (1 min) before: {before}, after: {after}")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
