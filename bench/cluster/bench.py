"""The cluster door on the real two-node cluster: throughput, start-up, agent memory, deploy.

    flock /tmp/espia-cluster.lock flock /tmp/espia-bench.lock python3 bench/cluster/bench.py

Brings the cluster up (`make cluster`, which reuses a healthy one), loads
this tree's agent image into both nodes, and takes the cluster down at the
end if it was not up before.  In one run:
- `kubectl espia undeploy --wait`, then `deploy --wait` on both nodes (the
  agents find their node's runtime through the kubelet), timed;
- the agents' resident memory on this machine (the nodes share its kernel:
  their processes are this machine's), idle;
- `kubectl espia trace open --node node1 -o json > file` while a pod on
  node1 runs the load generator (bench/loadgen.c, mounted from the host) at
  a fixed rate: events delivered, lost in the kernel, dropped by the agent,
  the rate they reached the client's file at, CPU per event in the agent
  and in the client (port-forward included), for rising rates (interleaved
  over rounds); the agents' memory meanwhile;
- the time from `kubectl espia trace open` starting to its first event
  (a pod that opens a file every 50 ms), median of 5.
The section for bench/RESULTS.md is printed and written to bench/out/cluster.md,
with the load average next to every figure (append it by hand: RESULTS.md keeps
every run).
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parents[2] / "cluster"),
]
from _common import OUT, loadgen, machine, markdown_table  # noqa: E402
from espia_cluster import layout  # noqa: E402

ROOT = layout.PROJECT

IMAGE = "localhost/espia:dev"
BUSYBOX = "localhost/espia-busybox:1"
RATES = (25_000, 50_000, 75_000, 100_000)
SECONDS = 6  # of load per measurement: longer than the agent's queue can hide
ROUNDS = 2
COMM = "espia-load"


def door(*args: str) -> list[str]:
    return [sys.executable, "-m", "espia.kubectl.main", *args]


def kubectl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=180
    )
    if done.returncode:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def timed_deploy() -> float:
    subprocess.run(door("undeploy", "--wait"), capture_output=True, check=True, timeout=300)
    started = time.monotonic()
    subprocess.run(
        door("deploy", "--image", IMAGE, "--image-pull-policy", "Never",
             "--wait", "--timeout", "300"),
        capture_output=True, check=True, timeout=400,
    )  # fmt: skip
    return time.monotonic() - started


def agents() -> dict[str, int]:
    """The cluster's agent processes on this machine, pid by node (node1, node2 only)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"agent" not in argv or not any(a.endswith(b"espia") for a in argv[:2]):
                continue
            if b"--health" in argv:  # the pod's probe, an `espia agent --health` exec
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        node = next((e[10:].decode() for e in environ if e.startswith(b"NODE_NAME=")), "")
        if node in ("node1", "node2") and b"127.0.0.1:7450" in argv:
            found[node] = int(entry.name)
    return found


def agent_rss() -> dict[str, float]:
    """Each agent's resident memory (MiB), by node."""
    found = {}
    for node, pid in agents().items():
        rss = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
        if rss:
            found[node] = int(rss.group(1)) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pod(namespace: str, name: str, command: str, mount: Path | None = None) -> None:
    spec: dict = {
        "nodeName": "node1",
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "main", "image": BUSYBOX, "imagePullPolicy": "Never",
            "command": ["/bin/sh", "-c", command],
        }],
    }  # fmt: skip
    if mount is not None:
        spec["containers"][0]["volumeMounts"] = [{"name": "load", "mountPath": "/load"}]
        spec["volumes"] = [{"name": "load", "hostPath": {"path": str(mount)}}]
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}", "--timeout=120s")


def summary(stderr: str) -> tuple[int, int, int]:
    """node1's (delivered, lost in the kernel, dropped by the agent), from the summary line."""
    found = re.search(
        r"^espia: node node1: (\d+) events, (\d+) lost in the kernel, (\d+) dropped", stderr, re.M
    )
    if not found:
        raise RuntimeError(f"no summary for node1: {stderr[-2000:]}")
    delivered, kernel, dropped = (int(x) for x in found.groups())
    return delivered, kernel, dropped


