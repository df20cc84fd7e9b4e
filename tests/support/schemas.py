"""Event schemas and events made in the test, for stages tested on injected events.

A gadget fed by a user-space source declares its fields' types in
gadget.yaml; a spec built here does the same, so a stage's schema needs no
object, no BTF and no kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from espia.containers.model import NO_CONTAINER
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, build_source_schema
from espia.gadget.spec import GadgetSpec


def schema(
    name: str = "made", join: str | None = None, extra: tuple[Field, ...] = (), **types: str
) -> EventSchema:
    """A schema whose fields are `extra` (container fields...), then `types`
    ({"pid": "gadget_pid", "path": "string"...})."""
    spec = GadgetSpec(
        name=name,
        category="trace",
        description="",
        folder=Path("/nonexistent"),
        field_options={field: {"type": kind} for field, kind in types.items()},
        data_source="injected",
        join=join,
    )
    return build_source_schema(spec, extra)


def event(of: EventSchema, **values: Any) -> Event:
    """An event of `of` with these attribute values (and no container unless given)."""
    made = object.__new__(of.event_class)
    made.container = values.pop("container", NO_CONTAINER)
    for name, value in values.items():
        setattr(made, name, value)
    return made
