"""Running a top or profile gadget around a workload, one JSON list per interval."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from support.workloads import EspiaCli

Interval = list[dict[str, Any]]


class IntervalRun(NamedTuple):
    """A run of `run_intervals`: the intervals, what the workload returned, espia's stderr,
    and the total of the losses espia reported ({"lost_events"} records)."""

    intervals: list[Interval]
    result: Any
    stderr: str
    lost: int


def run_intervals(args: Iterable[str], workload: Callable[[], Any], settle: int = 2) -> IntervalRun:
    """Runs `espia <args> -o json` around `workload`.

    The first interval's line (an empty list is a line too) says the programs
    are attached; the workload then runs, and `settle` more intervals go by
    before Ctrl-C, whose own last interval is kept: nothing the workload did
    may be missing from the lists.
    """
    cli = EspiaCli([*args, "-o", "json"])
    cli.wait_for(lambda line: line.startswith("["), timeout=30)
    result = workload()
    seen = len(cli.lines)
    cli.wait_for(lambda line: len(cli.lines) >= seen + settle, timeout=30)
    cli.proc.send_signal(signal.SIGINT)
    code, lines, stderr = cli.finish()
    assert code == 0, stderr
    losses = [json.loads(line) for line in lines if line.startswith('{"lost_events"')]
    lost = sum(record["lost_events"] for record in losses)
    assert lost == (losses[-1]["lost_total"] if losses else 0)
    intervals = [json.loads(line) for line in lines if line.startswith("[")]
    return IntervalRun(intervals, result, stderr, lost)


def intervals_around(
    args: Iterable[str], workload: Callable[[], Any], settle: int = 2
) -> tuple[list[Interval], Any, str]:
    """`run_intervals`: (the intervals, what the workload returned, espia's stderr)."""
    run = run_intervals(args, workload, settle)
    return run.intervals, run.result, run.stderr


def totals(intervals: list[Interval], key: Callable[[dict[str, Any]], Any], counters: list[str]):
    """{key(row): {counter: sum over every interval}} and how many intervals each key was in."""
    summed: dict[Any, dict[str, int]] = {}
    spread: dict[Any, int] = {}
    for rows in intervals:
        for row in rows:
            k = key(row)
            entry = summed.setdefault(k, dict.fromkeys(counters, 0))
            for counter in counters:
                entry[counter] += row[counter]
            spread[k] = spread.get(k, 0) + 1
    return summed, spread
