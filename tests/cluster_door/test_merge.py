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
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from support.runtimes import Ctr
from support.workloads import unique

from cluster_door.agents import AgentProcess, programs_held_by
from espia._version import __version__
from espia.agent._proto import agent_pb2 as pb
from espia.agent._proto import agent_pb2_grpc as pb_grpc
from espia.cli.main import guarded
from espia.kubectl import containers
from espia.kubectl.api import ClusterDoor
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

    version = __version__  # what the agent pods' annotation says

    def agent_pods(self) -> list[AgentPod]:
        return [
            AgentPod(f"espia-agent-{n}", "espia", n, n in self.ready, self.version)
            for n in sorted(self.agents)
        ]

    def node_names(self) -> list[str]:
        return self.nodes

    def has_pods(self, namespace: str) -> bool:
        return not namespace.startswith("empty")

    @contextlib.contextmanager
    def forward(self, pod: AgentPod) -> Iterator[str]:
        yield self.agents[pod.node]


class NoStopper:
    def __init__(self, stop) -> None:
        self.stop = stop

    def restore(self) -> None:
        pass


def run_guarded(cluster, *argv: str) -> tuple[int, list[str], list[str]]:
    """`run`, with errors as the command line shows them (one line, an exit status)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        code = guarded(lambda: run_remote_gadget(parse(*argv), cluster, NoStopper, out))
    finally:
        sys.stderr = saved
    return code, out.getvalue().splitlines(), err.getvalue().splitlines()


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
    args = parse(*argv)
    try:
        if args.command == "list-containers":
            code = containers.run(args, cluster, stopper or NoStopper, out)
        else:
            code = run_remote_gadget(args, cluster, stopper or NoStopper, out)
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
    # Killed once its stream is surely open (a loaded machine opens slowly).
    threading.Timer(4.0, lambda: victim.proc.send_signal(signal.SIGKILL)).start()
    started = time.monotonic()
    code, _, err = run(cluster, "trace", "exec", "-A", "-t", "8")
    assert time.monotonic() - started > 7.5  # node-a ran to its timeout
    assert code == 1
    # One warning; the client retries until the run ends, and says node-b never came back.
    warnings = [line for line in err if line.startswith("espia: warning: node node-b")]
    assert len(warnings) == 1, err
    assert "agent unreachable" in warnings[0] and warnings[0].endswith("; reconnecting")
    assert err[-2].startswith("espia: node node-a: ") and "unreachable" not in err[-2]
    assert err[-1].startswith("espia: node node-b: ") and "agent unreachable" in err[-1]
    assert err[-1].endswith("not back before the run ended"), err[-1]


def test_a_restarted_agent_is_reconnected_and_the_gap_reported(
    two_agents, containerd_socket, ctr: Ctr, rootfs
):
    namespace = unique("ns")
    pod = ctr.run_pod(rootfs, "web", namespace, {"app": "web"}, ["main"])
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    successor: list[AgentProcess] = []
    marker = unique("exec")

    def outage() -> None:
        time.sleep(2.0)
        two_agents["node-b"].stop()  # SIGTERM, as a deleted pod gets
        time.sleep(1.0)
        # The DaemonSet's next pod: this one follows the pod's containerd too.
        socket = f"containerd={containerd_socket}"
        successor.append(
            AgentProcess("node-b", "--runtimes", "containerd", "--runtime-socket", socket)
        )
        cluster.agents["node-b"] = successor[0].address
        time.sleep(7.0)
        ctr.exec(pod.containers["main"], "/bin/sh", "-c", f"true {marker}")

    thread = threading.Thread(target=outage)
    thread.start()
    try:
        code, out, err = run(cluster, "trace", "exec", "-n", namespace, "-t", "13",
                             "-F", f"comm:sh,args:~{marker}", "-o", "json")  # fmt: skip
        thread.join()
    finally:
        for agent in successor:
            agent.stop()
        ctr.remove_pod(pod)
    assert code == 1, err  # events of the outage were not seen
    nodes = sorted(json.loads(line)["k8s"]["node"] for line in out)
    assert nodes == ["node-a", "node-b"], "\n".join(out + err)  # the later exec, seen by both
    warned = [line for line in err if line.startswith("espia: warning: node node-b")]
    assert warned == [
        "espia: warning: node node-b: the agent of node node-b stopped (SIGTERM); reconnecting"
    ], err
    back = [line for line in err if "reconnected" in line]
    assert len(back) == 1 and back[0].startswith("espia: node node-b: reconnected after ")
    assert back[0].endswith(" s; events in between were not seen")
    assert err[-1].startswith("espia: node node-b: 1 events, ") and "cut off once" in err[-1]
    assert err[-2].startswith("espia: node node-a: 1 events, ") and "cut off" not in err[-2]


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


def test_list_containers_names_each_container_with_its_node(two_agents, ctr: Ctr, rootfs):
    namespace = unique("ns")
    pod = ctr.run_pod(rootfs, "web", namespace, {"app": "web"}, ["main", "side"])
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    try:
        code, out, err = run(cluster, "list-containers", "-n", namespace)
        json_code, json_out, _ = run(cluster, "list-containers", "-n", namespace, "-o", "json")
        other_code, other_out, other_err = run(cluster, "list-containers", "-n", unique("empty"))
    finally:
        ctr.remove_pod(pod)
    assert code == 0, err
    header, *rows = out
    assert header.split()[:4] == ["K8S.NODE", "RUNTIME.RUNTIMENAME", "RUNTIME.CONTAINERNAME",
                                  "RUNTIME.CONTAINERID"], header  # fmt: skip
    assert sorted((row.split()[0], row.split()[2]) for row in rows) == [
        ("node-a", "main"), ("node-a", "side")
    ], out  # fmt: skip
    assert json_code == 0
    listed = [item for line in json_out for item in json.loads(line)]
    assert sorted((c["k8s"]["node"], c["k8s"]["pod"], c["k8s"]["container"]) for c in listed) == [
        ("node-a", "web", "main"), ("node-a", "web", "side")
    ]  # fmt: skip
    # A namespace without pods: the header only, one warning, and a success.
    assert other_code == 0 and len(other_out) == 1
    assert other_err[0].startswith("espia: warning: namespace empty-")
    assert other_err[0].endswith(" has no pods: nothing to show until one starts")


class FutureAgent(pb_grpc.AgentServicer):
    """An agent of a later version, whose event schema this client cannot read."""

    def Run(self, request, context):
        wire = {"version": 99, "gadget": "trace exec", "fields": []}
        yield pb.RunReply(
            schema=pb.Schema(
                gadget="trace exec", node="node-f", agent_version="9.0.0",
                event_schema=json.dumps(wire),
            )
        )  # fmt: skip


def test_an_incompatible_agent_is_one_line_and_a_skew_one_warning(two_agents):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_AgentServicer_to_server(FutureAgent(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        future = LoopbackCluster({"node-f": f"127.0.0.1:{port}"}, {"node-f"}, ["node-f"])
        future.version = "9.0.0"
        code, _, err = run_guarded(future, "trace", "exec", "-A", "-t", "2")
    finally:
        server.stop(0)
    assert code == 1
    assert err == [
        "espia: warning: node node-f: agent v9.0.0, client v" + __version__,
        f"espia: node node-f: agent v9.0.0 is incompatible with this client (v{__version__}): "
        "the agent's event schema cannot be read: event schema version 99: expected 1; "
        "deploy this version (`kubectl espia deploy`) or use a matching kubectl-espia",
    ], err
    # A skew with an agent that speaks this client's schema: a warning, and the run goes on.
    skewed = LoopbackCluster({"node-a": two_agents["node-a"].address}, {"node-a"}, ["node-a"])
    skewed.version = "0.0.9"
    code, _, err = run(skewed, "trace", "exec", "-A", "-t", "1")
    assert code == 0, err
    assert err[0] == f"espia: warning: node node-a: agent v0.0.9, client v{__version__}"


def test_the_python_api_yields_the_nodes_events_with_their_node(two_agents, ctr: Ctr, rootfs):
    namespace = unique("ns")
    pod = ctr.run_pod(rootfs, "web", namespace, {"app": "web"}, ["main"])
    cluster = LoopbackCluster(
        {n: a.address for n, a in two_agents.items()}, {"node-a", "node-b"}, ["node-a", "node-b"]
    )
    marker = unique("api")
    door = ClusterDoor(cluster=cluster)  # type: ignore[arg-type]
    seen = []
    try:
        threading.Timer(
            3.0, ctr.exec, (pod.containers["main"], "/bin/sh", "-c", f"true {marker}")
        ).start()
        with door.trace(
            "exec", namespace=namespace, filter=f"comm:sh,args:~{marker}", timeout=8
        ) as events:
            for event in events:
                seen.append((type(event).__name__, event.node, event.container.k8s.pod, event.comm))
    finally:
        ctr.remove_pod(pod)
    assert seen == [("TraceExecEvent", "node-a", "web", "sh")]
    assert events.lost == 0
    assert events.problems == {}
    assert events.messages[-2:] == [
        "node node-a: 1 events, 0 lost in the kernel, 0 dropped by the agent",
        "node node-b: 0 events, 0 lost in the kernel, 0 dropped by the agent",
    ]
