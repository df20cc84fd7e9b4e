"""trace dns under load: dnsmasq in one namespace, dnsperf in another, over a veth.

    python3 bench/dns/run.py [--rate 20000] [--seconds 10] [--clients 4]

Runs dnsperf three ways at the same offered rate -- untraced, traced by
`espia trace dns -o json`, untraced again -- and reports: queries/s, espia's
CPU, events received and lost, queries paired with their response (a
LATENCY), and dnsperf's average latency with and without the gadget.
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.netns import Lab  # noqa: E402

NAMES = [f"host{i}.bench." for i in range(100)]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


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


def traced(client, server_ns, server: str, datafile: Path, args, out: Path) -> dict:
    espia = subprocess.Popen(
        ["espia", "trace", "dns", "-o", "json", "-F", f"netns:{client.inode}"],
        stdout=out.open("w"),
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # attached (the CLI prints nothing before the first event in JSON)
    before = cpu_seconds(espia.pid)
    started = time.monotonic()
    perf = dnsperf(client, server, datafile, args)
    time.sleep(1)
    cpu = cpu_seconds(espia.pid) - before
    wall = time.monotonic() - started
    espia.send_signal(2)
    espia.wait(60)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    lost = sum(e.get("lost_events", 0) for e in events)
    dns = [e for e in events if "qr" in e]
    queries = [e for e in dns if e["qr"] == "Q" and e["rcode"] == ""]
    responses = [e for e in dns if e["qr"] == "R"]
    paired = [e for e in responses if e["latency"] > 0]
    unanswered = [e for e in dns if e["rcode"] == "UNANSWERED"]
    return {
        **perf,
        "espia_cpu_percent": 100 * cpu / wall,
        "events": len(dns),
        "queries_seen": len(queries),
        "responses_seen": len(responses),
        "paired": len(paired),
        "unanswered": len(unanswered),
        "lost_events": lost,
        "espia_stderr": espia.stderr.read() if espia.stderr else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20000, help="offered queries/s")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        client, server_ns = lab.netns("perf"), lab.netns("dnsmasq")
        link = lab.link(client, server_ns)
        lab.dnsmasq(server_ns, {name: ["10.9.9.9"] for name in NAMES}, link.peer4)
        datafile = Path(tmp) / "queries"
        datafile.write_text("".join(f"{name} A\n" for name in NAMES))
        before = dnsperf(client, link.peer4, datafile, args)
        with_gadget = traced(client, server_ns, link.peer4, datafile, args, Path(tmp) / "out")
        after = dnsperf(client, link.peer4, datafile, args)
    baseline = (before["latency_us"] + after["latency_us"]) / 2
    print(
        json.dumps(
            {
                "offered_qps": args.rate,
                "seconds": args.seconds,
                "clients": args.clients,
                "untraced_before": before,
                "traced": with_gadget,
                "untraced_after": after,
                "latency_added_us": with_gadget["latency_us"] - baseline,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
