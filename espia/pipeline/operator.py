"""The shape of a pipeline stage.

Stages run in a fixed order on every batch.  `start` runs once the object is
loaded (a stage may fill its maps there, as container selection does);
`stop` runs in reverse order when the gadget ends, whatever the reason.
"""

from __future__ import annotations

from espia.ebpf.object import BpfObject
from espia.gadget.event import Event


class Operator:
    """A stage: override `process`, and `start`/`stop` if it holds resources."""

    name = "operator"

    def start(self, obj: BpfObject) -> None:
        """Called after load, before attach."""

    def process(self, events: list[Event]) -> list[Event]:
        return events

    def stop(self) -> None:
        """Called once when the gadget ends."""
