"""What the local door takes, through `kubectl espia` on the real two-node cluster.

Deployed without --runtime-socket: each agent finds its node's containerd
from its kubelet (espia.agent.kubelet; the nodes' sockets are at paths of
their own).  Then the gadgets' parameters, the display flags, one merged
table per interval for top file, a profile merged across nodes, a snapshot
as one list, and losses as JSON records naming their node, each with pods on
both nodes and exact counts.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid

import pytest
from cluster_door.agents import until_idle

from cluster.kube import AGENT, wait_for
from cluster.test_cluster_door import Streaming, agent_pids, espia, kubectl
from cluster.test_cluster_door import pod as door_pod

NAMESPACE = f"espia-gadgets-{uuid.uuid4().hex[:6]}"
NODES = ["node1", "node2"]


@pytest.fixture(scope="module")
def deployed(cluster):
    """espia deployed without --runtime-socket, and a namespace of this module's."""
    kubectl("create", "namespace", NAMESPACE)
    try:
        result = espia("deploy", "--image", AGENT, "--image-pull-policy", "Never",
                       "--wait", "--timeout", "150")  # fmt: skip
        assert result.returncode == 0, result.stderr
        yield
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        espia("undeploy", "--wait", "--timeout", "120")


_started: list[Streaming] = []


def stream(*args: str) -> Streaming:
    """`kubectl espia ARGS` streaming, reaped after the test whatever happened."""
    trace = Streaming(*args)
    _started.append(trace)
    return trace


@pytest.fixture(autouse=True)
def _reap():
    yield
    while _started:
        trace = _started.pop()
        if trace.proc.poll() is None:
            trace.proc.kill()
        trace.proc.wait()


def pod(name: str, node: str, command: str) -> None:
    door_pod(name, node, command, namespace=NAMESPACE)


def on_both(prefix: str, command: str) -> None:
    for node in NODES:
        pod(f"{prefix}-{node}", node, command.replace("NODE", node))


def ended(trace: Streaming, gadget: str, started: float) -> tuple[list[list], float]:
    """Stops an interval gadget's `--ready -o json` stream a moment after its workload:
    its intervals, each one list for every node, and how long it ran."""
    time.sleep(3)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    took = time.monotonic() - started
    ready, *intervals = [json.loads(line) for line in trace.lines]
    assert ready == {"type": "ready", "gadget": gadget}
    assert all(isinstance(rows, list) for rows in intervals), intervals
    return intervals, took


def test_each_agent_found_its_nodes_containerd_through_its_kubelet(deployed):
    for node in NODES:
        agent = kubectl("get", "pods", "-n", "espia", "-l", "app.kubernetes.io/name=espia",
                        "--field-selector", f"spec.nodeName={node}",
                        "-o", "name").split()[0]  # fmt: skip
        logs = kubectl("logs", "-n", "espia", agent)
        # Through the kubelet's own root: this cluster's daemons have mount namespaces of
        # their own (a node's kubelet sharing the host's would give /proc/1/root).
        found = re.search(r"the kubelet's container runtime: containerd at (\S+)", logs)
        assert found, logs
        assert re.fullmatch(
            rf"/proc/\d+/root/var/lib/espia-cluster/{node}/containerd\.sock", found.group(1)
        ), logs


def test_top_file_is_one_merged_table_per_interval_with_exact_totals(deployed):
    marker = f"top-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    trace = stream("top", "file", "-n", NAMESPACE, "--interval", "2", "-t", "150",
                      "-F", f"file:~{marker}", "-o", "json", "--ready")  # fmt: skip
    trace.wait_for(lambda line: '"ready"' in line, timeout=60)
    # node1's pod writes 3 x 1000 bytes, node2's 3 x 2000, once the trace is ready.
    for node, size in (("node1", 1000), ("node2", 2000)):
        pod(f"writer-{node}", node, f"sleep 2; for i in 1 2 3; do head -c {size} /dev/zero "
                                    f">> /{marker}; done; sleep 600")  # fmt: skip
    trace.wait_for(lambda line: '"writer-node1"' in line, timeout=100)
    trace.wait_for(lambda line: '"writer-node2"' in line, timeout=60)
    intervals, took = ended(trace, "top file", started)
    rows = [row for rows in intervals for row in rows]
    for node, size in (("node1", 1000), ("node2", 2000)):
        mine = [r for r in rows if r["k8s"]["node"] == node]
        assert sum(r["wbytes"] for r in mine) == 3 * size, (node, mine)
        assert {(r["k8s"]["pod"], r["file"]) for r in mine} == {(f"writer-{node}", f"/{marker}")}
    # One list per interval of 2 s for both nodes (a list per node would be twice as many).
    assert len(intervals) <= took / 2 + 1, (len(intervals), took)


