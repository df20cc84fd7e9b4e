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
from espia.kubectl.cluster import Cluster, ClusterError
from espia.kubectl.manifests import LABEL, LABELS, NAME, DeployOptions, objects

POLL = 1.0


def _api(cluster: Cluster, kind: str) -> tuple[Callable[..., Any], ...]:
    """(create, read, replace, delete) for `kind`; namespaced ones take the namespace last."""
    core, apps, rbac = cluster.core, cluster.apps, cluster.rbac
    table: dict[str, tuple[Callable[..., Any], ...]] = {
        "Namespace": (
            core.create_namespace,
            core.read_namespace,
            core.replace_namespace,
            core.delete_namespace,
        ),
        "ServiceAccount": (
            core.create_namespaced_service_account,
            core.read_namespaced_service_account,
            core.replace_namespaced_service_account,
            core.delete_namespaced_service_account,
        ),
        "ClusterRole": (
            rbac.create_cluster_role,
            rbac.read_cluster_role,
            rbac.replace_cluster_role,
            rbac.delete_cluster_role,
        ),
        "ClusterRoleBinding": (
            rbac.create_cluster_role_binding,
            rbac.read_cluster_role_binding,
            rbac.replace_cluster_role_binding,
            rbac.delete_cluster_role_binding,
        ),
        "DaemonSet": (
            apps.create_namespaced_daemon_set,
            apps.read_namespaced_daemon_set,
            apps.replace_namespaced_daemon_set,
            apps.delete_namespaced_daemon_set,
        ),
    }
    return table[kind]


def _where(item: dict[str, Any]) -> tuple[str, ...]:
    meta = item["metadata"]
    return (meta["name"], meta["namespace"]) if "namespace" in meta else (meta["name"],)


def apply(cluster: Cluster, item: dict[str, Any]) -> str:
    """Creates `item`, or replaces the one there; "created" or "configured"."""
    create, read, replace, _ = _api(cluster, item["kind"])
    what = f"{item['kind']} {'/'.join(reversed(_where(item)))}"
    where = _where(item)
    current = cluster.read_or_none(f"read {what}", read, *where)
    if current is None:
        if len(where) == 2:
            cluster.call(f"create {what}", create, where[1], item)
        else:
            cluster.call(f"create {what}", create, item)
        return "created"
    item = {
        **item,
        "metadata": {**item["metadata"], "resourceVersion": current.metadata.resource_version},
    }
    cluster.call(f"update {what}", replace, *where, item)
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
    ds = cluster.call(
        f"read daemonset {namespace}/{NAME}",
        cluster.apps.read_namespaced_daemon_set,
        NAME,
        namespace,
    )
    status = ds.status
    desired = status.desired_number_scheduled or 0
    ready = min(status.number_ready or 0, status.updated_number_scheduled or 0)
    settled = (status.observed_generation or 0) >= (ds.metadata.generation or 0)
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
    namespaces = {namespace} | {d.metadata.namespace for d in cluster.agent_daemonsets()}
    targets: list[tuple[str, tuple[str, ...]]] = []
    for ns in sorted(namespaces):
        targets += [("DaemonSet", (NAME, ns)), ("ServiceAccount", (NAME, ns))]
    targets += [("ClusterRoleBinding", (NAME,)), ("ClusterRole", (NAME,))]
    targets += [("Namespace", (ns,)) for ns in sorted(namespaces)]
    deleted: list[tuple[str, tuple[str, ...]]] = []
    for kind, where in targets:
        _, read, _, delete = _api(cluster, kind)
        what = f"{kind} {'/'.join(reversed(where))}"
        current = cluster.read_or_none(f"read {what}", read, *where)
        if current is None:
            continue
        if (current.metadata.labels or {}).get(LABEL) != LABELS[LABEL]:
            err.write(f"espia: warning: {what} was not made by deploy: left alone\n")
            continue
        cluster.call(f"delete {what}", delete, *where)
        err.write(f"{kind.lower()}/{where[0]} deleted\n")
        deleted.append((kind, where))
    if not deleted:
        err.write("espia: nothing to undeploy: no espia agent is deployed\n")
    if wait:
        deadline = time.monotonic() + timeout
        # Namespaces go last, after their pods: their deletion is the slow part.
        while cluster.agent_pods() or any(
            cluster.read_or_none(f"read {kind} {where[-1]}", _api(cluster, kind)[1], *where)
            for kind, where in deleted
        ):
            if time.monotonic() > deadline:
                raise ClusterError(f"undeploy: objects are still there after {timeout:g}s")
            time.sleep(POLL)
    return 0


def server_version(cluster: Cluster) -> str | None:
    """The deployed agent's version (its DaemonSet's), or None when none is deployed."""
    for ds in cluster.agent_daemonsets():
        annotations = ds.spec.template.metadata.annotations or {}
        return annotations.get("espia.dev/version", "unknown")
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
