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

from dataclasses import asdict, dataclass
from typing import Any

from espia import semantic
from espia.errors import UsageError
from espia.gadget.fields import Field
from espia.gadget.schema import EventSchema, attribute

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
    heading: str = ""
    # The semantic typedef of the member it comes from (types.h), "" if none.
    type: str = ""
    # Attribute names from the event to the raw value (("container", "k8s", "pod")).
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
    # How outputs show the events when not one per line (gadget.yaml `view:`; "stacks").
    view: str = ""
    # The default order of an interval gadget's rows (gadget.yaml `sort:`), if any.
    sort: tuple[str, ...] = ()
    # The rows are histogram buckets: gadget.yaml's `histogram:` (bucket, count, unit).
    histogram: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, schema: EventSchema) -> WireSchema:
        typedefs = {
            attribute(leaf.name): next(
                (t for t in leaf.typedefs if semantic.lookup(t) is not None), ""
            )
            for leaf in schema.leaves
        }
        key = schema.join_key()
        return cls(
            gadget=schema.spec.title,
            fields=tuple(_wire_field(f, typedefs) for f in schema.fields),
            join=key[0] if key else None,
            lists=schema.spec.json_lists,
            columns=schema.spec.columns,
            view=schema.spec.view,
            sort=schema.spec.sort,
            histogram=tuple(schema.spec.histogram.items()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "gadget": self.gadget,
            "join": self.join,
            "lists": self.lists,
            "columns": list(self.columns),
            "view": self.view,
            "sort": list(self.sort),
            "histogram": dict(self.histogram),
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
            view = str(data.get("view") or "")
            sort = tuple(str(c) for c in data.get("sort", ()))
            histogram = tuple((str(k), str(v)) for k, v in data.get("histogram", {}).items())
            return cls(
                str(data["gadget"]),
                fields,
                data["join"],
                bool(data["lists"]),
                columns,
                view,
                sort,
                histogram,
            )
        except (KeyError, TypeError) as exc:
            raise UsageError(f"event schema: malformed ({exc})") from None

    def field(self, name: str) -> WireField:
        wanted = name.lower()
        for field in self.fields:
            if field.name.lower() == wanted:
                return field
        raise UsageError(f"{self.gadget} has no field {name!r}")


def _wire_field(field: Field, typedefs: dict[str, str]) -> WireField:
    path = field.path
    return WireField(
        name=field.name,
        kind=field.kind.value,
        description=field.description,
        hidden=field.hidden,
        width=field.width,
        right=field.right,
        untrusted=field.untrusted,
        json_text=field.json_text,
        heading=field.heading,
        type=typedefs.get(path[0], "") if len(path) == 1 else "",
        path=path,
        rendered=field.render is not None,
    )
