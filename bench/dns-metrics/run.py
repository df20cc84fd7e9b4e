"""espia metrics dns and espia diagnose dns under load: dnsperf against dnsmasq over a veth.

    python3 bench/dns-metrics/run.py [--rate 30000] [--diagnose-rate 10000] [--seconds 10]

Rounds, interleaved on one lab (dnsmasq in one namespace, dnsperf with 4
clients in another): dnsperf alone at --rate; with the exporter of `espia
metrics dns` counting dnsperf's namespace (in this process, so that it can
be drained before its counts are read); alone again; with `espia diagnose
dns` watching at --diagnose-rate; alone again at that rate.  For metrics it
reports espia's CPU while dnsperf ran, the final counts (queries, responses,
latency observations, unanswered) against what dnsperf sent and completed,
the records received and lost; for diagnose, the CPU, the report's counts,
and how long the report took once the watch ended.  Every packet stays
between two namespaces this script makes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench" / "dns"))

from run import bench_lab, cpu_seconds, dnsperf  # noqa: E402  (bench/dns/run.py)
from support.netns import Lab  # noqa: E402


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def with_metrics(client, server: str, datafile: Path, args: argparse.Namespace) -> dict:
    """The exporter in this process (what `espia metrics dns` runs), so that after dnsperf
    it can be stopped and drained: the counts are then final, however far behind the ring
    buffer's reader was (on a loaded machine, seconds)."""
    from espia.cli.main import _tune_gc
    from espia.engine.containers import ContainerSources
    from espia.engine.runtime import LocalRuntime
    from espia.engine.source import RunOptions
    from espia.metrics.exporter import Exporter
    from espia.metrics.spec import builtin_set

    _tune_gc()  # as the command line does
    options = RunOptions(filter=f"netns:{client.inode}", exclude_self=True)
    runtime = LocalRuntime(ContainerSources())
    with Exporter(runtime, [builtin_set("dns")], options, ("127.0.0.1", 0)) as exporter:
        exporter.start()
        before = own_cpu_seconds()
        started = time.monotonic()
        perf = dnsperf(client, server, datafile, args)
        done = time.monotonic()
        cpu = own_cpu_seconds() - before  # while dnsperf ran
        exporter.stop()
        exporter.wait()
        drained = time.monotonic() - done
        (gadget,) = exporter.gadgets
        totals = {
            m.spec.name: sum(m.counts.values()) or sum(h.count for h in m.histograms.values())
            for m in gadget
        }
        received, lost = exporter.runs[0].received, gadget.lost
    return {
        **perf,
        "espia_cpu_percent": 100 * cpu / (done - started),
        "drained_seconds_after_dnsperf": drained,
        "received": received,
        "lost_events": lost,
        "events": gadget.events,
        **totals,
    }


def with_diagnose(client, server: str, datafile: Path, args: argparse.Namespace) -> dict:
    duration = args.seconds + 3
    espia = subprocess.Popen(
        [
            "espia",
            "diagnose",
            "dns",
            "-d",
            str(duration),
            "-o",
            "json",
            "-F",
            f"netns:{client.inode}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert espia.stderr is not None
    line = espia.stderr.readline()
    if "watching DNS" not in line:
        raise RuntimeError(f"espia diagnose did not start: {line}")
    watch_ends = time.monotonic() + duration
    before = cpu_seconds(espia.pid)
    perf = dnsperf(client, server, datafile, args)
    # CPU while watching, read just before the watch ends; then the report's own time.
    time.sleep(max(0.0, watch_ends - time.monotonic() - 0.3))
    cpu = cpu_seconds(espia.pid) - before
    wall = duration - 0.3
    out, err = espia.communicate(timeout=120)
    report_seconds = time.monotonic() - watch_ends
    report = json.loads(out)
    counts = [s for c in report["clients"] for s in c["nameservers"]]
    return {
        **perf,
        "espia_cpu_percent": 100 * cpu / wall,
        "report_seconds_after_watch": report_seconds,
        "queries": sum(s["queries"] for s in counts),
        "answered": sum(s["answered"] for s in counts),
        "unanswered": sum(s["unanswered"] for s in counts),
        "lost_events": report["lost"],
        "findings": [f["text"] for f in report["findings"]],
        "espia_stderr": err.splitlines()[1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=30000, help="offered q/s with metrics")
    parser.add_argument("--diagnose-rate", type=int, default=10000, help="q/s with diagnose")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--outstanding", type=int, default=100, help="queries dnsperf keeps in flight (its -q)"
    )
    parser.add_argument("--metrics-only", action="store_true", help="skip the diagnose rounds")
    args = parser.parse_args()
    slower = argparse.Namespace(**{**vars(args), "rate": args.diagnose_rate})
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        client, server, datafile = bench_lab(lab, Path(tmp))
        rounds = {
            "load_before": os.getloadavg(),
            "untraced_before": dnsperf(client, server, datafile, args),
            "metrics": with_metrics(client, server, datafile, args),
            "untraced_after": dnsperf(client, server, datafile, args),
            "load_after": os.getloadavg(),
        }
        if not args.metrics_only:
            rounds["diagnose"] = with_diagnose(client, server, datafile, slower)
            rounds["untraced_diagnose_rate"] = dnsperf(client, server, datafile, slower)
            rounds["load_after"] = os.getloadavg()
    print(
        json.dumps(
            {"offered_qps": args.rate, "diagnose_qps": args.diagnose_rate, **rounds}, indent=2
        )
    )


if __name__ == "__main__":
    main()
