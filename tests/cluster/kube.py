"""What the cluster suites share: the cluster's paths, the pinned version, small waits."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from support.workloads import ROOT

STATE = Path("/var/lib/espia-cluster")
BIN = Path("/opt/espia-cluster/bin")
KUBECONFIG = STATE / "config" / "admin.kubeconfig"
NODES = {"node1": "10.250.0.1", "node2": "10.250.2.2"}
BUSYBOX = "localhost/espia-busybox:1"
AGENT = "localhost/espia:dev"


def pinned_kubernetes() -> str:
    """The Kubernetes version cluster/build pins, which every component must report."""
    text = (ROOT / "cluster" / "build" / "kubernetes" / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", text, re.MULTILINE)
    assert match, "cluster/build/kubernetes/go.mod does not require k8s.io/kubernetes"
    return match.group(1)


def make(target: str, timeout: float) -> str:
    done = subprocess.run(
        ["make", "-s", target], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"make {target} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def has_default_account(core: client.CoreV1Api, namespace: str) -> bool:
    accounts = core.list_namespaced_service_account(namespace).items
    return any(account.metadata.name == "default" for account in accounts)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)
    return result


def kubectl(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        [str(BIN / "kubectl"), *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def pod_manifest(
    name: str,
    command: list[str] | None,
    node: str | None = None,
    image: str = BUSYBOX,
    restart: str = "Always",
    args: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"espia-test": name}},
        "spec": {
            "nodeName": node,
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "args": args,
                }
            ],
        },
    }


def wait_phase(core: client.CoreV1Api, namespace: str, name: str, phases: set[str]) -> Any:
    def phase() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        waiting = [
            s.state.waiting.reason
            for s in pod.status.container_statuses or []
            if s.state.waiting and s.state.waiting.reason not in ("ContainerCreating", None)
        ]
        assert not waiting, f"pod {name}: {waiting}"
        return pod if pod.status.phase in phases else None

    return wait_for(phase, f"pod {name} to be {'/'.join(sorted(phases))}", 90)


def ctr_json(node: str, *args: str) -> Any:
    socket = STATE / node / "containerd.sock"
    out = subprocess.run(
        ["ctr", f"--address={socket}", "--namespace=k8s.io", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return json.loads(out)
