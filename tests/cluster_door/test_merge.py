"""The cluster client's merge of several nodes, with real agents on this host.

Two `espia agent` processes play node-a and node-b; the only thing not real
is the API server: :class:`LoopbackCluster` answers "which agent pods, on
which nodes" and "forward to this pod" with the agents' loopback addresses
(test_cluster.py does the same through a real API server's port-forward).
node-a follows the test containerd, where a pod runs; node-b follows no
runtime, so the pod's events come from node-a only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from support.runtimes import Ctr
from support.workloads import unique

from cluster_door.agents import AgentProcess, programs_held_by
from espia.kubectl.cluster import AgentPod
from espia.kubectl.gadget import run_remote_gadget
from espia.kubectl.main import build_parser


class LoopbackCluster:
    """What run_remote_gadget asks the API server, answered from local agents."""

    namespace = "default"

    def __init__(self, agents: dict[str, str], ready: set[str], nodes: list[str]) -> None:
        self.agents = agents
        self.ready = ready
        self.nodes = nodes

    def agent_pods(self) -> list[AgentPod]:
        from espia._version import __version__

        return [
            AgentPod(f"espia-agent-{n}", "espia", n, n in self.ready, __version__)
            for n in sorted(self.agents)
        ]

    def node_names(self) -> list[str]:
        return self.nodes

    @contextlib.contextmanager
    def forward(self, pod: AgentPod) -> Iterator[str]:
        yield self.agents[pod.node]


class NoStopper:
    def __init__(self, stop) -> None:
        self.stop = stop

    def restore(self) -> None:
        pass


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture
def two_agents(containerd_socket) -> Iterator[dict[str, AgentProcess]]:
    agents = {}
    try:
        for node, socket in (("node-a", containerd_socket), ("node-b", "/nonexistent.sock")):
            agents[node] = AgentProcess(
                node, "--runtimes", "containerd", "--runtime-socket", f"containerd={socket}"
            )
        yield agents
    finally:
        for agent in agents.values():
            agent.stop()


def run(cluster, *argv: str, stopper=None) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        code = run_remote_gadget(parse(*argv), cluster, stopper or NoStopper, out)
    finally:
        sys.stderr = saved
    return code, out.getvalue().splitlines(), err.getvalue().splitlines()


def test_events_of_a_pod_carry_their_node_and_every_node_is_summed_up(two_agents, ctr: Ctr, rootfs):
    namespace = unique("ns")
    pod = ctr.run_pod(rootfs, "web", namespace, {"app": "web"}, ["main"])
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    try:
        marker = unique("exec")

        def workload() -> None:
            time.sleep(2.5)
            for _ in range(3):
                ctr.exec(pod.containers["main"], "/bin/sh", "-c", f"true {marker}")

        thread = threading.Thread(target=workload)
        thread.start()
        code, out, err = run(cluster, "trace", "exec", "-n", namespace, "-t", "6",
                             "-F", f"args:~{marker}")  # fmt: skip
        thread.join()
    finally:
        ctr.remove_pod(pod)
    assert code == 0, err
    header, *rows = out
    assert header.split()[:4] == ["K8S.NODE", "K8S.NAMESPACE", "K8S.POD", "K8S.CONTAINER"]
    assert len(rows) == 3, out
    assert all(row.split()[:4] == ["node-a", namespace, "web", "main"] for row in rows)
    assert err[-2:] == [
        "espia: node node-a: 3 events, 0 lost in the kernel, 0 dropped by the agent",
        "espia: node node-b: 0 events, 0 lost in the kernel, 0 dropped by the agent",
    ], err


def test_a_node_without_a_ready_agent_is_one_warning_and_a_failed_exit(two_agents):
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a"}, ["node-a", "node-b"]
    )
    code, out, err = run(cluster, "trace", "open", "-A", "-t", "1")
    assert code == 1
    assert err[0] == "espia: warning: node node-b: no ready agent; the others go on"
    assert err[-1] == "espia: node node-b: no ready agent"
    assert err[-2].startswith("espia: node node-a: ")
    assert out[0].split()[0] == "K8S.NODE"


def test_an_agent_dying_mid_stream_leaves_the_other_going(two_agents):
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    victim = two_agents["node-b"]
    threading.Timer(2.0, lambda: victim.proc.send_signal(signal.SIGKILL)).start()
    started = time.monotonic()
    code, _, err = run(cluster, "trace", "exec", "-A", "-t", "5")
    assert time.monotonic() - started > 4.5  # node-a ran to its timeout
    assert code == 1
    warnings = [line for line in err if line.startswith("espia: warning: node node-b")]
    assert len(warnings) == 1, err
    assert "agent unreachable" in warnings[0]
    assert err[-2].startswith("espia: node node-a: ") and "unreachable" not in err[-2]
    assert err[-1].startswith("espia: node node-b: ") and "agent unreachable" in err[-1]


def test_unknown_node_and_no_agent_at_all(two_agents):
    cluster = LoopbackCluster({n: a.address for n, a in two_agents.items()}, set(), ["node-a"])
    from espia.errors import EspiaError, UsageError

    with pytest.raises(UsageError, match=r"^unknown node node-z \(nodes: node-a\)$"):
        run(cluster, "trace", "exec", "--node", "node-z")
    with pytest.raises(EspiaError, match="no selected node has a ready agent"):
        run(cluster, "trace", "exec", "--node", "node-a")
    empty = LoopbackCluster({}, set(), ["node-a"])
    with pytest.raises(EspiaError, match="espia is not deployed on this cluster"):
        run(empty, "trace", "exec")


class CtrlCAfter:
    """Presses Ctrl-C (the stopper's stop) two seconds into the run."""

    def __init__(self, stop) -> None:
        self.timer = threading.Timer(2.0, stop)
        self.timer.start()

    def restore(self) -> None:
        self.timer.cancel()


def test_ctrl_c_stops_the_gadget_on_every_node(two_agents):
    idle = {n: programs_held_by(a.proc.pid) for n, a in two_agents.items()}
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    started = time.monotonic()
    code, _, err = run(cluster, "trace", "open", "-A", stopper=CtrlCAfter)
    assert code == 0, err
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        programs_held_by(a.proc.pid) != idle[n] for n, a in two_agents.items()
    ):
        time.sleep(0.1)
    assert {n: programs_held_by(a.proc.pid) for n, a in two_agents.items()} == idle