def throughput(namespace: str, rate: int, rss: list[dict[str, float]]) -> dict[str, float]:
    n = rate * SECONDS
    path = f"/nonexistent-{uuid.uuid4().hex[:8]}"
    output = OUT / f"cluster-{rate}.json"
    errors = output.with_suffix(".err")
    with output.open("w") as out, errors.open("w") as err:
        trace = subprocess.Popen(
            door("trace", "open", "-n", namespace, "--node", "node1",
                 "-F", f"comm:{COMM}", "-o", "json"),
            stdout=out, stderr=err,
        )  # fmt: skip
        marker = f"/ready-{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + 60
        while marker not in output.read_text():
            if time.monotonic() > deadline or trace.poll() is not None:
                raise RuntimeError(f"never attached: {errors.read_text()}")
            kubectl("exec", "-n", namespace, "load", "--", "/load/loadgen", "-c", COMM, "1", marker)
            time.sleep(0.5)
        agent = agents()["node1"]
        agent_cpu, client_cpu = cpu_seconds(agent), cpu_seconds(trace.pid)
        started = time.monotonic()
        ns = float(kubectl("exec", "-n", namespace, "load", "--",
                           "/load/loadgen", "-c", COMM, "-r", str(rate), str(n), path))  # fmt: skip
        rss.append(agent_rss())
        # Drain: until the client's file stops growing (for 2 s); the time it last grew.
        size, grew = -1, time.monotonic()
        while time.monotonic() - grew < 2.0:
            if (now := output.stat().st_size) != size:
                size, grew = now, time.monotonic()
            time.sleep(0.05)
        agent_cpu = cpu_seconds(agent) - agent_cpu
        client_cpu = cpu_seconds(trace.pid) - client_cpu
        trace.send_signal(signal.SIGINT)
        trace.wait(timeout=60)
    captured = output.read_text().count(path)
    delivered, kernel, dropped = summary(errors.read_text())
    per_million = 1e6 / captured if captured else float("nan")
    return {
        "rate": rate,
        "sent": n,
        "made": 1e9 / ns,  # calls per second the generator achieved
        # Events per second into the client's file, from the generator's `kubectl exec`
        # starting (its start-up included: a lower bound) to the file's last write.
        "delivered": captured / (grew - started),
        "captured": captured,
        "kernel": kernel,
        "dropped": dropped,
        "agent_cpu": agent_cpu * per_million,
        "client_cpu": client_cpu * per_million,
        "accounted": captured + kernel + dropped == n and delivered >= captured,
        "load": float(load_average()),
    }


