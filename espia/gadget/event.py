"""The events gadgets yield.

Each gadget gets its own ``Event`` subclass, generated from the BTF of its
event struct (``OpenEvent`` with ``pid``, ``comm``, ``path``...), with slots
so that attribute access is a C-level load.  The ``container`` attribute is
set by the enrichment stage: the :class:`~espia.containers.model.Container`
the event belongs to, or ``NO_CONTAINER`` for processes outside containers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from espia.gadget.fields import Field, ValueKind

if TYPE_CHECKING:
    from espia.containers.model import Container


class Event:
    """One event of a gadget; attributes are its fields' raw values."""

    __slots__ = ("container",)

    container: Container

    gadget: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    # Each field with the compiled function that reads its raw value.
    _getters: ClassVar[tuple[tuple[Field, Callable[[Event], Any]], ...]] = ()

    def get(self, name: str) -> Any:
        """The value of field `name` (case-insensitive) as JSON shows it: "k8s.pod", "errname"."""
        wanted = name.lower()
        for field, getter in type(self)._getters:
            if field.name.lower() == wanted:
                raw = getter(self)
                return field.text(raw) if field.json_text else raw
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON would show it: nested keys, rendered values where meant."""
        out: dict[str, Any] = {}
        for field, getter in type(self)._getters:
            raw = getter(self)
            value: Any = field.text(raw) if field.json_text else raw
            if field.json_value is not None:
                value = field.json_value(raw)
            elif field.kind is ValueKind.MAP:
                value = dict(value)
            node = out
            *parents, leaf = field.name.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        return out

    def __repr__(self) -> str:
        values = ", ".join(
            f"{field.name}={getter(self)!r}"
            for field, getter in type(self)._getters
            if not field.hidden
        )
        return f"{type(self).__name__}({values})"
