"""containerd through its native gRPC API (the same socket the kubelet uses).

containerd has no container names and keeps Kubernetes identity in two places:
the kubelet's labels on the container, and the CRI plugin's annotations in the
OCI spec stored with it. Pod labels sit on the sandbox container. Containers
live in containerd namespaces ("k8s.io" for the kubelet, "moby" for Docker,
"default" for ctr); each call names one in the ``containerd-namespace`` header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from espia.containers.model import Container, ContainerEvent

from ._grpc import PING_TIMEOUT, GrpcClient, Method, method
from ._k8s import k8s_meta
from ._proc import process_ids
from ._tracker import Running

DEFAULT_SOCKET = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACES = ("k8s.io",)

_RUNNING = (2, 4)  # containerd.v1.types.Status RUNNING, PAUSED: their processes exist
_TOPICS = ("/tasks/start", "/tasks/exit", "/tasks/delete", "/containers/delete")


def _namespace_header(namespace: str) -> tuple[tuple[str, str]]:
    return (("containerd-namespace", namespace),)


def _annotations(spec: Any) -> Mapping[str, str]:
    """The OCI annotations of a container's spec (JSON inside a protobuf Any)."""
    if not spec.value:
        return {}
    try:
        annotations = json.loads(spec.value).get("annotations")
    except (ValueError, AttributeError):
        return {}
    return annotations if isinstance(annotations, dict) else {}


class ContainerdRuntime:
    """Containers of a containerd daemon, in the namespaces asked for."""

    def __init__(
        self,
        socket: str = DEFAULT_SOCKET,
        name: str = "containerd",
        namespaces: Sequence[str] = DEFAULT_NAMESPACES,
    ) -> None:
        from ._proto import (
            containerd_containers_pb2,
            containerd_events_pb2,
            containerd_tasks_pb2,
            containerd_version_pb2,
        )

        self.name = name
        self.namespaces = tuple(namespaces)
        self._list_tasks = method(containerd_tasks_pb2, "Tasks", "List")
        self._list = method(containerd_containers_pb2, "Containers", "List")
        self._get_container = method(containerd_containers_pb2, "Containers", "Get")
        self._subscribe = method(containerd_events_pb2, "Events", "Subscribe")
        self._client = GrpcClient(name, socket)
        try:
            self._ping(method(containerd_version_pb2, "Version", "Version"))
        except BaseException:
            self._client.close()
            raise
        self._running = Running()
        self._sandbox_labels: dict[str, Mapping[str, str]] = {}

    def _ping(self, version: Method) -> None:
        """Prove the daemon answers gRPC (a socket can accept and still not serve)."""
        from google.protobuf import empty_pb2

        self._client.call(version, empty_pb2.Empty(), "get version", timeout=PING_TIMEOUT)

    def list_containers(self) -> list[Container]:
        """Containers whose task is running (or paused), in every selected namespace."""
        from ._proto import containerd_containers_pb2, containerd_tasks_pb2

        result: list[Container] = []
        sandbox_labels: dict[str, Mapping[str, str]] = {}
        for namespace in self.namespaces:
            header = _namespace_header(namespace)
            tasks = self._client.call(
                self._list_tasks, containerd_tasks_pb2.ListTasksRequest(), "list tasks", header
            ).tasks
            pids = {t.id: t.pid for t in tasks if t.status in _RUNNING}
            if not pids:
                continue
            listed = self._client.call(
                self._list,
                containerd_containers_pb2.ListContainersRequest(),
                "list containers",
                header,
            ).containers
            by_id = {c.id: c for c in listed}
            for c in listed:  # any of them may be a pod's sandbox, running or not
                sandbox_labels[c.id] = MappingProxyType(dict(c.labels))
            result.extend(
                self._container(by_id[cid], pid, namespace, sandbox_labels)
                for cid, pid in pids.items()
                if cid in by_id
            )
        self._sandbox_labels = sandbox_labels
        self._running.reset(result)
        return result

    def _container(
        self, c: Any, pid: int, namespace: str, sandbox_labels: dict[str, Mapping[str, str]]
    ) -> Container:
        labels = MappingProxyType(dict(c.labels))
        meta = {**_annotations(c.spec), **labels}

        def pod_labels_of(sandbox: str) -> Mapping[str, str]:
            if sandbox not in sandbox_labels:
                found = self._get(sandbox, namespace)
                sandbox_labels[sandbox] = MappingProxyType(dict(found.labels) if found else {})
            return sandbox_labels[sandbox]

        k8s = k8s_meta(meta, pod_labels_of)
        if not k8s.pod:
            name = labels.get("nerdctl/name", c.id)
        else:
            name = k8s.pod if k8s.sandbox else (k8s.container or c.id)
        ids = process_ids(pid)
        return Container(
            id=c.id,
            name=name,
            runtime=self.name,
            image=c.image,
            pid=ids.pid,
            mntns=ids.mntns,
            netns=ids.netns,
            cgroup=ids.cgroup,
            labels=labels,
            k8s=k8s,
        )

    def _get(self, container_id: str, namespace: str) -> Any | None:
        """One container's record, or None if it is already gone."""
        from ._proto import containerd_containers_pb2

        request = containerd_containers_pb2.GetContainerRequest(id=container_id)
        header = _namespace_header(namespace)
        found = self._client.find(self._get_container, request, "get container", header)
        return found.container if found is not None else None

    def watch(self) -> Iterator[ContainerEvent]:
        """Task starts and ends from containerd's event stream, until :meth:`close`.

        A containerd that stops or restarts ends the stream with
        RuntimeUnavailable; the caller lists again and calls ``watch()`` anew.
        """
        from ._proto import containerd_event_types_pb2 as ev
        from ._proto import containerd_events_pb2

        filters = [
            f'topic=="{topic}",namespace=="{namespace}"'
            for namespace in self.namespaces
            for topic in _TOPICS
        ]
        request = containerd_events_pb2.SubscribeRequest(filters=filters)
        for envelope in self._client.stream(self._subscribe, request, "watch events"):
            topic, payload = envelope.topic, envelope.event.value
            if topic == "/tasks/start":
                start = ev.TaskStart.FromString(payload)
                yield self._running.started(self._started(start, envelope.namespace))
            elif topic == "/tasks/exit":
                exit_ = ev.TaskExit.FromString(payload)
                if exit_.id in ("", exit_.container_id):  # not an exec'd process
                    cid = exit_.container_id
                    yield self._running.exited(cid, Container(cid, cid, self.name))
            elif topic == "/tasks/delete":
                delete = ev.TaskDelete.FromString(payload)
                if delete.id in ("", delete.container_id):
                    yield from self._removed(delete.container_id)
            else:  # /containers/delete
                yield from self._removed(ev.ContainerDelete.FromString(payload).id)

    def _removed(self, container_id: str) -> Iterator[ContainerEvent]:
        self._sandbox_labels.pop(container_id, None)
        if (event := self._running.removed(container_id)) is not None:
            yield event

    def _started(self, start: Any, namespace: str) -> Container:
        found = self._get(start.container_id, namespace)
        if found is None:  # deleted before we could look: report what the event said
            ids = process_ids(start.pid)
            cid = start.container_id
            return Container(cid, cid, self.name, **ids._asdict())
        container = self._container(found, start.pid, namespace, self._sandbox_labels)
        if container.k8s.sandbox:
            self._sandbox_labels[container.id] = container.labels
        return container

    def close(self) -> None:
        """End :meth:`watch` and release the channel; idempotent."""
        self._client.close()
