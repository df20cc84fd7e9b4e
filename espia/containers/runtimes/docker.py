"""Docker Engine API runtimes: dockerd, and podman through its compatible API.

The Engine API names containers and returns their init pid in one inspect
call. Kubernetes pods on Docker (cri-dockerd) carry the kubelet's labels on
each container; pod labels sit on the sandbox container's labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

from espia.containers.model import Container, ContainerEvent

from ._http import EngineClient, NotFound
from ._k8s import k8s_meta
from ._proc import process_ids
from ._tracker import Running


class DockerRuntime:
    """Containers of dockerd, or of any daemon that speaks the Docker Engine API."""

    default_name: ClassVar[str] = "docker"
    default_socket: ClassVar[str] = "/var/run/docker.sock"
    # Event actions: the end of the init process, and the container's removal.
    exit_actions: ClassVar[frozenset[str]] = frozenset({"die"})
    remove_actions: ClassVar[frozenset[str]] = frozenset({"destroy"})

    def __init__(self, socket: str | None = None, name: str | None = None) -> None:
        self.name = name or self.default_name
        self._api = EngineClient(self.name, socket or self.default_socket)
        self._api.get("/_ping")  # cheap, unlike /version (podman computes host info: ~400 ms)
        self._running = Running()

    def list_containers(self) -> list[Container]:
        """Running (and paused) containers, inspected one by one for their pid."""
        summaries = self._api.get_json("/containers/json")
        inspected: dict[str, Any] = {}
        result = []
        for summary in summaries:
            container = self._inspect(str(summary["Id"]), inspected)
            if container is not None and container.pid:
                result.append(container)
        self._running.reset(result)
        return result

    def _inspect_raw(self, container_id: str, cache: dict[str, Any]) -> Any:
        """``/containers/{id}/json``, or None for a container already removed."""
        if container_id not in cache:
            try:
                cache[container_id] = self._api.get_json(f"/containers/{quote(container_id)}/json")
            except NotFound:
                cache[container_id] = None
        return cache[container_id]

    def _inspect(self, container_id: str, cache: dict[str, Any]) -> Container | None:
        data = self._inspect_raw(container_id, cache)
        if data is None:
            return None
        config = data.get("Config") or {}
        labels: Mapping[str, str] = MappingProxyType(dict(config.get("Labels") or {}))

        def pod_labels_of(sandbox: str) -> Mapping[str, str]:
            found = self._inspect_raw(sandbox, cache)
            return dict((found.get("Config") or {}).get("Labels") or {}) if found else {}

        state = data.get("State") or {}
        ids = process_ids(int(state.get("Pid") or 0) if state.get("Running") else 0)
        return Container(
            id=str(data["Id"]),
            name=str(data.get("Name", "")).lstrip("/"),
            runtime=self.name,
            image=str(config.get("Image", "")),
            pid=ids.pid,
            mntns=ids.mntns,
            netns=ids.netns,
            cgroup=ids.cgroup,
            labels=labels,
            k8s=k8s_meta(labels, pod_labels_of),
        )

    def watch(self) -> Iterator[ContainerEvent]:
        """Container start, exit and removal from ``/events``, until :meth:`close`.

        A daemon that stops or restarts ends the stream with RuntimeUnavailable;
        the caller lists again and calls ``watch()`` anew.
        """
        actions = ["start", *sorted(self.exit_actions | self.remove_actions)]
        filters = json.dumps({"type": ["container"], "event": actions})
        for event in self._api.stream_json(f"/events?filters={quote(filters)}"):
            action = event.get("Action") or event.get("status", "")
            actor = event.get("Actor") or {}
            cid = str(actor.get("ID") or event.get("id", ""))
            if action == "start":
                found = self._inspect(cid, {})
                yield self._running.started(found or Container(cid, cid, self.name))
            elif action in self.exit_actions:
                attributes = actor.get("Attributes") or {}
                unknown = Container(
                    cid, attributes.get("name", cid), self.name, image=attributes.get("image", "")
                )
                yield self._running.exited(cid, unknown)
            elif action in self.remove_actions and (gone := self._running.removed(cid)):
                yield gone

    def close(self) -> None:
        """End :meth:`watch`; idempotent."""
        self._api.close()
