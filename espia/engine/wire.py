"""The event schema as a value: what a remote client needs to filter and format events.

A gadget's :class:`~espia.gadget.schema.EventSchema` holds Python objects
(renderers, generated getters, an Event class) that cannot leave the
process.  :class:`WireSchema` is what can: field names, kinds and
presentation, how each field is reached from an event (a path of
attribute names), which semantic type it has, and how events join
containers.  No callables and no Python source: a client rebuilds
renderers from the semantic type names it knows itself, so a schema it
receives can never make it run code.  ``to_dict()``/``from_dict()`` give
and read plain JSON-able data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from espia.errors import UsageError
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, attribute, semantic_typedef

# A field read by a chain of attributes, e.g. "e.container.k8s.pod".
_PATH = re.compile(r"e(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
VERSION = 1


@dataclass(frozen=True, slots=True)
class WireField:
    """One field, as a client shows and filters it."""

    name: str
    kind: str  # ValueKind's value: int, str, bool, map
    description: str = ""
    hidden: bool = False
    width: int = 0
    right: bool = False
    untrusted: bool = False
    json_text: bool = False
    # The semantic typedef of the member it comes from (types.h), "" if none.
    type: str = ""
    # Attribute names from the event (("container", "k8s", "pod")); () for a
    # field whose value is not an attribute path.
    path: tuple[str, ...] = ()
    # Shown through its semantic type's rendering (ERRNAME: the name of ERR's value).
    rendered: bool = False

    @property
    def container(self) -> bool:
        """Whether the field is a value of the event's container (K8S.NODE included)."""
        return self.path[:1] == ("container",)


@dataclass(frozen=True, slots=True)
class WireSchema:
    """A gadget's events, described for a client that did not decode them."""

    gadget: str  # "trace open"
    fields: tuple[WireField, ...]
    # "mntns" or "netns": what ties an event to a container (None: nothing).
    join: str | None = None
    # JSON shows each batch as one list (snapshots, top intervals).
    lists: bool = False
    # The default columns the gadget names itself (gadget.yaml `columns:`), if any.
    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, schema: EventSchema) -> WireSchema:
        typedefs = {attribute(leaf.name): semantic_typedef(leaf) or "" for leaf in schema.leaves}
        key = schema.join_key()
        return cls(
            gadget=schema.spec.title,
            fields=tuple(_wire_field(f, typedefs) for f in schema.fields),
            join=key[0] if key else None,
            lists=schema.spec.json_lists,
            columns=schema.spec.columns,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "gadget": self.gadget,
            "join": self.join,
            "lists": self.lists,
            "columns": list(self.columns),
            "fields": [{**asdict(f), "path": list(f.path)} for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WireSchema:
        """Reads `to_dict()`'s data; anything else is a UsageError naming the problem."""
        try:
            if data["version"] != VERSION:
                raise UsageError(f"event schema version {data['version']!r}: expected {VERSION}")
            fields = tuple(
                WireField(**{**f, "path": tuple(str(p) for p in f["path"])}) for f in data["fields"]
            )
            columns = tuple(str(c) for c in data["columns"])
            return cls(str(data["gadget"]), fields, data["join"], bool(data["lists"]), columns)
        except (KeyError, TypeError) as exc:
            raise UsageError(f"event schema: malformed ({exc})") from None

    def field(self, name: str) -> WireField:
        wanted = name.lower()
        for field in self.fields:
            if field.name.lower() == wanted:
                return field
        raise UsageError(f"{self.gadget} has no field {name!r}")


def _wire_field(field: Field, typedefs: dict[str, str]) -> WireField:
    path = tuple(field.expr.split(".")[1:]) if _PATH.fullmatch(field.expr) else ()
    return WireField(
        name=field.name,
        kind=field.kind.value,
        description=field.description,
        hidden=field.hidden,
        width=field.width,
        right=field.right,
        untrusted=field.untrusted,
        json_text=field.json_text,
        type=typedefs.get(path[0], "") if len(path) == 1 else "",
        path=path,
        rendered=field.render is not None,
    )
