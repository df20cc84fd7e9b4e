"""Kubernetes identity from the labels and annotations runtimes keep on containers.

The kubelet labels every container it creates (``io.kubernetes.pod.name``...)
and each CRI implementation adds its own annotations: containerd's CRI plugin
``io.kubernetes.cri.*`` in the OCI spec, CRI-O ``io.kubernetes.cri-o.*``,
cri-dockerd ``io.kubernetes.docker.type`` / ``io.kubernetes.sandbox.id``
labels. Callers merge a container's annotations and labels into one mapping
and this module reads whichever spelling is present. Pod labels are not on
the containers: they live on the pod's sandbox, found through its id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from espia.containers.model import K8sMeta

_NAMESPACE = ("io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace")
_POD = ("io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name")
_CONTAINER = ("io.kubernetes.container.name", "io.kubernetes.cri.container-name")
_POD_UID = ("io.kubernetes.pod.uid", "io.kubernetes.cri.sandbox-uid")
_TYPE = (
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri-o.ContainerType",
    "io.kubernetes.docker.type",
)
_SANDBOX_ID = (
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
    "io.kubernetes.sandbox.id",
)
_SANDBOX_TYPES = frozenset({"sandbox", "podsandbox"})
# Keys the kubelet and the runtimes add to a sandbox's labels; the rest are the pod's own.
_SYSTEM_PREFIXES = ("io.kubernetes.", "io.cri-containerd.")

_NOT_IN_A_POD = K8sMeta()

PodLabelsOf = Callable[[str], Mapping[str, str]]


def _first(meta: Mapping[str, str], keys: tuple[str, ...]) -> str:
    return next((meta[k] for k in keys if meta.get(k)), "")


def sandbox_id(meta: Mapping[str, str]) -> str:
    """The id of the pod sandbox a container belongs to ("" outside Kubernetes)."""
    return _first(meta, _SANDBOX_ID)


def is_sandbox(meta: Mapping[str, str]) -> bool:
    """Whether this is a pod's sandbox (pause) container rather than a workload."""
    return _first(meta, _TYPE) in _SANDBOX_TYPES


def pod_labels(sandbox_labels: Mapping[str, str]) -> Mapping[str, str]:
    """The user's pod labels among a sandbox's labels."""
    return MappingProxyType(
        {k: v for k, v in sandbox_labels.items() if not k.startswith(_SYSTEM_PREFIXES)}
    )


def k8s_meta(meta: Mapping[str, str], pod_labels_of: PodLabelsOf | None = None) -> K8sMeta:
    """The pod identity in ``meta`` (labels over annotations); empty outside Kubernetes.

    ``pod_labels_of(sandbox_id)`` returns the sandbox's raw labels; it is only
    called for pod containers that name their sandbox.
    """
    namespace = _first(meta, _NAMESPACE)
    pod = _first(meta, _POD)
    if not namespace and not pod:
        return _NOT_IN_A_POD
    sandbox = sandbox_id(meta)
    return K8sMeta(
        namespace=namespace,
        pod=pod,
        container=_first(meta, _CONTAINER),
        pod_uid=_first(meta, _POD_UID),
        pod_labels=pod_labels(pod_labels_of(sandbox) if sandbox and pod_labels_of else {}),
        sandbox=is_sandbox(meta),
    )
