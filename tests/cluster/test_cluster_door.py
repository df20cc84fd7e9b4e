"""`kubectl espia` on the real two-node cluster (`make cluster`), with the agent image loaded.

The cluster is the session's (tests/cluster/conftest.py: `make cluster`, which
also builds the agent image from this project's Dockerfile and loads it into both
nodes).  Each node has its own containerd, whose socket is under the cluster's
state folder per node: deployed without --runtime-socket, each agent finds its
node's from the kubelet.

The tests run in order on one deployment: version before it, deploy --wait,
the seed's demos, --node, an agent killed mid-stream, undeploy --wait; they
run before test_down.py takes the cluster down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from cluster_door.agents import until_idle

from cluster.kube import AGENT, BUSYBOX, KUBECONFIG
from espia._version import __version__

IMAGE = AGENT
# Each node's containerd (the deployments here find it from the kubelet; a test may still
# name it with --runtime-socket).
SOCKET = "/var/lib/espia-cluster/$(NODE_NAME)/containerd.sock"
NAMESPACE = f"espia-test-{uuid.uuid4().hex[:6]}"
# An address of this machine where nothing answers DNS (node1's, port 53 closed).
SILENT_NAMESERVER = "10.250.0.1"


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", KUBECONFIG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )
    if check and result.returncode:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def espia(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "espia.kubectl.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": str(KUBECONFIG)},
    )


class Streaming:
    """`kubectl espia ...` running, its stdout lines collected."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "espia.kubectl.main", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "KUBECONFIG": str(KUBECONFIG)},
        )
        self.lines: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        with stream:
            for line in stream:
                into.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate(line) for line in list(self.lines)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no matching line; out {self.lines[-5:]}, err {self.err}")
            time.sleep(0.2)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(10)
        return code


@pytest.fixture(scope="module")
def door(cluster):
    """The session's cluster with a namespace of this module's; undeployed at the end."""
    nodes = kubectl("get", "nodes", "-o", "name").split()
    assert nodes == ["node/node1", "node/node2"], nodes
    kubectl("create", "namespace", NAMESPACE)
    try:
        yield
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        espia("undeploy", "--wait", "--timeout", "120")


def pod(
    name: str, node: str, command: str, dns: str | None = None, namespace: str = NAMESPACE
) -> None:
    spec: dict = {
        "nodeName": node,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "main",
                "image": BUSYBOX,
                "imagePullPolicy": "Never",
                "command": ["/bin/sh", "-c", command],
            }
        ],
    }
    if dns:
        spec["dnsPolicy"] = "None"
        spec["dnsConfig"] = {"nameservers": [dns], "searches": ["svc.cluster.local"]}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))


def test_version_before_deploy(door):
    result = espia("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Client version: v{__version__}",
        "Server version: not installed",
    ]