def test_top_file_sorts_and_cuts_after_the_merge(deployed):
    marker = f"cut-{uuid.uuid4().hex[:8]}"
    for node, size in (("node1", 1000), ("node2", 2000)):
        pod(f"busy-{node}", node, f"while :; do head -c {size} /dev/zero >> /{marker}; "
                                  "sleep 1; done")  # fmt: skip
    time.sleep(10)  # both pods running
    result = espia("top", "file", "-n", NAMESPACE, "-F", f"file:~{marker}", "--interval", "3",
                   "-t", "10", "--max-rows", "1", "--sort=-wbytes")  # fmt: skip
    assert result.returncode == 0, result.stderr
    blocks = [b.splitlines() for b in result.stdout.strip().split("\n\n")]
    assert len(blocks) >= 3, result.stdout
    full = [b for b in blocks if b[0].endswith("  1 of 2 rows")]
    assert full, blocks
    for _stamp, header, *rows in full:
        assert header.split()[0] == "K8S.NODE"
        assert len(rows) == 1 and rows[0].split()[:3] == ["node2", NAMESPACE, "busy-node2"], rows


def test_top_tcp_shows_both_ends_of_a_connection_across_nodes(deployed):
    """A pod on node2 sends 300,000 bytes to a pod on node1: one merged table per interval
    with the sender's end on node2 and the receiver's on node1, each exact."""
    port = 9000 + uuid.uuid4().int % 1000
    # busybox nc ends the connection when its own input ends: the server's never does.
    pod("tcp-server", "node1", f"sleep 600 | nc -l -p {port} > /dev/null; sleep 600")
    jsonpath = "jsonpath={.status.podIP}"
    address = wait_for(
        lambda: kubectl("get", "pod", "-n", NAMESPACE, "tcp-server", "-o", jsonpath).strip(),
        "the server pod's address",
        timeout=120,
    )
    started = time.monotonic()
    trace = stream("top", "tcp", "-n", NAMESPACE, "--interval", "2", "-t", "150",
                   "-F", "comm:nc", "-o", "json", "--ready")  # fmt: skip
    trace.wait_for(lambda line: '"ready"' in line, timeout=60)
    pod("tcp-client", "node2", f"sleep 3; head -c 300000 /dev/zero | nc {address} {port}; "
                               "sleep 600")  # fmt: skip

    def ends() -> dict[str, list]:
        rows = [r for line in trace.lines[1:] for r in json.loads(line)]
        return {n: [r for r in rows if r["k8s"]["node"] == n] for n in NODES}

    wait_for(
        lambda: (
            sum(r["sent"] for r in ends()["node2"]) >= 300000
            and sum(r["received"] for r in ends()["node1"]) >= 300000
        ),
        "both ends' bytes",
        timeout=100,
    )
    intervals, took = ended(trace, "top tcp", started)
    sender, receiver = ends()["node2"], ends()["node1"]
    assert {(r["k8s"]["pod"], r["dport"], r["daddr"]) for r in sender} == {
        ("tcp-client", port, address)
    }, sender
    assert {(r["k8s"]["pod"], r["sport"], r["saddr"]) for r in receiver} == {
        ("tcp-server", port, address)
    }, receiver
    assert (sum(r["sent"] for r in sender), sum(r["received"] for r in sender)) == (300000, 0)
    assert (sum(r["received"] for r in receiver), sum(r["sent"] for r in receiver)) == (300000, 0)
    assert len(intervals) <= took / 2 + 1, (len(intervals), took)


def test_gadget_parameters_reach_every_node(deployed):
    trace = stream("trace", "signal", "-n", NAMESPACE, "-s", "SIGUSR1", "-t", "150",
                      "-o", "json", "--ready", "-F", "ret:0")  # fmt: skip
    trace.wait_for(lambda line: '"ready"' in line, timeout=60)
    on_both("signals", "sleep 2; sleep 600 & kill -USR2 $!; kill -USR1 $!; sleep 600")
    trace.wait_for(lambda line: "signals-node1" in line, timeout=100)
    trace.wait_for(lambda line: "signals-node2" in line, timeout=60)
    time.sleep(2)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    events = [json.loads(line) for line in trace.lines[1:]]
    assert sorted((e["k8s"]["node"], e["k8s"]["pod"], e["sig"]) for e in events) == [
        ("node1", "signals-node1", "SIGUSR1"),
        ("node2", "signals-node2", "SIGUSR1"),
    ], events
    bad = espia("trace", "signal", "-n", NAMESPACE, "-s", "SIGNOPE")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "parameter signal: " in bad.stderr


