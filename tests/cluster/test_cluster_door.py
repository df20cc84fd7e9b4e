"""`kubectl espia` on the real two-node cluster (`make cluster`), with the agent image loaded.

The cluster is the session's (tests/cluster/conftest.py: `make cluster`, which
also builds the agent image from this project's Dockerfile and loads it into both
nodes).  Each node has its own containerd, whose socket is under the cluster's
state folder per node.

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

from cluster.kube import AGENT, BUSYBOX, KUBECONFIG
from espia._version import __version__

IMAGE = AGENT
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


def pod(name: str, node: str, command: str, dns: str | None = None) -> None:
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
    kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=json.dumps(body))


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
        "--runtime-socket", SOCKET, "--wait", "--timeout", "150",
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
        "--runtime-socket", SOCKET, "--wait", "--timeout", "150",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "daemonset/espia-agent configured" in result.stderr


def test_seed_open_demo_names_the_pod_and_its_node(door):
    trace = Streaming(
        "trace", "open", "-n", NAMESPACE, "-t", "25",
        "--filter", "path:/etc/resolv.conf,flags:~(O_WRONLY|O_RDWR)", "-o", "json",
    )  # fmt: skip
    time.sleep(4)
    pod("writer", "node2", "sleep 3; echo '# espia' >> /etc/resolv.conf; sleep 600")
    trace.wait_for(lambda line: '"writer"' in line, timeout=40)
    trace.proc.send_signal(signal.SIGINT)
    assert trace.finish() == 0, trace.err
    events = [json.loads(line) for line in trace.lines]
    assert events, trace.err
    assert {(e["k8s"]["node"], e["k8s"]["namespace"], e["k8s"]["pod"]) for e in events} == {
        ("node2", NAMESPACE, "writer")
    }
    assert all(e["path"] == "/etc/resolv.conf" and "O_WRONLY" in e["flags"] for e in events)
    assert any(line.startswith("espia: node node1: 0 events") for line in trace.err), trace.err


def test_seed_dns_demo_through_the_node_that_runs_the_pod(door):
    trace = Streaming("trace", "dns", "-n", NAMESPACE, "-o", "columns=+nameserver", "-t", "30")
    time.sleep(4)
    pod("asker", "node1", "sleep 3; nslookup -timeout=2 espia.example.test; sleep 600",
        dns=SILENT_NAMESERVER)  # fmt: skip
    trace.wait_for(lambda line: "espia.example.test" in line, timeout=40)
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


def test_an_agent_deleted_mid_stream_is_one_warning_and_the_other_goes_on(door):
    trace = Streaming("trace", "exec", "-A", "-t", "20", "-o", "json")
    time.sleep(5)
    victim = kubectl(
        "get", "pods", "-n", "espia", "-l", "app.kubernetes.io/name=espia",
        "--field-selector", "spec.nodeName=node2", "-o", "name",
    ).split()[0]  # fmt: skip
    kubectl("delete", "-n", "espia", victim, "--grace-period=1", "--wait=false")
    code = trace.finish(timeout=60)
    assert code == 1, trace.err
    warnings = [line for line in trace.err if "warning: node node2" in line]
    assert len(warnings) == 1, trace.err
    summary = [line for line in trace.err if line.startswith("espia: node ")]
    assert [line.split(":")[1].strip() for line in summary] == ["node node1", "node node2"]
    # The DaemonSet brings node2's agent back for what follows.
    kubectl("rollout", "status", "-n", "espia", "daemonset/espia-agent", "--timeout=120s")


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