def test_deploy_waits_for_both_nodes(door):
    started = time.monotonic()
    result = espia(
        "deploy", "--image", IMAGE, "--image-pull-policy", "Never",
        "--wait", "--timeout", "150",
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "2 of 2 nodes ready" in result.stderr.splitlines()
    print(f"deploy --wait on two nodes: {took:.1f} s")
    version = espia("version")
    assert version.stdout.splitlines()[1] == f"Server version: v{__version__}"
    # The agent's identity may read no secret and write nothing.
    account = "system:serviceaccount:espia:espia-agent"
    for verb, what in (("get", "secrets"), ("list", "secrets"), ("create", "pods"),
                       ("delete", "pods"), ("patch", "nodes"), ("get", "pods")):  # fmt: skip
        answer = kubectl("auth", "can-i", verb, what, "-A", "--as", account, check=False)
        assert answer.strip() == "no", (verb, what)


def test_deploying_again_upgrades_in_place(door):
    result = espia(
        "deploy", "--image", IMAGE, "--image-pull-policy", "Never",
        "--wait", "--timeout", "150",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "daemonset/espia-agent configured" in result.stderr


def agent_pids() -> dict[str, int]:
    """The cluster's agents, as processes of this machine (the nodes share its kernel)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as environ:
                env = environ.read().split(b"\0")
        except OSError:
            continue
        # Not the probes' `espia agent --health`, which run in the agents' pods too.
        if b"agent" in argv and f"127.0.0.1:{7450}".encode() in argv and b"--health" not in argv:
            node = next((e[10:].decode() for e in env if e.startswith(b"NODE_NAME=")), "")
            if node in ("node1", "node2"):
                found[node] = int(entry)
    return found


def test_seed_open_demo_names_the_pod_and_its_node(door):
    pids = agent_pids()
    assert sorted(pids) == ["node1", "node2"], pids
    until_idle(pids)  # the previous test's run may still be unloading
    trace = Streaming(
        "trace", "open", "-n", NAMESPACE, "-t", "120",
        "--filter", "path:/etc/resolv.conf,flags:~(O_WRONLY|O_RDWR)", "-o", "json",
    )  # fmt: skip
    time.sleep(4)
    pod("writer", "node2", "sleep 3; echo '# espia' >> /etc/resolv.conf; sleep 600")
    # Generous: a pod starts in seconds, or in a minute on a loaded machine.
    trace.wait_for(lambda line: '"writer"' in line, timeout=100)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    events = [json.loads(line) for line in trace.lines]
    assert events, trace.err
    assert {(e["k8s"]["node"], e["k8s"]["namespace"], e["k8s"]["pod"]) for e in events} == {
        ("node2", NAMESPACE, "writer")
    }
    assert all(e["path"] == "/etc/resolv.conf" and "O_WRONLY" in e["flags"] for e in events)
    assert any(line.startswith("espia: node node1: 0 events") for line in trace.err), trace.err
    # Ctrl-C unloaded the gadget on both nodes: each agent holds its tracker only again.
    until_idle(pids)


def test_seed_dns_demo_through_the_node_that_runs_the_pod(door):
    trace = Streaming("trace", "dns", "-n", NAMESPACE, "-o", "columns=+nameserver", "-t", "120")
    time.sleep(4)
    pod("asker", "node1", "sleep 3; nslookup -timeout=2 espia.example.test; sleep 600",
        dns=SILENT_NAMESERVER)  # fmt: skip
    trace.wait_for(lambda line: "espia.example.test" in line, timeout=100)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    header = trace.lines[0].split()
    assert header[:3] == ["K8S.NODE", "K8S.NAMESPACE", "K8S.POD"]
    assert "NAMESERVER" in header
    rows = [line.split() for line in trace.lines[1:] if "espia.example.test" in line]
    assert rows and all(row[:3] == ["node1", NAMESPACE, "asker"] for row in rows)
    assert all(SILENT_NAMESERVER in row for row in rows)


def test_node_flag_picks_one_node(door):
    result = espia("trace", "exec", "-A", "--node", "node1", "-t", "3", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert all(json.loads(line)["k8s"]["node"] == "node1" for line in result.stdout.splitlines())
    summary = [line for line in result.stderr.splitlines() if line.startswith("espia: node ")]
    assert len(summary) == 1 and summary[0].startswith("espia: node node1: ")


def test_unknown_node_is_one_line(door):
    result = espia("trace", "exec", "--node", "node9", "-t", "1")
    assert result.returncode == 2
    assert result.stderr.strip() == "espia: unknown node node9 (nodes: node1, node2)"


def test_list_containers_names_each_pod_container_with_its_node(door):
    # The demos' pods: writer on node2, asker on node1 (both still there, or finished).
    result = espia("list-containers", "-n", NAMESPACE, "-o", "json")
    assert result.returncode == 0, result.stderr
    listed = [item for line in result.stdout.splitlines() for item in json.loads(line)]
    assert {(c["k8s"]["node"], c["k8s"]["pod"], c["k8s"]["container"]) for c in listed} <= {
        ("node2", "writer", "main"), ("node1", "asker", "main")
    }  # fmt: skip
    assert ("node2", "writer", "main") in {
        (c["k8s"]["node"], c["k8s"]["pod"], c["k8s"]["container"]) for c in listed
    }
    columns = espia("list-containers", "-n", NAMESPACE, "--node", "node2")
    assert columns.returncode == 0, columns.stderr
    header, *rows = columns.stdout.splitlines()
    assert header.split()[:3] == ["K8S.NODE", "RUNTIME.RUNTIMENAME", "RUNTIME.CONTAINERNAME"]
    assert [row.split()[:3] for row in rows] == [["node2", "containerd", "main"]], rows


def test_a_namespace_with_no_pods_is_one_warning(door):
    empty = f"espia-empty-{uuid.uuid4().hex[:6]}"
    result = espia("trace", "exec", "-n", empty, "-t", "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"espia: warning: namespace {empty} has no pods: nothing to show until one starts"
    )


def test_the_python_api_reaches_the_cluster(door):
    marker = f"api-{uuid.uuid4().hex[:8]}"
    script = f"""
import espia, json, sys
door = espia.cluster(kubeconfig={str(KUBECONFIG)!r})
seen = []
terms = "path:~{marker}"
with door.trace("open", namespace={NAMESPACE!r}, filter=terms, timeout=100) as events:
    print("started", flush=True)
    for event in events:
        seen.append((type(event).__name__, event.node, event.container.k8s.pod, event.comm))
        break
report = {{"seen": seen, "lost": events.lost, "problems": events.problems}}
print(json.dumps({{**report, "messages": events.messages}}))
"""
    # An open a second of a path that holds the marker, until the trace has seen one.  (Not
    # an exec filtered on comm:sh: this image's busybox sh runs its applets by exec of
    # /proc/self/exe, so their COMM is "exe".)
    pod("api-open", "node1", f"while :; do cat /tmp/{marker} 2>/dev/null; sleep 1; done")
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "started\n", line + (proc.stderr.read() if proc.stderr else "")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()  # reaped here, whatever failed: not found running by a later test's GC
    assert proc.returncode == 0, err
    report = json.loads(out.splitlines()[-1])
    assert report["seen"] == [["TraceOpenEvent", "node1", "api-open", "cat"]], report
    assert report["lost"] == 0 and report["problems"] == {}, report
    assert report["messages"][-2].startswith("node node1: "), report


def test_an_agent_deleted_mid_stream_is_reconnected_and_the_gap_reported(door):
    marker = f"back-{uuid.uuid4().hex[:8]}"
    # An open a second on node2 of a path that holds the marker (see the Python API's test).
    pod("after", "node2", f"while :; do cat /tmp/{marker} 2>/dev/null; sleep 1; done")
    trace = Streaming("trace", "open", "-n", NAMESPACE, "-t", "150", "-o", "json",
                      "-F", f"path:~{marker}")  # fmt: skip
    try:
        reconnected(trace, marker)
    finally:
        trace.proc.kill()
        trace.proc.wait()
    kubectl("rollout", "status", "-n", "espia", "daemonset/espia-agent", "--timeout=120s")


def reconnected(trace: Streaming, marker: str) -> None:
    trace.wait_for(lambda line: marker in line, timeout=100)
    victim = kubectl(
        "get", "pods", "-n", "espia", "-l", "app.kubernetes.io/name=espia",
        "--field-selector", "spec.nodeName=node2", "-o", "name",
    ).split()[0]  # fmt: skip
    kubectl("delete", "-n", "espia", victim, "--grace-period=1", "--wait=false")
    # The DaemonSet makes node2 a new agent; the client finds it and resumes there.
    deadline = time.monotonic() + 120
    while not any("node node2: reconnected after" in line for line in trace.err):
        assert time.monotonic() < deadline and trace.proc.poll() is None, trace.err
        time.sleep(0.5)
    before = len(trace.lines)
    deadline = time.monotonic() + 60
    while not any(marker in line for line in trace.lines[before:]):
        assert time.monotonic() < deadline, (trace.lines[-3:], trace.err)
        time.sleep(0.5)
    trace.proc.send_signal(signal.SIGINT)
    code = trace.finish(timeout=60)
    assert code == 1, trace.err  # the outage's events were not seen
    events = [json.loads(line) for line in trace.lines]
    assert {(e["k8s"]["node"], e["k8s"]["pod"]) for e in events} == {("node2", "after")}
    warnings = [line for line in trace.err if "warning: node node2" in line]
    assert len(warnings) == 1 and warnings[0].endswith("; reconnecting"), trace.err
    back = [line for line in trace.err if "reconnected after" in line]
    assert len(back) == 1 and back[0].endswith(" s; events in between were not seen")
    summary = [line for line in trace.err if line.startswith("espia: node ")]
    summary = [line for line in summary if "reconnected" not in line]
    assert [line.split(":")[1].strip() for line in summary] == ["node node1", "node node2"]
    assert "cut off once" in summary[1] and "cut off" not in summary[0]


def test_undeploy_leaves_nothing(door):
    result = espia("undeploy", "--wait", "--timeout", "120")
    assert result.returncode == 0, result.stderr
    left = kubectl("get", "all,sa,clusterrole,clusterrolebinding,ns", "-A",
                   "-l", "app.kubernetes.io/name=espia", "-o", "name")  # fmt: skip
    assert left.strip() == ""
    after = espia("trace", "exec", "-t", "1")
    assert after.returncode == 1
    assert after.stderr.strip() == (
        "espia: espia is not deployed on this cluster: run `kubectl espia deploy`"
    )
