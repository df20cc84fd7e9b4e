"""Events on the wire between an agent and the cluster client, in columns.

The agent describes a run's events with the seam's
:class:`~espia.engine.wire.WireSchema` (the one description of a field,
sent as its JSON), and its :class:`BatchEncoder` turns a batch of events
into one ``Batch`` message: a column per field (zigzag varints, indexes
into the batch's table of distinct strings, a byte per flag), the events'
containers as references into a table each run sends once per container.
The client's :class:`RemoteSchema` turns that WireSchema into fields and an
event class, and a :class:`StreamDecoder` per node turns batches back into
events the local door's outputs print unchanged.

Nothing from the wire becomes code: the client's event attributes are
``_f0``, ``_f1``... whatever the fields are called, a container field must
have the path this client gives that name, and a field's text (FLAGS as
``O_WRONLY|O_CREAT``) travels beside its raw value instead of a renderer.
TIMESTAMP is the exception: every event's differs, so its text would be a
new string per event for the agent to render and the client to look up;
it travels as wall-clock nanoseconds (the agent's boot clock plus its
offset to the wall clock) and the client, which renders it as the local
door does, takes it back to its own boot clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from espia._codegen import compile_function
from espia.agent._proto import agent_pb2 as pb
from espia.containers.fields import K8S_FIELDS, RUNTIME_FIELDS
from espia.containers.model import Container, K8sMeta
from espia.engine.wire import WireField, WireSchema
from espia.errors import EspiaError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.gadget.schema import EventSchema
from espia.semantic.process import BOOT_CLOCK

# Containers a run remembers having sent; past this, it forgets and sends again.
CONTAINER_LIMIT = 4096
# Texts a client remembers per rendered field (values repeat: flags, errnos).
TEXT_LIMIT = 65536


class WireError(EspiaError):
    """An agent sent something this client cannot read (a version skew, or a bug)."""


def is_timestamp(field: WireField) -> bool:
    """Whether the field is a TIMESTAMP (boot-clock ns on the agent; wall-clock ns on the
    wire)."""
    return field.type == "gadget_timestamp" and field.kind == ValueKind.INT.value


def as_text(field: WireField) -> bool:
    """Whether only the field's text travels: every output shows its text, never its raw
    value (FLAGS, ERRNAME; filters run on the agent)."""
    return field.rendered and field.json_text and not is_timestamp(field)


def schema_message(wire: WireSchema, node: str, version: str) -> pb.Schema:
    """The agent's first reply: the seam's description of the run's events, as JSON."""
    return pb.Schema(
        gadget=wire.gadget,
        node=node,
        agent_version=version,
        event_schema=json.dumps(wire.to_dict(), separators=(",", ":")),
    )


def wire_container(container: Container, ref: int) -> pb.Container:
    k8s = container.k8s
    return pb.Container(
        ref=ref,
        id=container.id,
        name=container.name,
        runtime=container.runtime,
        image=container.image,
        labels=dict(container.labels),
        k8s_namespace=k8s.namespace,
        k8s_pod=k8s.pod,
        k8s_container=k8s.container,
        k8s_pod_uid=k8s.pod_uid,
        k8s_pod_labels=dict(k8s.pod_labels),
        sandbox=k8s.sandbox,
        k8s_node=k8s.node,
    )


def container_of(message: pb.Container) -> Container:
    return Container(
        id=message.id,
        name=message.name,
        runtime=message.runtime,
        image=message.image,
        labels=dict(message.labels),
        k8s=K8sMeta(
            namespace=message.k8s_namespace,
            pod=message.k8s_pod,
            container=message.k8s_container,
            pod_uid=message.k8s_pod_uid,
            pod_labels=dict(message.k8s_pod_labels),
            sandbox=message.sandbox,
            node=message.k8s_node,
        ),
    )


class _Strings:
    """A batch's table of distinct strings."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.index)
        return found

    def indexes(self, texts: list[str]) -> list[int]:
        """Each text's index: a Python step per distinct text only (values repeat)."""
        index = self.index
        for text in dict.fromkeys(texts):
            if text not in index:
                index[text] = len(index)
        return list(map(index.__getitem__, texts))


