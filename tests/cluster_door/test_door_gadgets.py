"""Everything the local door takes, through the cluster door, with real agents on this host.

Two `espia agent` processes (node-a, node-b) both follow the test containerd,
so a pod's events reach the client from both nodes: the merge is exercised
with rows of every node (test_merge.py's LoopbackCluster stands in for the
API server; tests/cluster/test_cluster_gadgets.py does it all on the real
cluster).  The tests assert exact counts: each row is there once per node.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import pytest
from support.runtimes import Ctr
from support.workloads import unique

from cluster_door.agents import AgentProcess
from cluster_door.test_merge import LoopbackCluster, run, run_guarded

NODES = ["node-a", "node-b"]


@pytest.fixture
def twins(containerd_socket) -> Iterator[LoopbackCluster]:
    """Two agents that both see the test containerd's pods."""
    agents: dict[str, AgentProcess] = {}
    try:
        for node in NODES:
            agents[node] = AgentProcess(
                node,
                "--runtimes",
                "containerd",
                "--runtime-socket",
                f"containerd={containerd_socket}",
            )
        yield LoopbackCluster({n: a.address for n, a in agents.items()}, set(NODES), NODES)
    finally:
        for agent in agents.values():
            agent.stop()


@pytest.fixture
def pod(ctr: Ctr, rootfs) -> Iterator[tuple[str, str]]:
    """(namespace, container id) of a pod running one container, main."""
    namespace = unique("ns")
    made = ctr.run_pod(rootfs, "web", namespace, {"app": "web"}, ["main"])
    try:
        yield namespace, made.containers["main"]
    finally:
        ctr.remove_pod(made)


def later(seconds: float, work) -> threading.Thread:
    """`work()` in a thread, `seconds` from now (once both nodes' gadgets are attached)."""

    def run_it() -> None:
        time.sleep(seconds)
        work()

    thread = threading.Thread(target=run_it)
    thread.start()
    return thread


def test_top_file_is_one_table_per_interval_across_nodes(twins, pod, ctr: Ctr):
    namespace, container = pod
    marker = unique("top")

    def writes() -> None:
        for _ in range(3):  # 3 x 1000 bytes, one write each
            ctr.exec(container, "/bin/sh", "-c", f"head -c 1000 /dev/zero >> /tmp/{marker}")
            time.sleep(0.3)

    worker = later(2.5, writes)
    code, out, err = run(twins, "top", "file", "-n", namespace, "-t", "7", "--interval", "1",
                         "-F", f"file:~{marker}", "-o", "json")  # fmt: skip
    worker.join()
    assert code == 0, err
    intervals = [json.loads(line) for line in out]
    # One list per interval for both nodes (7 s of 1 s intervals, the last cut short).
    assert 6 <= len(intervals) <= 9, out
    assert all(isinstance(rows, list) for rows in intervals)
    rows = [row for rows in intervals for row in rows]
    for node in NODES:
        mine = [r for r in rows if r["k8s"]["node"] == node]
        assert sum(r["wbytes"] for r in mine) == 3000, (node, mine)
        assert sum(r["writes"] for r in mine) == 3
        assert {r["file"] for r in mine} == {f"/tmp/{marker}"}
    # Merged, not one table per node: both nodes' rows, and no more lists than intervals.
    # (A node's intervals start when its gadget attached: a write near a boundary may be
    # in the n-th interval of one node and the next of the other.)
    assert {r["k8s"]["node"] for r in rows} == set(NODES)


