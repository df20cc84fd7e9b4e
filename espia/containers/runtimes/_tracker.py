"""One STARTED and one STOPPED per container, out of a runtime's noisier stream.

Runtimes report a container's end several times (containerd: task exit, task
delete, container delete; Docker: die, destroy) and espia's consumers want it
once, with the container as it was known while running (pid, namespaces), so
that they can drop what they attached to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from espia.containers.model import Container, ContainerEvent, ContainerEventKind


class Running:
    """The containers a runtime is known to run, by id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Container] = {}

    def reset(self, containers: Iterable[Container]) -> None:
        """Replace what is known with a fresh list."""
        self._by_id = {c.id: c for c in containers}

    def get(self, container_id: str) -> Container | None:
        """The running container with this id, if known."""
        return self._by_id.get(container_id)

    def ids(self) -> set[str]:
        """The ids of every container known to run."""
        return set(self._by_id)

    def started(self, container: Container) -> ContainerEvent:
        """Record a start."""
        self._by_id[container.id] = container
        return ContainerEvent(ContainerEventKind.STARTED, container)

    def exited(self, container_id: str, unknown: Container) -> ContainerEvent:
        """An authoritative end (init process exit): always reported, with ``unknown``
        standing in for a container that started before anyone was looking."""
        container = self._by_id.pop(container_id, unknown)
        return ContainerEvent(ContainerEventKind.STOPPED, container)

    def removed(self, container_id: str) -> ContainerEvent | None:
        """A late echo (delete, destroy): reported only if the exit was never seen."""
        container = self._by_id.pop(container_id, None)
        return None if container is None else ContainerEvent(ContainerEventKind.STOPPED, container)