class BatchEncoder:
    """One run's events as ``Batch`` messages (agent side), in the order of `wire`'s fields."""

    def __init__(self, schema: EventSchema, wire: WireSchema) -> None:
        self._columns = [
            (f, attrgetter(".".join(f.path)), as_text(w), is_timestamp(w))
            for f, w in zip(schema.fields, wire.fields, strict=True)
            if not w.container
        ]
        self._refs: dict[int, tuple[Container, int]] = {}
        self._next_ref = 1

    def _ref(self, container: Container, new: list[pb.Container]) -> int:
        # The host's "container" too: it carries the node (K8S.NODE) of host events.
        hit = self._refs.get(id(container))
        if hit is not None and hit[0] is container:
            return hit[1]
        if len(self._refs) >= CONTAINER_LIMIT:
            self._refs.clear()
        ref = self._next_ref
        self._next_ref += 1
        self._refs[id(container)] = (container, ref)
        new.append(wire_container(container, ref))
        return ref

    def encode(self, events: list[Event], seq: int, kernel_lost: int) -> pb.Batch:
        strings = _Strings()
        batch = pb.Batch(seq=seq, count=len(events), kernel_lost=kernel_lost)
        new: list[pb.Container] = []
        # The batch's containers are few: a Python step for each of them, not each event.
        containers = list(map(_container, events))
        refs = {key: self._ref(c, new) for key, c in {id(c): c for c in containers}.items()}
        batch.containers.extend(map(refs.__getitem__, map(id, containers)))
        batch.new_containers.extend(new)
        offset = BOOT_CLOCK.offset_ns
        for field, get, text_only, timestamp in self._columns:
            raw = list(map(get, events))
            column = batch.columns.add()
            kind = field.kind
            if timestamp:
                column.ints.values.extend(map(offset.__add__, raw))
                continue
            if text_only:
                column.strings.index.extend(strings.indexes(list(map(field.text, raw))))
                continue
            if kind is ValueKind.INT:
                column.ints.values.extend(raw)
            elif kind is ValueKind.STR:
                column.strings.index.extend(strings.indexes(raw))
            elif kind is ValueKind.BOOL:
                column.bools.values = bytes(bytearray(map(bool, raw)))
            else:
                flat: list[int] = []
                for mapping in raw:
                    flat.append(len(mapping))
                    for key, value in mapping.items():
                        flat += (strings(key), strings(value))
                column.maps.index.extend(flat)
            if field.render is not None:
                column.text.extend(strings.indexes(list(map(field.text, raw))))
        batch.strings.extend(list(strings.index))
        return batch


_container = attrgetter("container")


# --- client side ---------------------------------------------------------------

# Where a container field's value is on a client event, by field name.
_CONTAINER_PATHS = {f.name: f.path for f in (*RUNTIME_FIELDS, *K8S_FIELDS)}


class RemoteSchema:
    """The fields and event class a client builds from an agent's ``Schema``.

    One per gadget run across every node: the first node's schema decides,
    and a node whose fields differ is refused (its agent is another version).
    """

    def __init__(self, message: pb.Schema) -> None:
        self.message = message
        self.wire = wire = _read_wire(message)
        self.gadget = wire.gadget
        self.json_lists = wire.lists
        fields: list[Field] = []
        self.texts: list[dict[Any, str]] = []  # per own field; empty when not rendered
        self.rendered: list[bool] = []  # per own field: the batch carries its texts
        # Per own field, what to take from its values: a TIMESTAMP's wall-clock ns less
        # this host's offset to the wall clock is this host's boot-clock ns.
        self.shifts: list[int] = []
        slots: list[str] = []
        for item in wire.fields:
            try:
                kind = ValueKind.STR if as_text(item) else ValueKind(item.kind)
            except ValueError:
                raise WireError(f"field {item.name!r} has an unknown kind {item.kind!r}") from None
            render = None
            if item.container:
                path = _CONTAINER_PATHS.get(item.name)
                if path != item.path:
                    raise WireError(f"unknown container field {item.name!r}")
            else:
                slot = f"_f{len(slots)}"
                slots.append(slot)
                path = (slot,)
                texts: dict[Any, str] = {}
                self.texts.append(texts)
                rendered = item.rendered and not item.json_text
                self.rendered.append(rendered)
                self.shifts.append(BOOT_CLOCK.offset_ns if is_timestamp(item) else 0)
                render = texts.__getitem__ if rendered else None
            stamp = is_timestamp(item)
            fields.append(
                Field(
                    item.name,
                    path,
                    kind,
                    item.description,
                    render=BOOT_CLOCK.iso if stamp else render,
                    json_render=BOOT_CLOCK.quoted if stamp else None,
                    json_text=item.json_text,
                    hidden=item.hidden,
                    width=item.width,
                    right=item.right,
                    untrusted=item.untrusted,
                    heading=item.heading,
                )
            )
        self.fields = tuple(fields)
        self.kinds = [f.kind for f in fields if f.path[0] != "container"]
        # The local events' attribute names (event.comm), to their slots: plain dict keys.
        names = {
            item.path[0]: f"_f{index}"
            for index, item in enumerate(f for f in wire.fields if not f.container)
            if len(item.path) == 1
        }
        self.event_class = _client_event_class(wire.gadget, slots, self.fields, names)
        self._build = _builder(len(slots))

    def default_columns(self, pods: bool) -> list[str]:
        """The local door's default columns for these fields (with a pod selector or not)."""
        from espia.cli.columns import default_columns

        return default_columns(self.wire, pods)

    def same(self, message: pb.Schema) -> bool:
        """Whether another node's schema has the same fields (names, kinds, paths, order)."""

        def shape(wire: WireSchema) -> list[tuple[str, str, tuple[str, ...], bool, bool]]:
            return [(f.name, f.kind, f.path, f.rendered, f.json_text) for f in wire.fields]

        return shape(self.wire) == shape(_read_wire(message))

    def build(self, containers: list[Container], columns: list[list[Any]]) -> list[Event]:
        return self._build(self.event_class, containers, *columns)