def test_top_file_sorts_and_cuts_after_the_merge(twins, pod, ctr: Ctr):
    namespace, container = pod
    marker = unique("cut")
    worker = later(
        2.5,
        lambda: ctr.exec(
            container,
            "/bin/sh",
            "-c",
            f"head -c 100 /dev/zero > /tmp/{marker}.a; head -c 900 /dev/zero > /tmp/{marker}.b",
        ),
    )
    code, out, err = run(twins, "top", "file", "-n", namespace, "-t", "5", "--interval", "0",
                         "-F", f"file:~{marker}", "--max-rows", "2",
                         "--sort=-wbytes,k8s.node")  # fmt: skip
    worker.join()
    assert code == 0, err
    # --interval 0: one table for the run; a timestamp line, the header, 2 of 4 rows.
    stamp, header, *rows = [line for line in out if line]
    assert stamp.endswith("  2 of 4 rows"), out
    assert header.split()[0] == "K8S.NODE" and "WBYTES" in header.split()
    at = header.split().index("WBYTES")
    assert [(row.split()[0], row.split()[at]) for row in rows] == [
        ("node-a", "900"),
        ("node-b", "900"),
    ], out


def test_max_events_counts_across_nodes_then_stops_every_node(twins, pod, ctr: Ctr):
    namespace, container = pod
    marker = unique("m")
    worker = later(2.5, lambda: [ctr.exec(container, "/bin/sh", "-c", f"true {marker}")
                                 for _ in range(3)])  # fmt: skip
    started = time.monotonic()
    code, out, err = run(twins, "trace", "exec", "-n", namespace, "-t", "60", "-m", "2",
                         "-F", f"args:~{marker}", "--no-header")  # fmt: skip
    took = time.monotonic() - started
    worker.join()
    assert code == 0, err
    assert took < 30, took  # -m ended the run, not the timeout
    assert len(out) == 2, out  # no header, the two events shown
    assert all(marker in line for line in out)
    # Each node's summary line is there (the default): what it delivered.
    assert [line.split(":")[1].strip() for line in err[-2:]] == ["node node-a", "node node-b"]


def test_ready_relative_timestamps_and_the_summary_per_node(twins, pod, ctr: Ctr):
    namespace, container = pod
    marker = unique("t")
    worker = later(2.5, lambda: ctr.exec(container, "/bin/sh", "-c", f"true {marker}"))
    code, out, err = run(twins, "trace", "exec", "-n", namespace, "-t", "6", "-o", "json",
                         "--ready", "-T", "-F", f"args:~{marker}", "--summary")  # fmt: skip
    worker.join()
    assert code == 0, err
    first, *events = [json.loads(line) for line in out]
    assert first == {"type": "ready", "gadget": "trace exec"}
    assert sorted(e["k8s"]["node"] for e in events) == NODES
    stamps = [float(e["timestamp"]) for e in events]
    # Seconds since the client attached (the exec came 2.5 s after the run began, and
    # attaching takes a while), the same for both nodes: one exec on one kernel.
    assert all(0.5 < stamp < 6.0 for stamp in stamps), stamps
    assert abs(stamps[0] - stamps[1]) < 0.01, stamps
    summary = err[-2:]
    for node, line in zip(NODES, summary, strict=True):
        assert line.startswith(f"espia: node {node}: 1 events, 0 lost in the kernel, "
                               "0 dropped by the agent; "), summary  # fmt: skip
        assert " received, 1 shown in " in line, line


def test_no_summary_leaves_out_the_nodes_that_did_well(twins, pod):
    namespace, _ = pod
    code, out, err = run(twins, "trace", "exec", "-n", namespace, "-t", "1", "--no-summary",
                         "-F", "comm:nothing-runs")  # fmt: skip
    assert code == 0, err
    assert err == [] and out[0].split()[0] == "K8S.NODE"


def test_gadget_parameters_reach_the_agents(twins, pod, ctr: Ctr):
    namespace, container = pod

    def signals() -> None:
        ctr.exec(container, "/bin/sh", "-c", "sleep 30 & kill -USR2 $!; kill -USR1 $!")

    worker = later(2.5, signals)
    code, out, err = run(twins, "trace", "signal", "-n", namespace, "-t", "6", "-s", "SIGUSR1",
                         "-F", "ret:0", "-o", "json")  # fmt: skip
    worker.join()
    assert code == 0, err
    events = [json.loads(line) for line in out]
    assert sorted((e["k8s"]["node"], e["sig"]) for e in events) == [
        ("node-a", "SIGUSR1"),
        ("node-b", "SIGUSR1"),
    ], events


