"""The shape of a pipeline stage.

Stages run in a fixed order on every batch.  `start` runs once the object is
loaded (a stage may fill its maps there, as container selection does);
`stop` runs in reverse order when the gadget ends, whatever the reason.

`process` also runs on an empty batch whenever the gadget wakes up with no
records (at least every quarter second), so a stage can emit what time alone
produced, and `finish` hands over what a stage still holds when the stream
ends; both kinds of events go through the stages after it.
"""

from __future__ import annotations

from espia.ebpf.object import BpfObject
from espia.gadget.event import Event


class Operator:
    """A stage: override `process`, and `start`/`stop` if it holds resources."""

    name = "operator"

    def kernel_params(self) -> dict[str, int | str]:
        """In-kernel filter values this stage needs set before load (filter.bpf.h names)."""
        return {}

    def start(self, obj: BpfObject) -> None:
        """Called after load, before attach."""

    def process(self, events: list[Event]) -> list[Event]:
        return events

    def finish(self) -> list[Event]:
        """Events still held when the stream ends (after the last batch)."""
        return []

    def stop(self) -> None:
        """Called once when the gadget ends."""