def test_display_flags_count_across_nodes_and_stop_every_node(deployed):
    pids = agent_pids()
    assert sorted(pids) == NODES, pids
    until_idle(pids)  # the previous test's run may still be unloading
    marker = f"show-{uuid.uuid4().hex[:8]}"
    on_both("opener", f"while :; do cat /tmp/{marker} 2>/dev/null; sleep 0.5; done")
    started = time.monotonic()
    result = espia("trace", "open", "-n", NAMESPACE, "-F", f"path:~{marker}", "-t", "150",
                   "-m", "6", "--no-header", "-T", "--summary")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 120
    lines = result.stdout.splitlines()
    assert len(lines) == 6, lines  # no header, six events from both nodes
    stamps = [float(line.split()[0]) for line in lines]  # TIMESTAMP first, in seconds
    assert all(0 <= s < 120 for s in stamps), stamps
    summary = [line for line in result.stderr.splitlines() if line.startswith("espia: node ")]
    assert [line.split(":")[1].strip() for line in summary] == ["node node1", "node node2"]
    shown = [int(line.split(" received, ")[1].split(" shown")[0]) for line in summary]
    assert sum(shown) == 6, summary
    # -m stopped the gadget on both nodes.
    until_idle(pids)


def test_json_loss_records_name_their_node(deployed):
    marker = f"flood-{uuid.uuid4().hex[:8]}"
    trace = stream("trace", "open", "-n", NAMESPACE, "-F", f"path:~{marker}",
                      "--buffer-size", "4096", "-o", "json", "--ready", "-t", "150")  # fmt: skip
    trace.wait_for(lambda line: '"ready"' in line, timeout=60)
    flood = f"i=0; while [ $i -lt 3000 ]; do true < /tmp/{marker}-$i 2>/dev/null; i=$((i+1)); done"
    on_both("flood", f"sleep 2; {flood}; sleep 600")
    trace.wait_for(lambda line: '"lost_events"' in line and '"node1"' in line, timeout=100)
    trace.wait_for(lambda line: '"lost_events"' in line and '"node2"' in line, timeout=60)
    time.sleep(5)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    records = [json.loads(line) for line in trace.lines[1:]]
    losses = [r for r in records if "lost_events" in r]
    for node in NODES:
        mine = [r for r in losses if r["node"] == node]
        assert mine and all(set(r) == {"lost_events", "lost_total", "node"} for r in mine)
        assert sum(r["lost_events"] for r in mine) == mine[-1]["lost_total"]


def test_profile_cpu_merges_every_nodes_samples(deployed):
    on_both("spin", "while :; do :; done")
    time.sleep(8)  # both spinning
    result = espia("profile", "cpu", "-n", NAMESPACE, "--duration", "6", "-o", "folded",
                   "--frequency", "99")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    owners = {line.split(";")[0] for line in lines}
    assert {f"{NAMESPACE}/spin-node1", f"{NAMESPACE}/spin-node2"} <= owners, lines[:5]
    table = espia("profile", "cpu", "-n", NAMESPACE, "--duration", "4", "--max-rows", "2")
    assert table.returncode == 0, table.stderr
    # Both nodes' samples in one table, drawn once: one header, one count line.
    text = table.stdout.splitlines()
    assert text[0].split() == ["SAMPLES", "SHARE", "PID", "COMM", "CONTAINER"]
    assert sum(1 for line in text if line.startswith(" SAMPLES")) == 1
    assert sum(1 for line in text if " samples in " in line) == 1, text
    assert "spin-node1" in table.stdout and "spin-node2" in table.stdout, text


def test_a_snapshot_is_one_list_across_nodes(deployed):
    result = espia("snapshot", "process", "-n", NAMESPACE, "-o", "json")
    assert result.returncode == 0, result.stderr
    (listed,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert {p["k8s"]["node"] for p in listed} == set(NODES), listed
