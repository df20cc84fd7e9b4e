"""The cluster door's agent and client without the port-forward: CPU per event, loss, memory.

    sudo python3 bench/cluster/local.py [RATE...]

For each rate: an `espia agent` on this host (a subprocess, on a loopback
port), the cluster client's RemoteRun reading trace open filtered to the
load generator's comm, its events written as JSON to /dev/null by the
client's output, while bench/loadgen.c opens a missing path at that rate for
4 s.  Prints the rate achieved, events delivered and lost, CPU seconds per
million events in the agent and in the client, and the agent's peak RSS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT)]
from _common import loadgen  # noqa: E402
from cluster_door.agents import AgentProcess  # noqa: E402

from espia.agent.client import RemoteBatch, RemoteRun, run_request  # noqa: E402
from espia.agent.wire import RemoteSchema  # noqa: E402
from espia.output import make_output  # noqa: E402

SECONDS = 4
COMM = "espia-load"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(rate: int) -> str:
    agent = AgentProcess("bench-node")
    try:
        request = run_request("trace", "open", filter=f"comm:{COMM}", timeout=SECONDS * 4)
        run = RemoteRun(agent.address, request)
        schema = RemoteSchema(run.open())
        with open(os.devnull, "w") as null:
            output = make_output("json", schema.fields, [], null, sys.stderr, lists=False)
            agent_cpu, client_cpu = cpu_seconds(agent.proc.pid), time.process_time()
            n = rate * SECONDS
            generator = subprocess.Popen(
                [str(loadgen()), "-c", COMM, "-r", str(rate), str(n), "/nonexistent-bench"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            delivered = 0
            for item in run.batches(schema):
                if isinstance(item, RemoteBatch):
                    output.write(item.events)
                    delivered += len(item.events)
                if delivered >= n and generator.poll() is not None:
                    run.stop()
            made = 1e9 / float(generator.communicate()[0])
            agent_cpu = cpu_seconds(agent.proc.pid) - agent_cpu
            client_cpu = time.process_time() - client_cpu
        status = Path(f"/proc/{agent.proc.pid}/status").read_text()
        peak = int(re.search(r"^VmHWM:\s+(\d+)", status, re.M).group(1)) / 1024  # type: ignore[union-attr]
        run.close()
    finally:
        agent.stop()
    per_million = 1e6 / delivered if delivered else float("nan")
    return (
        f"offered {rate:,}/s, made {made:,.0f}/s: {delivered:,} of {n:,} delivered, "
        f"{run.lost} lost; agent {agent_cpu * per_million:.1f} and client "
        f"{client_cpu * per_million:.1f} CPU s per million events; agent peak RSS "
        f"{peak:.0f} MiB; load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    os.environ["PYTHONPATH"] = str(ROOT)
    for rate in [int(arg) for arg in sys.argv[1:]] or [25_000, 50_000]:
        print(measure(rate), flush=True)


if __name__ == "__main__":
    main()
