"""Start to first event of `espia trace open` and `espia trace exec`, and where it goes.

    sudo python3 bench/open/start.py [ROUNDS] [TREE...] [-- ESPIA-FLAG...]

Each round starts each gadget from each espia tree given (default: this
one; another tree, such as an older commit's worktree, runs its own code
through PYTHONPATH; flags after `--` are given to each espia, e.g.
`--runtime-socket containerd=PATH` for a containerd of one's own), pokes
it (an open of a missing marker path, an exec of /bin/true with a marker
argument) until the marker shows on its stdout, and
records the time from the process's start to then.  Rounds are
interleaved; medians are reported.  espia is run as installed (the console
script next to this Python), not through a wrapper such as a version
manager's shim.  Then `python -X importtime` of one start of each tree:
the modules that cost most, cumulative, for each tree.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import OUT, Tracer, machine, markdown_table, split_arguments, touch_missing

ROOT = Path(__file__).resolve().parents[2]


def espia_command() -> list[str]:
    """The installed console script, or `python -m` where there is none."""
    script = Path(sys.executable).parent / "espia"
    return [str(script)] if script.exists() else [sys.executable, "-m", "espia.cli.main"]


def exec_marker(marker: str) -> Callable[[], None]:
    """An exec of /bin/true with `marker` as its argument.  Spawned directly: through
    subprocess.run each poke cost ~4 ms of CPU (pipes, its own bookkeeping), every
    10 ms, on the cores espia's start-up runs on; posix_spawn costs ~1 ms."""

    def poke() -> None:
        pid = os.posix_spawn("/bin/true", ["/bin/true", marker], os.environ)
        os.waitpid(pid, 0)

    return poke


def first_event(tree: Path, gadget: str, extra: list[str]) -> float:
    """Seconds from starting `espia trace <gadget>` (from `tree`) to its first event."""
    marker = f"/tmp/espia-bench-first-{uuid.uuid4().hex[:8]}"
    if gadget == "open":
        argv, poke = ["-F", f"path:{marker}"], touch_missing(marker)
    else:
        argv, poke = ["-F", "comm:true"], exec_marker(marker)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [*espia_command(), "trace", gadget, *argv, *extra]
    tracer = Tracer(command, OUT / "first.out", env=env)
    seconds = tracer.wait_for_text(poke, marker)
    tracer.stop()
    return seconds


ALL, NOT_SITE = "(all imports)", "(all but site: espia's)"


def import_times(tree: Path, gadget: str, extra: list[str]) -> dict[str, float]:
    """{module: cumulative ms} of the imports of one `trace <gadget>` start, for the
    top-level imports and their children (`-X importtime`), with their totals: ALL,
    and NOT_SITE (what site's .pth files import belongs to the environment)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # -P: the tree is the one on PYTHONPATH, not the current directory's.
    argv = [sys.executable, "-P", "-X", "importtime", "-m", "espia.cli.main", "trace", gadget]
    done = subprocess.run(
        [*argv, "-t", "0.01", "-F", "comm:nomatch", *extra], env=env, capture_output=True, text=True
    )
    found = {ALL: 0.0, NOT_SITE: 0.0}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not match or len(match.group(2)) > 3:  # top-level imports and their children
            continue
        name, ms = match.group(3), int(match.group(1)) / 1000
        found[name] = found.get(name, 0.0) + ms
        if len(match.group(2)) == 1:  # " name": a top-level import
            found[ALL] += ms
            found[NOT_SITE] += 0.0 if name == "site" else ms
    return found


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each module's median over `runs` (0 in a run that did not import it)."""
    names = {name for run in runs for name in run}
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def import_table(trees: list[Path], extra: list[str], rounds: int, top: int = 16) -> str:
    """The costliest imports of each gadget's start, median over `rounds` starts of each
    tree (interleaved), side by side; a module a tree does not import shows as -."""
    runs: dict[tuple[str, Path], list[dict[str, float]]] = {}
    for _ in range(rounds):
        for gadget in ("open", "exec"):
            for tree in trees:
                runs.setdefault((gadget, tree), []).append(import_times(tree, gadget, extra))
    text = []
    for gadget in ("open", "exec"):
        medians = {tree: _medians(runs[(gadget, tree)]) for tree in trees}
        names = sorted(
            {name for median in medians.values() for name in median},
            key=lambda name: -max(median.get(name, 0.0) for median in medians.values()),
        )[:top]
        rows = [
            [name, *(f"{medians[t][name]:.1f}" if medians[t].get(name) else "-" for t in trees)]
            for name in names
        ]
        header = ["module (cumulative ms, median)", *(tree.name for tree in trees)]
        text.append(f"imports of `trace {gadget}` ({rounds} starts of each tree):\n")
        text.append(markdown_table(header, rows, 1))
    return "\n\n".join(text)


def main() -> None:
    args, extra = split_arguments(sys.argv[1:])
    rounds = int(args[0]) if args else 5
    trees = [Path(t).resolve() for t in args[1:]] or [ROOT]
    OUT.mkdir(exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[0]
    times: dict[tuple[Path, str], list[float]] = {}
    for _ in range(rounds):
        for gadget in ("open", "exec"):
            for tree in trees:
                times.setdefault((tree, gadget), []).append(first_event(tree, gadget, extra))
    rows = [
        [
            f"trace {gadget}",
            tree.name,
            f"{statistics.median(values) * 1000:.0f} ms",
            f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms",
        ]
        for (tree, gadget), values in times.items()
    ]
    after = Path("/proc/loadavg").read_text().split()[0]
    print(f"Machine: {machine()}; {rounds} interleaved rounds; load average {load} -> {after}")
    print(markdown_table(["gadget", "tree", "start to first event", "range"], rows, 2))
    print()
    print(import_table(trees, extra, rounds))


if __name__ == "__main__":
    main()
