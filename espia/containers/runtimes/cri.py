"""The Kubernetes Container Runtime Interface (runtime.v1), for CRI-O and containerd's CRI plugin.

The CRI is the kubelet's view: containers and pod sandboxes with their
Kubernetes metadata, and a pid only in the verbose status's JSON ``info``.
Sandboxes are reported as containers too (marked ``k8s.sandbox``): they own
the pod's network namespace. CRI events (GetContainerEvents) only exist from
containerd 1.7 and CRI-O 1.26, and kubelets leave them off by default, so
:meth:`CriRuntime.watch` polls ListContainers, which every CRI runtime has.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from espia.containers.model import Container, ContainerEvent
from espia.errors import RuntimeUnavailable

from ._grpc import PING_TIMEOUT, GrpcClient, method
from ._k8s import k8s_meta
from ._proc import process_ids
from ._tracker import Running

DEFAULT_SOCKET = "/var/run/crio/crio.sock"
POLL_INTERVAL = 1.0


def _pid(info: Mapping[str, str]) -> int:
    """The pid in a verbose status's ``info`` JSON (containerd and CRI-O both write "pid")."""
    try:
        return int(json.loads(info.get("info", "{}")).get("pid") or 0)
    except (ValueError, TypeError, AttributeError):
        return 0


class CriRuntime:
    """Containers and pod sandboxes of a CRI runtime service."""

    def __init__(
        self,
        socket: str = DEFAULT_SOCKET,
        name: str = "cri-o",
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        from ._proto import cri_api_pb2

        self.name = name
        self.poll_interval = poll_interval
        self._cri = {
            name: method(cri_api_pb2, "RuntimeService", name)
            for name in (
                "Version",
                "ListPodSandbox",
                "ListContainers",
                "ContainerStatus",
                "PodSandboxStatus",
            )
        }
        self._client = GrpcClient(name, socket)
        try:
            version = cri_api_pb2.VersionRequest(version="v1")
            self._client.call(self._cri["Version"], version, "get version", timeout=PING_TIMEOUT)
        except BaseException:
            self._client.close()
            raise
        self._running = Running()
        self._stop = threading.Event()

    def list_containers(self) -> list[Container]:
        """Running containers and ready sandboxes."""
        result = self._list()
        self._running.reset(result)
        return result

    def _list(self) -> list[Container]:
        from ._proto import cri_api_pb2 as cri

        sandboxes = self._client.call(
            self._cri["ListPodSandbox"], cri.ListPodSandboxRequest(), "list pod sandboxes"
        ).items
        by_id = {s.id: s for s in sandboxes}
        running = cri.ContainerFilter(state=cri.ContainerStateValue(state=cri.CONTAINER_RUNNING))
        containers = self._client.call(
            self._cri["ListContainers"],
            cri.ListContainersRequest(filter=running),
            "list containers",
        ).containers
        ready = [s for s in sandboxes if s.state == cri.SANDBOX_READY]
        statuses = self._client.calls(
            self._cri["ContainerStatus"],
            [cri.ContainerStatusRequest(container_id=c.id, verbose=True) for c in containers],
            "get container status",
        )
        sandbox_statuses = self._client.calls(
            self._cri["PodSandboxStatus"],
            [cri.PodSandboxStatusRequest(pod_sandbox_id=s.id, verbose=True) for s in ready],
            "get pod sandbox status",
        )
        result = []
        for c, status in zip(containers, statuses, strict=True):
            if isinstance(status, Exception):  # removed since the list
                continue
            image = status.status.image.image or c.image.image
            extra = {"io.kubernetes.container.name": c.metadata.name}
            sandbox = by_id.get(c.pod_sandbox_id)
            result.append(self._container(c, sandbox, by_id, image, _pid(status.info), extra))
        for s, status in zip(ready, sandbox_statuses, strict=True):
            if not isinstance(status, Exception):
                result.append(self._container(s, s, by_id, "", _pid(status.info), {}))
        return result

    def _container(
        self,
        item: Any,
        sandbox: Any | None,
        sandboxes: Mapping[str, Any],
        image: str,
        pid: int,
        extra: dict[str, str],
    ) -> Container:
        """A Container from a CRI container or sandbox (``item is sandbox``)."""
        labels = MappingProxyType(dict(item.labels))
        meta = {**item.annotations, **labels, **extra}
        if sandbox is not None:
            meta.setdefault("io.kubernetes.pod.name", sandbox.metadata.name)
            meta.setdefault("io.kubernetes.pod.namespace", sandbox.metadata.namespace)
            meta.setdefault("io.kubernetes.pod.uid", sandbox.metadata.uid)
            meta["io.kubernetes.cri.sandbox-id"] = sandbox.id
            meta["io.kubernetes.cri.container-type"] = "sandbox" if item is sandbox else "container"

        def pod_labels_of(sandbox_id: str) -> Mapping[str, str]:
            found = sandboxes.get(sandbox_id)
            return found.labels if found is not None else {}

        ids = process_ids(pid)
        return Container(
            id=item.id,
            name=item.metadata.name,
            runtime=self.name,
            image=image,
            pid=ids.pid,
            mntns=ids.mntns,
            netns=ids.netns,
            cgroup=ids.cgroup,
            labels=labels,
            k8s=k8s_meta(meta, pod_labels_of),
        )

    def watch(self) -> Iterator[ContainerEvent]:
        """Starts and stops seen by polling every ``poll_interval`` s, until :meth:`close`.

        Containers not returned by an earlier :meth:`list_containers` are
        reported as started on the first poll. A runtime that stops raises
        RuntimeUnavailable; the caller lists again and calls ``watch()`` anew.
        """
        while not self._stop.is_set():
            try:
                current = {c.id: c for c in self._list()}
            except RuntimeUnavailable:
                if self._stop.is_set():
                    return
                raise
            for cid in self._running.ids() - current.keys():
                yield self._running.exited(cid, Container(cid, cid, self.name))
            for cid, container in current.items():
                if self._running.get(cid) is None:
                    yield self._running.started(container)
            self._stop.wait(self.poll_interval)

    def close(self) -> None:
        """End :meth:`watch` and release the channel; idempotent."""
        self._stop.set()
        self._client.close()
