"""Container selection under load: 20 containers, a selector that matches one.

    sudo python3 bench/containers/bench.py [N]

In one run: the load generator (bench/loadgen.c, N openat calls) in an
unselected container, untraced and then while `trace open -c <selected>`
runs; how many records reached user space from the unselected flood (the
kernel should drop them all); the selected container's own opens, counted
exactly; and the time from a container's first event in the kernel to
espia attributing it.  Uses the test suite's runtime helpers to start
containerd.  Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
from _common import OUT, Tracer, loadgen, machine, markdown_table, replace_section  # noqa: E402
from support.runtimes import Ctr, Services  # noqa: E402

import espia  # noqa: E402
from espia.semantic.process import BOOT_CLOCK  # noqa: E402

CONTAINERS = 20


def in_container(ctr: Ctr, cid: str, n: int, path: str) -> float:
    return float(ctr.exec(cid, "/usr/local/bin/loadgen", "-c", "loadgen", str(n), path))


def slowdown(ctr: Ctr, selected: str, noisy: str, n: int, rounds: int = 3) -> tuple[float, float]:
    """Medians of interleaved runs: (untraced ns/op, ns/op under `espia trace open -c`)."""
    untraced, traced = [], []
    for _ in range(rounds):
        untraced.append(in_container(ctr, noisy, n, "/tmp/bench-untraced"))
        tracer = Tracer(["espia", "trace", "open", "-c", selected], OUT / "selection.out")
        tracer.wait_for_text(lambda: None, "COMM")
        traced.append(in_container(ctr, noisy, n, "/tmp/bench-traced"))
        tracer.stop()
    return statistics.median(untraced), statistics.median(traced)


def selected_run(ctr: Ctr, selected: str, noisy: str, n: int, own: int) -> dict[str, float]:
    tag = f"/tmp/bench-{uuid.uuid4().hex[:8]}"
    result: dict[str, float] = {}
    trace = espia.trace("open", containername=selected, filter=f"path:~^{tag}")
    with trace:

        def work() -> None:
            result["ns"] = in_container(ctr, noisy, n, f"{tag}-noisy")
            in_container(ctr, selected, own, f"{tag}-own")
            time.sleep(0.5)
            trace.stop()

        worker = threading.Thread(target=work)
        worker.start()
        events = list(trace)
        worker.join()
    result["own_events"] = sum(1 for e in events if e.path == f"{tag}-own")
    result["noisy_events"] = sum(1 for e in events if e.path == f"{tag}-noisy")
    result["received"] = trace.received
    result["lost"] = trace.lost
    return result


def attribution_delay(ctr: Ctr, rootfs: Path, repeat: int = 5) -> tuple[float, float]:
    """(container start -> first attributed event, kernel event -> espia), medians, seconds."""
    starts, delays = [], []
    for _ in range(repeat):
        name = f"delay-{uuid.uuid4().hex[:8]}"
        trace = espia.trace("exec", containername=name)
        with trace:
            started = time.time()
            runner = threading.Thread(
                target=ctr.run_once, args=(name, rootfs, "/bin/echo", "first")
            )
            runner.start()
            for event in trace:
                if event.container.name == name:
                    now = time.time()
                    wall_ns = event.timestamp + BOOT_CLOCK.offset_ns
                    starts.append(now - started)
                    delays.append(now - wall_ns / 1e9)
                    trace.stop()
            runner.join()
    return statistics.median(starts), statistics.median(delays)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    OUT.mkdir(exist_ok=True)
    services = Services(OUT / "containers")
    try:
        socket = services.containerd()
        rootfs = services.rootfs
        (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
        shutil.copy(loadgen(), rootfs / "usr/local/bin/loadgen")
        ctr = Ctr(socket, "k8s.io")
        names = [f"bench-{i}-{uuid.uuid4().hex[:6]}" for i in range(CONTAINERS)]
        for name in names:
            ctr.run(name, rootfs)
        try:
            selected, noisy = names[0], names[1]
            base, traced = slowdown(ctr, selected, noisy, n)
            run = selected_run(ctr, selected, noisy, n, own=1000)
            to_event, delay = attribution_delay(ctr, rootfs)
        finally:
            for name in names:
                ctr.remove(name)
    finally:
        services.stop()
    added = traced / base - 1
    table = markdown_table(
        ["measure", "value"],
        [
            ["generator in the unselected container, untraced", f"{base:,.0f} ns/op"],
            [
                "same, while `espia trace open -c <another>` runs",
                f"{traced:,.0f} ns/op ({added:+.1%})",
            ],
            [
                "the unselected flood's events that reached user space",
                f"{run['noisy_events']:,.0f} of {n:,}",
            ],
            [
                "records that reached user space in all (host noise, new namespaces)",
                f"{run['received']:,.0f}",
            ],
            ["the selected container's 1,000 opens, shown", f"{run['own_events']:,.0f}"],
            ["events lost", f"{run['lost']:,.0f}"],
            [
                "`ctr run` of a new selected container to its first attributed event",
                f"{to_event * 1000:.0f} ms",
            ],
            ["that event in the kernel to espia attributing it", f"{delay * 1000:.0f} ms"],
        ],
    )
    body = f"""
Machine: {machine()}.  {CONTAINERS} containers (containerd, busybox rootfs)
running; `trace open -c <one of them>` through the Python API (the CLI's
stages); the load generator does {n:,} openat(2) calls in another
container.  The first two rows are medians of 3 interleaved rounds (the
tracer a CLI process), the last two medians of 5 new containers.

{table}
"""
    replace_section("container selection", body)
    print(body)


if __name__ == "__main__":
    main()
