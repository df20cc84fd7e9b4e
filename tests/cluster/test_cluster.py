"""A real two-node cluster: nodes, pods on each node's containerd, streams through the API.

Every pod here is created through the API server and run by a real kubelet
on its own containerd; the assertions read back what the kubelet, containerd
and espia report about it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream
from support.workloads import espia

from cluster.kube import (
    AGENT,
    BIN,
    NODES,
    STATE,
    ctr_json,
    kubectl,
    pinned_kubernetes,
    pod_manifest,
    wait_for,
    wait_phase,
)
from espia._version import __version__

#: A web server that says which pod it is, on every address (port-forward dials localhost).
WEB = [
    "sh",
    "-c",
    "mkdir /www && hostname > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www",
]


def start_web(core: client.CoreV1Api, namespace: str, node: str) -> client.V1Pod:
    """The WEB pod on ``node``, once it runs."""
    core.create_namespaced_pod(namespace, pod_manifest("web", WEB, node))
    return wait_phase(core, namespace, "web", {"Running"})


def test_every_node_is_ready_with_its_own_address(core: client.CoreV1Api) -> None:
    nodes = {node.metadata.name: node for node in core.list_node().items}
    assert set(nodes) == set(NODES), "two nodes: a single-node cluster does not pass"
    for name, node in nodes.items():
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert [c.status for c in ready] == ["True"], f"{name}: {ready}"
        addresses = {a.type: a.address for a in node.status.addresses}
        assert addresses["InternalIP"] == NODES[name]
        assert node.status.node_info.kubelet_version == pinned_kubernetes()
        assert node.status.node_info.container_runtime_version.startswith("containerd://")


def test_kubectl_and_the_server_report_the_pinned_version(cluster: Path) -> None:
    versions = json.loads(kubectl("version", "-o", "json"))
    assert versions["clientVersion"]["gitVersion"] == pinned_kubernetes()
    assert versions["serverVersion"]["gitVersion"] == pinned_kubernetes()


@pytest.mark.parametrize("node", sorted(NODES))
def test_pod_runs_on_its_nodes_containerd_and_espia_names_it(
    core: client.CoreV1Api, namespace: str, node: str
) -> None:
    pod = start_web(core, namespace, node)
    container_id = pod.status.container_statuses[0].container_id.removeprefix("containerd://")

    info = ctr_json(node, "containers", "info", container_id)
    labels = info["Labels"]
    assert labels["io.kubernetes.pod.name"] == "web"
    assert labels["io.kubernetes.pod.namespace"] == namespace
    assert labels["io.kubernetes.container.name"] == "main"
    assert labels["io.kubernetes.pod.uid"] == pod.metadata.uid
    annotations = info["Spec"]["annotations"]
    assert annotations["io.kubernetes.cri.container-type"] == "container"
    assert annotations["io.kubernetes.cri.sandbox-name"] == "web"
    assert annotations["io.kubernetes.cri.sandbox-namespace"] == namespace

    socket_path = STATE / node / "containerd.sock"
    done = espia("list-containers", "--runtimes", "containerd",
                 "--runtime-socket", f"containerd={socket_path}", "-o", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = [c for c in json.loads(done.stdout) if c["runtime"]["containerId"] == container_id]
    assert len(listed) == 1, done.stdout
    entry = listed[0]
    assert entry["k8s"]["namespace"] == namespace
    assert entry["k8s"]["pod"] == "web"
    assert entry["k8s"]["container"] == "main"
    assert entry["runtime"]["containerName"] == "main"
    assert entry["podUid"] == pod.metadata.uid
    assert entry["k8s"]["podLabels"] == {"espia-test": "web"}


@pytest.mark.parametrize("node", sorted(NODES))
def test_kubectl_exec_logs_and_port_forward(
    core: client.CoreV1Api, namespace: str, node: str
) -> None:
    start_web(core, namespace, node)
    pod = ["--namespace", namespace, "web"]

    assert kubectl("exec", *pod, "--", "cat", "/www/index.html") == "web\n"
    wait_for(lambda: kubectl("logs", *pod) == "serving\n", "the pod's log", 20)

    argv = [str(BIN / "kubectl"), "port-forward", *pod, ":8080"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as forward:
        try:
            assert forward.stdout is not None
            line = forward.stdout.readline()
            match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
            assert match, f"kubectl port-forward said {line!r}"
            url = f"http://127.0.0.1:{match.group(1)}/index.html"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.read() == b"web\n"
        finally:
            forward.kill()


@pytest.mark.parametrize("node", sorted(NODES))
def test_exec_and_port_forward_through_the_python_client(
    core: client.CoreV1Api, namespace: str, node: str
) -> None:
    start_web(core, namespace, node)

    # Not preloaded, so that the test closes the WebSocket itself (no ResourceWarning).
    execution = stream(core.connect_get_namespaced_pod_exec, "web", namespace,
                       command=["cat", "/www/index.html"], stderr=True, stdin=False, stdout=True,
                       tty=False, _preload_content=False)  # fmt: skip
    try:
        execution.run_forever(timeout=30)
        said = execution.read_stdout()
    finally:
        execution.close()
        # websocket-client's close() skips the socket once the server has closed the
        # stream; shutdown() closes it in every case.
        execution.sock.shutdown()
    assert said == "web\n"

    forward = portforward(core.connect_get_namespaced_pod_portforward, "web", namespace,
                          ports="8080")  # fmt: skip
    connection: socket.socket = forward.socket(8080)
    try:
        connection.settimeout(10)
        connection.sendall(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    finally:
        connection.close()
        forward.websocket.shutdown()
    assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n")[0]
    assert answer.endswith(b"\r\n\r\nweb\n")
    assert forward.error(8080) is None


def test_daemonset_runs_one_pod_per_node(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    template = pod_manifest("each", ["sleep", "infinity"])
    del template["spec"]["nodeName"]
    apps.create_namespaced_daemon_set(namespace, {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "each"},
        "spec": {
            "selector": {"matchLabels": {"espia-test": "each"}},
            "template": {"metadata": template["metadata"], "spec": template["spec"]},
        },
    })  # fmt: skip

    def ready() -> bool:
        status = apps.read_namespaced_daemon_set_status("each", namespace).status
        return status.desired_number_scheduled == len(NODES) and status.number_ready == len(NODES)

    wait_for(ready, "the DaemonSet's pods", 90)
    pods = core.list_namespaced_pod(namespace, label_selector="espia-test=each").items
    assert sorted(p.spec.node_name for p in pods) == sorted(NODES)
    assert all(p.status.phase == "Running" for p in pods)


@pytest.mark.parametrize(
    ("args", "expected"),
    [(None, f"espia v{__version__}\n"), (["trace", "exec", "--help"], "usage: espia trace exec ")],
)
def test_agent_image_runs_espia_in_a_pod(
    core: client.CoreV1Api, namespace: str, args: list[str] | None, expected: str
) -> None:
    """The image built from the project's Dockerfile: its entrypoint is espia."""
    core.create_namespaced_pod(
        namespace, pod_manifest("agent", None, "node2", image=AGENT, restart="Never", args=args)
    )
    pod = wait_phase(core, namespace, "agent", {"Succeeded", "Failed"})
    log = core.read_namespaced_pod_log("agent", namespace)
    assert pod.status.phase == "Succeeded", log
    assert log == expected if args is None else log.startswith(expected), log
