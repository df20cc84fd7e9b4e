"""`kubectl espia deploy`, `undeploy` and `version`.

Deploying again replaces each object in place (the DaemonSet then rolls its
pods one node at a time); undeploy deletes what deploy made, found by the
``app.kubernetes.io/name=espia`` label, and never a namespace without it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from espia._version import __version__
from espia.errors import EspiaError
from espia.kubectl.cluster import Cluster, ClusterError, path_part
from espia.kubectl.manifests import LABEL, LABELS, NAME, DeployOptions, objects

POLL = 1.0


# Where each kind of object deploy makes lives: (API group path, plural, namespaced).
_KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
}


def _path(kind: str, name: str, namespace: str | None = None) -> str:
    """The REST path of an object (`name` "": of its collection)."""
    group, plural, namespaced = _KINDS[kind]
    where = f"/namespaces/{path_part(namespace or '')}" if namespaced else ""
    return f"{group}{where}/{plural}" + (f"/{path_part(name)}" if name else "")


def _where(item: dict[str, Any]) -> tuple[str, str | None]:
    meta = item["metadata"]
    return meta["name"], meta.get("namespace")


def _what(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def apply(cluster: Cluster, item: dict[str, Any]) -> str:
    """Creates `item`, or replaces the one there; "created" or "configured"."""
    kind = item["kind"]
    name, namespace = _where(item)
    what = _what(kind, name, namespace)
    path = _path(kind, name, namespace)
    current = cluster.request(f"read {what}", "GET", path, missing_ok=True)
    if current is None:
        cluster.request(f"create {what}", "POST", _path(kind, "", namespace), body=item)
        return "created"
    version = current["metadata"]["resourceVersion"]
    item = {**item, "metadata": {**item["metadata"], "resourceVersion": version}}
    cluster.request(f"update {what}", "PUT", path, body=item)
    return "configured"


def deploy(
    cluster: Cluster, options: DeployOptions, wait: bool, timeout: float, err: TextIO
) -> int:
    for item in objects(options):
        outcome = apply(cluster, item)
        err.write(f"{item['kind'].lower()}/{item['metadata']['name']} {outcome}\n")
    if wait:
        wait_ready(cluster, options.namespace, timeout, err)
    return 0


def _rollout(cluster: Cluster, namespace: str) -> tuple[int, int, bool]:
    """(ready, desired, settled) of the agent's DaemonSet."""
    what = f"read daemonset {namespace}/{NAME}"
    ds = cluster.request(what, "GET", _path("DaemonSet", NAME, namespace))
    status = ds.get("status", {})
    desired = status.get("desiredNumberScheduled", 0)
    ready = min(status.get("numberReady", 0), status.get("updatedNumberScheduled", 0))
    settled = status.get("observedGeneration", 0) >= ds["metadata"].get("generation", 0)
    return ready, desired, settled


def wait_ready(cluster: Cluster, namespace: str, timeout: float, err: TextIO) -> None:
    """Waits for an up-to-date, ready agent on every node the DaemonSet selects."""
    deadline = time.monotonic() + timeout
    shown = None
    while True:
        ready, desired, settled = _rollout(cluster, namespace)
        if settled and (ready, desired) != shown:
            err.write(f"{ready} of {desired} nodes ready\n")
            err.flush()
            shown = (ready, desired)
        if settled and desired and ready == desired:
            return
        if time.monotonic() > deadline:
            if settled and not desired:
                raise ClusterError("no node matches the agent's node selector")
            missing = [p.node for p in cluster.agent_pods() if not p.ready]
            raise ClusterError(
                f"the agent is not ready after {timeout:g}s: {ready} of {desired} nodes"
                + (f" (not ready: {', '.join(missing)})" if missing else "")
            )
        time.sleep(POLL)


def undeploy(cluster: Cluster, namespace: str, wait: bool, timeout: float, err: TextIO) -> int:
    """Deletes every object deploy made (and only those: each must carry espia's label)."""
    namespaces = {namespace} | {d["metadata"]["namespace"] for d in cluster.agent_daemonsets()}
    targets: list[tuple[str, str, str | None]] = []
    for ns in sorted(namespaces):
        targets += [("DaemonSet", NAME, ns), ("ServiceAccount", NAME, ns)]
    targets += [("ClusterRoleBinding", NAME, None), ("ClusterRole", NAME, None)]
    targets += [("Namespace", ns, None) for ns in sorted(namespaces)]
    deleted: list[tuple[str, str]] = []  # (what, path)
    for kind, name, ns in targets:
        what, path = _what(kind, name, ns), _path(kind, name, ns)
        current = cluster.request(f"read {what}", "GET", path, missing_ok=True)
        if current is None:
            continue
        if (current["metadata"].get("labels") or {}).get(LABEL) != LABELS[LABEL]:
            err.write(f"espia: warning: {what} was not made by deploy: left alone\n")
            continue
        cluster.request(f"delete {what}", "DELETE", path, missing_ok=True)
        err.write(f"{kind.lower()}/{name} deleted\n")
        deleted.append((what, path))
    if not deleted:
        err.write("espia: nothing to undeploy: no espia agent is deployed\n")
    if wait:
        deadline = time.monotonic() + timeout
        # Namespaces go last, after their pods: their deletion is the slow part.
        while cluster.agent_pods() or any(
            cluster.request(f"read {what}", "GET", path, missing_ok=True) is not None
            for what, path in deleted
        ):
            if time.monotonic() > deadline:
                raise ClusterError(f"undeploy: objects are still there after {timeout:g}s")
            time.sleep(POLL)
    return 0


def server_version(cluster: Cluster) -> str | None:
    """The deployed agent's version (its DaemonSet's), or None when none is deployed."""
    for ds in cluster.agent_daemonsets():
        annotations = ds["spec"]["template"]["metadata"].get("annotations") or {}
        return str(annotations.get("espia.dev/version", "unknown"))
    return None


def version(cluster_factory: Callable[[], Cluster], out: TextIO = sys.stdout) -> int:
    out.write(f"Client version: v{__version__}\n")
    out.flush()
    try:
        deployed = server_version(cluster_factory())
    except EspiaError:
        out.write("Server version: unknown\n")
        raise
    out.write(f"Server version: {'v' + deployed if deployed else 'not installed'}\n")
    return 0