def first_event(namespace: str) -> float:
    started = time.monotonic()
    trace = subprocess.Popen(
        door("trace", "open", "-n", namespace, "-F", "path:/etc/hostname", "-o", "json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert trace.stdout is not None
    line = trace.stdout.readline()
    took = time.monotonic() - started
    trace.send_signal(signal.SIGINT)
    trace.communicate(timeout=60)
    if '"ticker"' not in line:
        raise RuntimeError(f"first line is not the ticker's: {line!r}")
    return took


def cluster_up() -> bool:
    """Starts the cluster (or reuses it) with this tree's agent image; whether it was up."""
    status = subprocess.run(["make", "-s", "cluster-status"], cwd=ROOT, capture_output=True)
    subprocess.run(["make", "-s", "cluster"], cwd=ROOT, check=True, capture_output=True)
    # A reused cluster keeps the image it was started with: load the one just built.
    subprocess.run(
        [sys.executable, "-m", "espia_cluster", "import", str(layout.IMAGES / "agent.tar")],
        cwd=ROOT / "cluster", check=True, capture_output=True,
    )  # fmt: skip
    os.environ["KUBECONFIG"] = str(layout.ADMIN_KUBECONFIG)
    os.environ["PATH"] = f"{layout.BIN}:{os.environ['PATH']}"
    return status.returncode == 0


def measure() -> str:
    """Every figure, on a cluster that is up with the agent image loaded: the section."""
    binary = loadgen()
    load_before = load_average()
    deploy_took = timed_deploy()
    time.sleep(5)
    idle = agent_rss()
    namespace = f"espia-bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    try:
        pod(namespace, "load", "sleep 3600", mount=binary.parent)
        pod(namespace, "ticker", "while :; do : < /etc/hostname; sleep 0.05; done")
        rss: list[dict[str, float]] = []
        runs = [throughput(namespace, rate, rss) for _ in range(ROUNDS) for rate in RATES]
        after = agent_rss()
        starts = [first_event(namespace) for _ in range(5)]
        load_after = load_average()
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    rows = []
    for rate in RATES:
        mine = [r for r in runs if r["rate"] == rate]

        def each(key: str, form: str, mine: list[dict[str, float]] = mine) -> str:
            return " / ".join(format(r[key], form) for r in mine)

        rows.append([
            f"{rate:,}", each("made", ",.0f"), each("delivered", ",.0f"),
            " / ".join(f"{r['captured'] / r['sent']:.1%}" for r in mine),
            each("kernel", ",.0f"), each("dropped", ",.0f"),
            "yes" if all(r["accounted"] for r in mine) else "NO",
            each("agent_cpu", ".1f"), each("client_cpu", ".1f"), each("load", ".1f"),
        ])  # fmt: skip
    tracing = max(max(sample.values()) for sample in rss if sample)
    header = [
        "offered calls/s",
        "made calls/s",
        "delivered events/s",
        "captured",
        "lost in kernel",
        "dropped by agent",
        "all accounted",
        "agent CPU s / M",
        "client CPU s / M",
        "load",
    ]

    def memory(sample: dict[str, float]) -> str:
        parts = [f"{n} {v:.0f} MiB ({v * 1.048576:.0f} MB)" for n, v in sorted(sample.items())]
        return ", ".join(parts)

    body = f"""
The real two-node cluster (`make cluster`, both nodes on this machine: {machine()}),
the agent image from this tree.  Load average {load_before} before, {load_after} after
(other work shares the machine: figures drift between runs, the rounds are interleaved).

`kubectl espia trace open -n NS --node node1 -F comm:{COMM} -o json > file`, through
the API server's port-forward, while a pod on node1 runs bench/loadgen.c at a fixed
rate for {SECONDS} s (one figure per round):

{markdown_table(header, rows)}

- "made": what the generator achieved (it cannot always keep the offered pace on a
  loaded machine); "delivered": events written to the client's file per second, from
  the generator's `kubectl exec` starting (its start-up included) to the file's last
  write; "all accounted": captured + lost in the kernel + dropped by the agent = calls
  made.  CPU per million events (the client's includes the port-forward) is what a
  rate costs whatever the load.
- `kubectl espia trace open` start to first event: median {statistics.median(starts):.2f} s
  of 5 ({", ".join(f"{s:.2f}" for s in starts)}).
- Agent resident memory: idle {memory(idle)}; tracing at the rates above, at most
  {tracing:.0f} MiB ({tracing * 1.048576:.0f} MB, the ring buffer's pages included); idle
  again after: {memory(after)}.
- `kubectl espia deploy --wait` on two nodes (after `undeploy --wait`): {deploy_took:.1f} s.
"""
    return body


def main() -> None:
    os.environ["PYTHONPATH"] = str(ROOT)
    was_up = cluster_up()
    try:
        body = measure()
    finally:  # a failed run leaves no cluster behind either
        if not was_up:
            subprocess.run(["make", "-s", "cluster-down"], cwd=ROOT, check=True)
    (OUT / "cluster.md").write_text(body.lstrip())
    print(body)


if __name__ == "__main__":
    main()
