"""A kubelet's-eye CRI client for tests: pods created through RunPodSandbox and CreateContainer.

espia only reads the CRI; these writes exist so that tests see containers
exactly as a kubelet leaves them (labels, annotations, sandboxes), without a
kubelet. Methods are called by path, since espia's read-only stub lacks them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from espia.containers.runtimes._proto import cri_api_pb2 as api

from . import cri_test_pb2 as w
from .runtimes import IMAGE, SLEEP, Pod, kubelet_container_labels, kubelet_sandbox_labels


class CriPods:
    """Pods on a CRI endpoint (host network, so no CNI is needed)."""

    def __init__(self, socket: str) -> None:
        import grpc

        self.channel = grpc.insecure_channel(f"unix://{socket}")

    def _call(self, method: str, request: Any, response: Any) -> Any:
        rpc = self.channel.unary_unary(
            f"/runtime.v1.RuntimeService/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response.FromString,
        )
        return rpc(request, timeout=60)

    def run_pod(
        self, name: str, namespace: str, pod_labels: Mapping[str, str], containers: Sequence[str]
    ) -> Pod:
        """RunPodSandbox, then CreateContainer and StartContainer for each container name."""
        uid = str(uuid.uuid4())
        config = w.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=uid),
            labels={**pod_labels, **kubelet_sandbox_labels(name, namespace, uid)},
            linux=w.LinuxPodSandboxConfig(
                security_context=w.LinuxSandboxSecurityContext(
                    namespace_options=w.NamespaceOption(network=w.NODE, pid=w.CONTAINER)
                )
            ),
        )
        sandbox = self._call(
            "RunPodSandbox", w.RunPodSandboxRequest(config=config), w.RunPodSandboxResponse
        ).pod_sandbox_id
        ids = {}
        try:
            for container in containers:
                spec = w.ContainerConfig(
                    metadata=api.ContainerMetadata(name=container),
                    image=api.ImageSpec(image=f"docker.io/library/{IMAGE}"),
                    command=SLEEP,
                    labels=kubelet_container_labels(name, namespace, uid, container),
                )
                request = w.CreateContainerRequest(
                    pod_sandbox_id=sandbox, config=spec, sandbox_config=config
                )
                cid = self._call("CreateContainer", request, w.CreateContainerResponse).container_id
                ids[container] = cid
                self.start(cid)
        except BaseException:
            self.remove_pod(Pod(name, namespace, uid, dict(pod_labels), sandbox, ids))
            raise
        return Pod(name, namespace, uid, dict(pod_labels), sandbox, ids)

    def start(self, cid: str) -> None:
        """StartContainer."""
        self._call(
            "StartContainer", w.StartContainerRequest(container_id=cid), w.StartContainerResponse
        )

    def stop(self, cid: str) -> None:
        """StopContainer, without grace."""
        request = w.StopContainerRequest(container_id=cid, timeout=0)
        self._call("StopContainer", request, w.StopContainerResponse)

    def remove_pod(self, pod: Pod) -> None:
        """StopPodSandbox and RemovePodSandbox (which removes the pod's containers)."""
        self._call(
            "StopPodSandbox",
            w.StopPodSandboxRequest(pod_sandbox_id=pod.sandbox_id),
            w.StopPodSandboxResponse,
        )
        self._call(
            "RemovePodSandbox",
            w.RemovePodSandboxRequest(pod_sandbox_id=pod.sandbox_id),
            w.RemovePodSandboxResponse,
        )

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()
