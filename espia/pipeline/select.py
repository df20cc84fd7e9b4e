"""Select: only the chosen containers' events, dropped in the kernel where possible.

The kernel side is filter.bpf.h's mount-namespace map: every namespace the
container collection classifies gets KEEP or DROP; a namespace not in the
map yet passes, so a container that just started is never dropped before
it is known.  This stage then checks every event in user space too (for
those new namespaces, and for gadgets keyed by network namespace, whose
programs do not run in the task's context).
"""

from __future__ import annotations

from typing import Protocol

from espia.containers.collection import Listener
from espia.containers.model import Container
from espia.containers.selector import ContainerSelector
from espia.gadget.event import Event
from espia.pipeline.operator import PRIORITY_SELECT, KernelConfig, MapWriter, Operator

MNTNS_MAP = "gadget_mntns_filter"
_KEEP = b"\x01"
_DROP = b"\x00"


class Classifications(Protocol):
    """Who tells which container each namespace belongs to (the container collection)."""

    def subscribe(self, listener: Listener) -> None: ...

    def unsubscribe(self, listener: Listener) -> None: ...


class ContainerSelection(Operator):
    """Drops the events of containers the selector does not pick."""

    name = "select"
    priority = PRIORITY_SELECT

    def __init__(self, selector: ContainerSelector, collection: Classifications, kind: str) -> None:
        self._selector = selector
        self._collection = collection
        # Only a gadget keyed by mount namespace runs where the current task's is right.
        self._in_kernel = kind == "mntns" and selector.active
        # By object id; the container is kept with its verdict so the id stays its own.
        self._verdicts: dict[int, tuple[Container, bool]] = {}
        self._map: MapWriter | None = None

    @staticmethod
    def kernel_filters(selector: ContainerSelector, kind: str) -> dict[str, int | str]:
        """The in-kernel filters this stage sets, known before there is a collection (the
        runtime loads the program while the containers are still being listed)."""
        return {"by_mntns": 1} if kind == "mntns" and selector.active else {}

    def contribute(self, kernel: KernelConfig) -> None:
        if self._in_kernel:
            kernel.filters.update(self.kernel_filters(self._selector, "mntns"))
            kernel.on_map(MNTNS_MAP, self._fill)

    def _fill(self, map_: MapWriter) -> None:
        """The program's namespace map, loaded: every classification from now on goes there."""
        self._map = map_
        self._collection.subscribe(self._classified)

    def _classified(self, kind: str, namespace: int, container: Container | None) -> None:
        if kind != "mntns" or self._map is None:
            return
        key = namespace.to_bytes(8, "little")
        if container is None:
            self._map.delete(key)
        else:
            self._map.update(key, _KEEP if self._selector.selects(container) else _DROP)

    def _selects(self, container: Container) -> bool:
        known = self._verdicts.get(id(container))
        if known is None:
            known = self._verdicts[id(container)] = (container, self._selector.selects(container))
        return known[1]

    def process(self, events: list[Event]) -> list[Event]:
        selects = self._selects
        return [event for event in events if selects(event.container)]

    def stop(self) -> None:
        self._collection.unsubscribe(self._classified)
        self._map = None
