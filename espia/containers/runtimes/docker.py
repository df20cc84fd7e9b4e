"""Docker Engine API runtimes: dockerd, and podman through its compatible API.

The Engine API names containers, and its inspect call returns the init pid.
Kubernetes pods on Docker (cri-dockerd) carry the kubelet's labels on each
container; pod labels sit on the sandbox container's labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple
from urllib.parse import quote

from espia.containers.model import Container, ContainerEvent

from ._http import EngineClient, NotFound
from ._k8s import k8s_meta
from ._proc import process_ids
from ._tracker import Running


class Record(NamedTuple):
    """What espia needs of one container, whichever endpoint reported it."""

    id: str
    name: str
    image: str
    labels: Mapping[str, str]
    pid: int


def _from_inspect(data: Any) -> Record:
    config = data.get("Config") or {}
    state = data.get("State") or {}
    return Record(
        id=str(data["Id"]),
        name=str(data.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        labels=MappingProxyType(dict(config.get("Labels") or {})),
        pid=int(state.get("Pid") or 0) if state.get("Running") else 0,
    )


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

    def _inspect(self, container_id: str) -> Record | None:
        """One container, or None once it has been removed."""
        try:
            return _from_inspect(self._api.get_json(f"/containers/{quote(container_id)}/json"))
        except NotFound:
            return None

    def _running_records(self) -> list[Record]:
        """Running containers; Docker's list has no pids, so each one is inspected."""
        records = []
        for summary in self._api.get_json("/containers/json"):
            record = self._inspect(str(summary["Id"]))
            if record is not None and record.pid:
                records.append(record)
        return records

    def list_containers(self) -> list[Container]:
        """Running (and paused) containers."""
        records = self._running_records()
        known: dict[str, Record | None] = {r.id: r for r in records}
        result = [self._container(r, known) for r in records]
        self._running.reset(result)
        return result

    def _container(self, record: Record, known: dict[str, Record | None]) -> Container:
        def pod_labels_of(sandbox: str) -> Mapping[str, str]:
            if sandbox not in known:
                known[sandbox] = self._inspect(sandbox)
            found = known[sandbox]
            return found.labels if found is not None else {}

        ids = process_ids(record.pid)
        return Container(
            id=record.id,
            name=record.name,
            runtime=self.name,
            image=record.image,
            pid=ids.pid,
            mntns=ids.mntns,
            netns=ids.netns,
            cgroup=ids.cgroup,
            labels=record.labels,
            k8s=k8s_meta(record.labels, pod_labels_of),
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
            attributes = actor.get("Attributes") or {}
            unknown = Container(
                cid, attributes.get("name", cid), self.name, attributes.get("image", "")
            )
            if action == "start":
                record = self._inspect(cid)
                yield self._running.started(self._container(record, {}) if record else unknown)
            elif action in self.exit_actions:
                yield self._running.exited(cid, unknown)
            elif action in self.remove_actions and (gone := self._running.removed(cid)):
                yield gone

    def close(self) -> None:
        """End :meth:`watch`; idempotent."""
        self._api.close()