def _read_wire(message: pb.Schema) -> WireSchema:
    try:
        data = json.loads(message.event_schema)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return WireSchema.from_dict(data)
    except (ValueError, EspiaError) as exc:
        raise WireError(f"the agent's event schema cannot be read: {exc}") from None


def _client_event_class(
    gadget: str, slots: list[str], fields: tuple[Field, ...], names: dict[str, str]
) -> type[Event]:
    """The events' class: values in slots ``_f0``...; the local events' attribute names
    (``event.comm``) reach them through `names`, a lookup, never generated code."""
    name = "".join(part.capitalize() for part in gadget.replace("-", " ").split()) + "Event"

    def __getattr__(self: Event, attribute: str) -> Any:  # only when no slot has the name
        slot = names.get(attribute)
        if slot is None:
            raise AttributeError(f"{name!r} object has no attribute {attribute!r}")
        return getattr(self, slot)

    cls: type[Event] = type(
        name,
        (Event,),
        {
            "__slots__": tuple(slots),
            "__module__": "espia.gadgets",
            "__getattr__": __getattr__,
            "fields": fields,
            "node": property(_node, doc="The node the event happened on (K8S.NODE)."),
        },
    )
    cls._getters = tuple((field, attrgetter(".".join(field.path))) for field in fields)
    return cls


def _node(event: Event) -> str:
    return event.container.k8s.node


def _builder(count: int) -> Callable[..., list[Event]]:
    """A function making events from columns (its names are indexes: no wire text in code)."""
    names = [f"v{i}" for i in range(count)]
    sets = "".join(f"        e._f{i} = {n}\n" for i, n in enumerate(names))
    source = (
        f"def build(cls, containers, {''.join(n + ', ' for n in names)}):\n"
        "    new = cls.__new__\n"
        "    out = []\n"
        f"    for c, {''.join(n + ', ' for n in names)} in zip(containers, "
        f"{''.join(n + ', ' for n in names)}):\n"
        "        e = new(cls)\n"
        "        e.container = c\n"
        f"{sets}"
        "        out.append(e)\n"
        "    return out\n"
    )
    return compile_function("build", source, {}, "agent batch builder")


class StreamDecoder:
    """One node's batches back into events."""

    def __init__(self, schema: RemoteSchema, node: str) -> None:
        self.schema = schema
        # Events of containers this node's agent does not know: still on that node.
        self._unknown = Container(id="", name="", runtime="", k8s=K8sMeta(node=node))
        self._containers: dict[int, Container] = {0: self._unknown}

    def decode(self, batch: pb.Batch) -> list[Event]:
        for message in batch.new_containers:
            if len(self._containers) > CONTAINER_LIMIT * 2:
                self._containers = {0: self._unknown}
            self._containers[message.ref] = container_of(message)
        strings = list(batch.strings)
        count = batch.count
        schema = self.schema
        if len(batch.columns) != len(schema.kinds) or len(batch.containers) != count:
            raise WireError(f"batch {batch.seq} does not match the schema")
        try:
            containers = list(map(self._containers.__getitem__, batch.containers))
            columns = [
                self._column(column, kind, strings, count, shift)
                for column, kind, shift in zip(
                    batch.columns, schema.kinds, schema.shifts, strict=True
                )
            ]
            for column, values, texts, rendered in zip(
                batch.columns, columns, schema.texts, schema.rendered, strict=True
            ):
                if rendered:
                    _learn_texts(texts, values, list(map(strings.__getitem__, column.text)))
        except (IndexError, KeyError, ValueError) as exc:
            raise WireError(f"batch {batch.seq} is malformed: {exc}") from exc
        return schema.build(containers, columns)

    @staticmethod
    def _column(
        column: pb.Column, kind: ValueKind, strings: list[str], count: int, shift: int
    ) -> list[Any]:
        values: list[Any]
        if kind is ValueKind.INT:
            ints = column.ints.values
            values = list(map((-shift).__add__, ints)) if shift else list(ints)
        elif kind is ValueKind.STR:
            values = list(map(strings.__getitem__, column.strings.index))
        elif kind is ValueKind.BOOL:
            values = [bool(b) for b in column.bools.values]
        else:
            values = []
            flat = column.maps.index
            at = 0
            while at < len(flat):
                pairs = flat[at]
                at += 1
                values.append(
                    {strings[flat[at + 2 * i]]: strings[flat[at + 2 * i + 1]] for i in range(pairs)}
                )
                at += 2 * pairs
        if len(values) != count:
            raise ValueError(f"a column has {len(values)} values for {count} events")
        return values


def _learn_texts(texts: dict[Any, str], values: list[Any], rendered: list[str]) -> None:
    """Records each value's text; the events of this batch are printed before the next one."""
    if len(texts) > TEXT_LIMIT:
        texts.clear()
    texts.update(zip(values, rendered, strict=True))
