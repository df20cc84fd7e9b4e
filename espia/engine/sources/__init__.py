"""User-space sources: the data of gadgets the kernel cannot stream here.

A snapshot is a BPF iterator's job, but kernels that refuse iterators (and
kernels before 5.8 lack some) need another way: a gadget.yaml may name a
``source:`` here instead of a program.  A source is a module with
``rows() -> Iterable[dict]``, one dict per event keyed by the gadget's field
names, values already in their Python form (an Endpoint for a
gadget_l4endpoint, an int for a gadget_netns_id...).  The engine turns rows
into the gadget's events; enrichment, filters and outputs follow as for any
gadget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any

from espia.containers.model import NO_CONTAINER
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.schema import EventSchema, attribute

Rows = Callable[[], Iterable[dict[str, Any]]]


def find_source(name: str) -> Rows:
    """The `rows` function of source `name`; a UsageError naming the gadget.yaml mistake."""
    if not name.isidentifier():
        raise UsageError(f"source {name!r}: not a source name")
    try:
        module = import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise UsageError(f"source {name!r}: espia has no such source") from None
    return module.rows  # type: ignore[no-any-return]


def make_events(schema: EventSchema, rows: Iterable[dict[str, Any]]) -> list[Event]:
    """The events of `rows` (every row has every field of the schema)."""
    cls = schema.event_class
    names = [(leaf.name, attribute(leaf.name)) for leaf in schema.leaves]
    events = []
    for row in rows:
        event = object.__new__(cls)
        for name, attr in names:
            setattr(event, attr, row[name])
        event.container = NO_CONTAINER
        events.append(event)
    return events
