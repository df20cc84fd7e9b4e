"""How long `espia trace open` takes to exit after Ctrl-C or its deadline, as a user sees it.

    sudo python3 bench/open/exit.py [ROUNDS] [TREE...] [-- ESPIA-FLAG...]

Ctrl-C: espia is started (filtered on a comm nobody has, so it is idle),
and once its header is out (it is attached) and half a second has passed,
it gets SIGINT; measured is the time from sending SIGINT to its exit (the
moment a shell would print its prompt: the kernel has closed the last
descriptor, so nothing of it is left attached).  Deadline: `-t 1`, and
measured is the time from the header plus one second to its exit (the
header goes out just before the deadline starts counting, so this is a
slight overestimate).  Rounds are interleaved between the trees given
(default: this one); medians are printed.  Flags after `--` are given to
each espia (`--runtime-socket containerd=PATH`...).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine, markdown_table, split_arguments

ROOT = Path(__file__).resolve().parents[2]
# -P: the tree is the one on PYTHONPATH, not the current directory's.
COMMAND = [sys.executable, "-P", "-m", "espia.cli.main", "trace", "open", "-F", "comm:nomatch"]


EXTRA: list[str] = []  # the flags after `--`


def started(tree: Path, *args: str) -> tuple[subprocess.Popen[str], float]:
    """espia from `tree`, once attached; and when its header came."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([*COMMAND, *args, *EXTRA], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, time.monotonic()


def after_interrupt(tree: Path) -> float:
    proc, _ = started(tree)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait()
    return time.monotonic() - sent


def after_deadline(tree: Path) -> float:
    proc, attached = started(tree, "-t", "1")
    proc.wait()
    return time.monotonic() - attached - 1


def main() -> None:
    args, EXTRA[:] = split_arguments(sys.argv[1:])
    rounds = int(args[0]) if args else 7
    trees = [Path(t).resolve() for t in args[1:]] or [ROOT]
    load = Path("/proc/loadavg").read_text().split()[0]
    interrupt: dict[Path, list[float]] = {tree: [] for tree in trees}
    deadline: dict[Path, list[float]] = {tree: [] for tree in trees}
    for _ in range(rounds):
        for tree in trees:
            interrupt[tree].append(after_interrupt(tree))
            deadline[tree].append(after_deadline(tree))
    rows = [
        [
            tree.name,
            f"{statistics.median(interrupt[tree]) * 1000:.0f} ms",
            f"{statistics.median(deadline[tree]) * 1000:.0f} ms",
        ]
        for tree in trees
    ]
    after = Path("/proc/loadavg").read_text().split()[0]
    print(f"Machine: {machine()}; {rounds} interleaved rounds; load average {load} -> {after}")
    print(markdown_table(["tree", "SIGINT to exit", "deadline to exit"], rows))


if __name__ == "__main__":
    main()
