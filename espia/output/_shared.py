"""Formatting done once per container instead of once per event.

The enrichment fields (RUNTIME.*, K8S.*) of an event come from its
container object, shared by all the container's events; their rendered text
is too.  Outputs format them once per container and reuse the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from espia.gadget.event import Event
from espia.gadget.fields import Field

LIMIT = 4096
Text = TypeVar("Text", str, bytes)


def container_only(field: Field) -> bool:
    """Whether `field` reads nothing but the event's container."""
    return field.path[:1] == ("container",)


def leading_container_fields(fields: tuple[Field, ...]) -> int:
    """How many of the first `fields` are container-only."""
    count = 0
    for field in fields:
        if not container_only(field):
            break
        count += 1
    return count


def per_container(render: Callable[[Event], Text]) -> Callable[[Event], Text]:
    """`render`, computed once per container object and then looked up."""
    cache: dict[int, tuple[object, Text]] = {}

    def cached(event: Event) -> Text:
        container = event.container
        hit = cache.get(id(container))
        if hit is None or hit[0] is not container:
            if len(cache) >= LIMIT:
                cache.clear()
            hit = cache[id(container)] = (container, render(event))
        return hit[1]

    return cached
