"""Events on the wire between an agent and the cluster client, in columns.

The agent's :class:`BatchEncoder` turns a batch of events into one
``Batch`` message: a column per field (zigzag varints, indexes into the
batch's table of distinct strings, a byte per flag), the events' containers
as references into a table each run sends once per container.  The
client's :class:`WireSchema` turns the ``Schema`` message back into fields
and an event class, and a :class:`StreamDecoder` per node turns batches
back into events the local door's outputs print unchanged.

Nothing from the wire becomes code: the client's event attributes are
``_f0``, ``_f1``... whatever the fields are called, and a field's text (FLAGS
as ``O_WRONLY|O_CREAT``) travels beside its raw value instead of a renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from espia._codegen import compile_function
from espia.agent._proto import agent_pb2 as pb
from espia.containers.fields import K8S_FIELDS, RUNTIME_FIELDS
from espia.containers.model import Container, K8sMeta
from espia.errors import EspiaError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.gadget.schema import EventSchema
from espia.output._shared import container_only

KINDS = {
    ValueKind.INT: pb.INT,
    ValueKind.STR: pb.STR,
    ValueKind.BOOL: pb.BOOL,
    ValueKind.MAP: pb.MAP,
}
_VALUE_KINDS = {wire: kind for kind, wire in KINDS.items()}
# Containers a run remembers having sent; past this, it forgets and sends again.
CONTAINER_LIMIT = 4096
# Texts a client remembers per rendered field (values repeat: flags, errnos).
TEXT_LIMIT = 65536


class WireError(EspiaError):
    """An agent sent something this client cannot read (a version skew, or a bug)."""


def as_text(field: Field) -> bool:
    """Whether only the field's text travels: every output shows its text, never its raw
    value (FLAGS, ERRNAME, TIMESTAMP; filters run on the agent)."""
    return field.render is not None and field.json_text


def wire_field(field: Field) -> pb.Field:
    return pb.Field(
        name=field.name,
        kind=pb.STR if as_text(field) else KINDS[field.kind],
        description=field.description,
        hidden=field.hidden,
        width=field.width,
        right=field.right,
        untrusted=field.untrusted,
        json_text=field.json_text,
        rendered=field.render is not None and not field.json_text,
        container=container_only(field),
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


class BatchEncoder:
    """One run's events as ``Batch`` messages (agent side)."""

    def __init__(self, schema: EventSchema) -> None:
        own = [f for f in schema.fields if not container_only(f)]
        self._columns = [(f, attrgetter(".".join(f.path)), as_text(f)) for f in own]
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
        batch.containers.extend([self._ref(e.container, new) for e in events])
        batch.new_containers.extend(new)
        for field, get, text_only in self._columns:
            raw = [get(e) for e in events]
            column = batch.columns.add()
            kind = field.kind
            if text_only:
                text = field.text
                column.strings.index.extend([strings(text(v)) for v in raw])
                continue
            if kind is ValueKind.INT:
                column.ints.values.extend(raw)
            elif kind is ValueKind.STR:
                column.strings.index.extend([strings(v) for v in raw])
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
                text = field.text
                column.text.extend([strings(text(v)) for v in raw])
        batch.strings.extend(list(strings.index))
        return batch


# --- client side ---------------------------------------------------------------

# Where a container field's value is on a client event, by field name.
_CONTAINER_PATHS = {f.name: f.path for f in (*RUNTIME_FIELDS, *K8S_FIELDS)}


class WireSchema:
    """The fields and event class a client builds from an agent's ``Schema``.

    One per gadget run across every node: the first node's schema decides,
    and a node whose fields differ is refused (its agent is another version).
    """

    def __init__(self, message: pb.Schema) -> None:
        self.message = message
        self.gadget = message.gadget
        self.default_columns = list(message.default_columns)
        self.json_lists = message.json_lists
        fields: list[Field] = []
        self.texts: list[dict[Any, str]] = []  # per own field; empty when not rendered
        slots: list[str] = []
        for item in message.fields:
            if item.kind not in _VALUE_KINDS:
                raise WireError(f"field {item.name!r} has an unknown kind {item.kind}")
            if item.container:
                path = _CONTAINER_PATHS.get(item.name)
                if path is None:
                    raise WireError(f"unknown container field {item.name!r}")
                render = None
            else:
                slot = f"_f{len(slots)}"
                slots.append(slot)
                path = (slot,)
                texts: dict[Any, str] = {}
                self.texts.append(texts)
                render = texts.__getitem__ if item.rendered else None
            fields.append(
                Field(
                    item.name,
                    path,
                    _VALUE_KINDS[item.kind],
                    item.description,
                    render=render,
                    json_text=item.json_text,
                    hidden=item.hidden,
                    width=item.width,
                    right=item.right,
                    untrusted=item.untrusted,
                )
            )
        self.fields = tuple(fields)
        self.kinds = [f.kind for f in fields if not container_only(f)]
        self.rendered = [i.rendered for i in message.fields if not i.container]
        self.event_class = _client_event_class(message.gadget, slots, self.fields)
        self._build = _builder(len(slots))

    def same(self, message: pb.Schema) -> bool:
        """Whether another node's schema has the same fields (names, kinds, order)."""
        mine = [(f.name, f.kind, f.container) for f in self.message.fields]
        return mine == [(f.name, f.kind, f.container) for f in message.fields]

    def build(self, containers: list[Container], columns: list[list[Any]]) -> list[Event]:
        return self._build(self.event_class, containers, *columns)


def _client_event_class(gadget: str, slots: list[str], fields: tuple[Field, ...]) -> type[Event]:
    name = "".join(part.capitalize() for part in gadget.replace("-", " ").split()) + "Event"
    cls: type[Event] = type(
        name,
        (Event,),
        {"__slots__": tuple(slots), "__module__": "espia.gadgets", "fields": fields},
    )
    cls._getters = tuple((field, attrgetter(".".join(field.path))) for field in fields)
    return cls


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

    def __init__(self, schema: WireSchema, node: str) -> None:
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
            containers = [self._containers[ref] for ref in batch.containers]
            columns = [
                self._column(column, kind, strings, count)
                for column, kind in zip(batch.columns, schema.kinds, strict=True)
            ]
            for column, values, texts, rendered in zip(
                batch.columns, columns, schema.texts, schema.rendered, strict=True
            ):
                if rendered:
                    _learn_texts(texts, values, (strings[i] for i in column.text))
        except (IndexError, KeyError, ValueError) as exc:
            raise WireError(f"batch {batch.seq} is malformed: {exc}") from exc
        return schema.build(containers, columns)

    @staticmethod
    def _column(column: pb.Column, kind: ValueKind, strings: list[str], count: int) -> list[Any]:
        values: list[Any]
        if kind is ValueKind.INT:
            values = list(column.ints.values)
        elif kind is ValueKind.STR:
            values = [strings[i] for i in column.strings.index]
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


def _learn_texts(texts: dict[Any, str], values: list[Any], rendered: Iterable[str]) -> None:
    """Records each value's text; the events of this batch are printed before the next one."""
    if len(texts) > TEXT_LIMIT:
        texts.clear()
    for value, text in zip(values, rendered, strict=True):
        texts[value] = text
