"""trace dns under load: dnsmasq in one namespace, dnsperf in another, over a veth.

    python3 bench/dns/run.py [--rate 20000] [--seconds 10] [--clients 4] [--outstanding 100]
        [--profile FILE] [--rounds N] [--tree DIR ...] [--output json|columns ...]
        [--buffer-size SIZE]

Runs dnsperf at the same offered rate untraced, traced by `espia trace dns`
(from each --tree in turn, to compare two versions in one run, with each
--output in turn: JSON lines, or the default columns with LATENCY added),
untraced again, for --rounds interleaved rounds, and reports: queries/s,
espia's CPU (and per event), events received and lost, queries paired with
their response (a LATENCY), espia's peak RSS, and dnsperf's average latency
with and without the gadget.
Every packet stays between two namespaces this script makes (no default
route, nothing leaves the machine); dnsperf's run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.netns import Lab  # noqa: E402

NAMES = [f"host{i}.bench." for i in range(100)]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dnsperf(lab_ns, server: str, datafile: Path, args: argparse.Namespace) -> dict[str, float]:
    done = lab_ns.run(
        "dnsperf",
        "-s",
        server,
        "-d",
        str(datafile),
        "-c",
        str(args.clients),
        "-l",
        str(args.seconds),
        "-Q",
        str(args.rate),
        "-q",
        str(args.outstanding),
        "-t",
        "2",
        timeout=args.seconds + 30,
    )
    text = done.stdout

    def number(label: str) -> float:
        match = re.search(rf"{label}:\s+([\d.]+)", text)
        if not match:
            raise RuntimeError(f"dnsperf printed no {label!r}:\n{text}\n{done.stderr}")
        return float(match.group(1))

    return {
        "sent": number("Queries sent"),
        "completed": number("Queries completed"),
        "lost": number("Queries lost"),
        "qps": number("Queries per second"),
        "latency_us": number("Average Latency \\(s\\)") * 1e6,
    }


def counted_json(text: str) -> dict[str, int]:
    """What `-o json` showed: DNS events by kind, and the losses it reported."""
    events = [json.loads(line) for line in text.splitlines()]
    dns = [e for e in events if "qr" in e]
    return {
        "lost_events": sum(e.get("lost_events", 0) for e in events),
        "events": len(dns),
        "queries_seen": sum(e["qr"] == "Q" and e["rcode"] == "" for e in dns),
        "responses_seen": sum(e["qr"] == "R" for e in dns),
        "paired": sum(e["qr"] == "R" and e["latency"] > 0 for e in dns),
        "unanswered": sum(e["rcode"] == "UNANSWERED" for e in dns),
    }


# The columns asked for: the defaults (PID TID COMM QR TYPE QTYPE NAME RCODE NUMANSWERS),
# LATENCY added at the end.  The names here have no spaces, so a row splits into cells,
# but an empty RCODE (a query's) and LATENCY (an unpaired response's) leave no cell.
COLUMNS = "columns=+latency"
_LOST = re.compile(r"espia: (\d+) events lost")


def counted_columns(text: str, errors: str) -> dict[str, int]:
    """What `-o columns=+latency` showed (its losses are said on stderr)."""
    rows = [line.split() for line in text.splitlines()[1:]]
    unanswered = sum("UNANSWERED" in row for row in rows)
    return {
        "lost_events": sum(int(n) for n in _LOST.findall(errors)),
        "events": len(rows),
        "queries_seen": sum(row[3] == "Q" for row in rows) - unanswered,
        "responses_seen": sum(row[3] == "R" for row in rows),
        "paired": sum(row[3] == "R" and row[-1].endswith("ms") for row in rows),
        "unanswered": unanswered,
    }


def traced(client, server: str, datafile: Path, args, out: Path, tree: str, output: str) -> dict:
    command = ["espia", "trace", "dns", "-o", "json" if output == "json" else COLUMNS]
    if args.buffer_size:
        command += ["--buffer-size", args.buffer_size]
    errors = out.with_suffix(".err")
    espia = subprocess.Popen(
        [*command, "-F", f"netns:{client.inode}"],
        stdout=out.open("w"),
        stderr=errors.open("w"),
        env={**os.environ, "PYTHONPATH": tree},
    )
    time.sleep(3)  # attached (the CLI prints nothing before the first event in JSON)
    before = cpu_seconds(espia.pid)
    started = time.monotonic()
    profiler = None
    if args.profile:
        # Sampled, not instrumented: py-spy reads the process from outside (~100 Hz).
        profiler = subprocess.Popen(
            [
                *("py-spy", "record", "--format", "raw", "--nonblocking", "-r", "100"),
                *("-d", str(args.seconds), "-o", args.profile, "-p", str(espia.pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    perf = dnsperf(client, server, datafile, args)
    if profiler is not None:
        profiler.wait(30)
    time.sleep(1)
    cpu = cpu_seconds(espia.pid) - before
    wall = time.monotonic() - started
    peak_rss = peak_rss_mib(espia.pid)
    espia.send_signal(2)
    espia.wait(60)
    text, stderr = out.read_text(), errors.read_text()
    counts = counted_json(text) if output == "json" else counted_columns(text, stderr)
    return {
        **perf,
        **counts,
        "espia_cpu_percent": 100 * cpu / wall,
        "espia_cpu_us_per_event": 1e6 * cpu / max(counts["events"], 1),
        "espia_peak_rss_mib": peak_rss,
        "espia_stderr": "\n".join(x for x in stderr.splitlines() if not _LOST.match(x)),
    }


def bench_lab(lab: Lab, folder: Path) -> tuple[Any, str, Path]:
    """dnsmasq answering NAMES in one namespace, linked to another for dnsperf:
    (dnsperf's namespace, the server's address, dnsperf's query file)."""
    client, server_ns = lab.netns("perf"), lab.netns("dnsmasq")
    link = lab.link(client, server_ns)
    lab.dnsmasq(server_ns, {name: ["10.9.9.9"] for name in NAMES}, link.peer4)
    datafile = folder / "queries"
    datafile.write_text("".join(f"{name} A\n" for name in NAMES))
    return client, link.peer4, datafile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20000, help="offered queries/s")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--outstanding",
        type=int,
        default=100,
        help="queries dnsperf keeps in flight at most (its -q; 100, its default, caps the "
        "rate at 100 / latency: 22,000 q/s at 4.5 ms)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy samples of the traced espia (collapsed stacks)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds")
    parser.add_argument(
        "--output",
        action="append",
        choices=("json", "columns"),
        help="espia's output (repeatable: each tree runs with each in turn; default json)",
    )
    parser.add_argument("--buffer-size", help="espia's --buffer-size (default: its own)")
    parser.add_argument(
        "--tree",
        action="append",
        help="an espia source tree to trace with (repeatable; default: this one); each "
        "round runs dnsperf untraced, then traced by each tree in turn, then untraced",
    )
    args = parser.parse_args()
    trees = args.tree or [str(ROOT)]
    outputs = args.output or ["json"]
    runs = [(tree, output) for tree in trees for output in outputs]
    rounds = []
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        client, server, datafile = bench_lab(lab, Path(tmp))
        for _ in range(args.rounds):
            run: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
            run["untraced_before"] = dnsperf(client, server, datafile, args)
            for tree, output in runs:
                run[f"{tree} -o {output}"] = traced(
                    client, server, datafile, args, Path(tmp) / "out", tree, output
                )
            run["untraced_after"] = dnsperf(client, server, datafile, args)
            untraced = (run["untraced_before"]["latency_us"], run["untraced_after"]["latency_us"])
            for tree, output in runs:
                traced_run = run[f"{tree} -o {output}"]
                traced_run["latency_added_us"] = traced_run["latency_us"] - sum(untraced) / 2
            rounds.append(run)
    print(
        json.dumps(
            {
                "offered_qps": args.rate,
                "seconds": args.seconds,
                "clients": args.clients,
                "load_average": os.getloadavg(),
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
