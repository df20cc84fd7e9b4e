"""The fields a container gives its events: RUNTIME.* and K8S.*.

Every event carries the :class:`~espia.containers.model.Container` it
belongs to (``NO_CONTAINER`` outside containers); these fields read it.  They
are defined here, beside the model, because more than the enrichment stage
shows them: ``list-containers`` prints containers with the same columns.
"""

from __future__ import annotations

from espia.gadget.fields import Field, ValueKind

RUNTIME_FIELDS = (
    Field(
        "runtime.containerName",
        ("container", "name"),
        ValueKind.STR,
        "Name of the container, as its runtime knows it",
        width=20,
        untrusted=True,
    ),
    Field(
        "runtime.containerId",
        ("container", "id"),
        ValueKind.STR,
        "Id of the container",
        hidden=True,
        width=13,
    ),
    Field(
        "runtime.containerImageName",
        ("container", "image"),
        ValueKind.STR,
        "Image of the container",
        hidden=True,
        width=20,
        untrusted=True,
    ),
    Field(
        "runtime.runtimeName",
        ("container", "runtime"),
        ValueKind.STR,
        "Container runtime (containerd, docker, podman, cri-o)",
        hidden=True,
        width=10,
    ),
)


K8S_FIELDS = (
    Field(
        "k8s.node",
        ("container", "k8s", "node"),
        ValueKind.STR,
        "Kubernetes node",
        hidden=True,
        width=20,
    ),
    Field(
        "k8s.namespace",
        ("container", "k8s", "namespace"),
        ValueKind.STR,
        "Kubernetes namespace of the pod",
        hidden=True,
        width=14,
    ),
    Field("k8s.pod", ("container", "k8s", "pod"), ValueKind.STR, "Pod name", hidden=True, width=16),
    Field(
        "k8s.container",
        ("container", "k8s", "container"),
        ValueKind.STR,
        "Container name in the pod spec",
        hidden=True,
        width=14,
    ),
    Field(
        "k8s.podLabels",
        ("container", "k8s", "pod_labels"),
        ValueKind.MAP,
        "Labels of the pod",
        hidden=True,
        width=20,
    ),
)