class Untouchable(LoopbackCluster):
    """A cluster that fails the test if anything asks it (a node was contacted)."""

    def agent_pods(self):
        raise AssertionError("a node was contacted")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trace", "signal", "-s", "SIGNOPE"], "parameter signal: "),
        (["trace", "signal", "--param", "nope=1"], "trace signal has no parameter 'nope'"),
        (["top", "file", "--all-files", "maybe"], "parameter all_files: 'maybe' is not true"),
    ],
    ids=["value", "name", "bool"],
)
def test_a_bad_parameter_is_one_line_before_any_node_is_contacted(argv, message):
    code, out, err = run_guarded(Untouchable({}, set(), []), *argv, "-A")
    assert code == 2 and out == []
    assert len(err) == 1 and err[0].startswith("espia: ") and message in err[0], err


def test_json_loss_records_name_their_node(twins, pod, ctr: Ctr):
    namespace, container = pod
    marker = unique("flood")
    # Opens in a burst far beyond a one-page ring buffer: the kernel counts what it drops.
    flood = f"i=0; while [ $i -lt 3000 ]; do true < /tmp/{marker}-$i 2>/dev/null; i=$((i+1)); done"
    worker = later(2.5, lambda: ctr.exec(container, "/bin/sh", "-c", flood))
    code, out, err = run(twins, "trace", "open", "-n", namespace, "-t", "12",
                         "--buffer-size", "4096", "-F", f"path:~{marker}",
                         "-o", "json")  # fmt: skip
    worker.join()
    assert code == 0, err
    records = [json.loads(line) for line in out]
    losses = [r for r in records if "lost_events" in r]
    events = [r for r in records if "lost_events" not in r]
    assert {r["node"] for r in losses} == set(NODES), (losses, err)
    for node in NODES:
        mine = [r for r in losses if r["node"] == node]
        assert all(set(r) == {"lost_events", "lost_total", "node"} for r in mine)
        # The totals run up per node; what was shown and lost covers every open (the
        # kernel's count also holds the shell's own few opens, which the filter drops).
        totals = [r["lost_total"] for r in mine]
        assert totals == sorted(totals) and sum(r["lost_events"] for r in mine) == totals[-1]
        shown = sum(1 for e in events if e["k8s"]["node"] == node)
        assert 3000 <= shown + totals[-1] <= 3050, (node, shown, totals[-1])


def test_loss_lines_name_their_node_at_most_once_a_second(twins, pod, ctr: Ctr):
    """In columns, each node's losses are a line on stderr, at most one a second per
    node, whose counts add up to that node's total (a line per batch buried the table)."""
    namespace, container = pod
    marker = unique("flood")
    flood = f"i=0; while [ $i -lt 3000 ]; do true < /tmp/{marker}-$i 2>/dev/null; i=$((i+1)); done"
    worker = later(2.5, lambda: ctr.exec(container, "/bin/sh", "-c", flood))
    started = time.monotonic()
    code, out, err = run(twins, "trace", "open", "-n", namespace, "-t", "12",
                         "--buffer-size", "4096", "-F", f"path:~{marker}")  # fmt: skip
    took = time.monotonic() - started
    worker.join()
    assert code == 0, err
    # (Each node's summary follows: "N events, M lost in the kernel, ...".)
    lines = [line for line in err if " events lost (" in line]
    said = [re.fullmatch(r"espia: node (\S+): (\d+) events lost \(.*; (\d+) in all\): .*", line)
            for line in lines]  # fmt: skip
    assert all(said), err
    for node in NODES:
        mine = [(int(m[2]), int(m[3])) for m in said if m and m[1] == node]
        assert mine and sum(count for count, _ in mine) == mine[-1][1], (node, err)
        assert len(mine) <= took + 1, (node, len(mine), took)
        shown = sum(1 for line in out[1:] if f" {node} " in f" {line} ")
        assert 3000 <= shown + mine[-1][1] <= 3050, (node, shown, mine[-1][1])
