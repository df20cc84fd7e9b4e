"""The event schema of a gadget: its fields, read from the BTF of its object.

``GADGET_TRACER(name, map, type)`` leaves a variable named
``gadget_tracer__<name>__<map>`` of type ``struct type *`` in the object's
BTF.  From it we learn which ring buffer carries the events and what they
look like; each member of the struct becomes a :class:`Field` whose meaning
comes from its semantic typedef, refined by gadget.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from espia import semantic
from espia._codegen import is_identifier
from espia.ebpf.btf import Btf, Kind, Leaf, Scalar
from espia.ebpf.elf import code_references
from espia.errors import LoadError, UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.gadget.params import Param
from espia.gadget.spec import GadgetSpec
from espia.semantic import SemanticType

TRACER_PREFIX = "gadget_tracer__"
INTERVAL_PREFIX = "gadget_interval__"


@dataclass(frozen=True, slots=True)
class Tracer:
    """A stream of events: the ring buffer `map_name` carrying `struct struct_name`."""

    name: str
    map_name: str
    struct_name: str
    struct_id: int


def find_tracer(btf: Btf, source: str) -> Tracer:
    """The gadget's tracer marker; `source` names the object in errors."""
    tracers = []
    for var in btf.datasec(".rodata"):
        if not var.name.startswith(TRACER_PREFIX):
            continue
        name, _, map_name = var.name.removeprefix(TRACER_PREFIX).partition("__")
        pointer = btf.skip_qualifiers(var.type_id)
        struct_id = btf.skip_qualifiers(btf.target(pointer))
        if btf.kind(pointer) is not Kind.PTR or btf.kind(struct_id) is not Kind.STRUCT:
            raise LoadError(f"read {source}: GADGET_TRACER({name}) does not name a struct")
        tracers.append(Tracer(name, map_name, btf.name(struct_id), struct_id))
    if not tracers:
        raise LoadError(f"read {source}: no GADGET_TRACER(name, map, struct) marker")
    if len(tracers) > 1:
        raise LoadError(f"read {source}: more than one GADGET_TRACER; espia runs one per gadget")
    return tracers[0]


SIZE_SUFFIX = "_size"


def layout_members(leaves: Iterable[Leaf]) -> frozenset[str]:
    """The members that only say how long another is: `<name>_size` beside a string member
    `<name>` (types.h).  The decoder reads them to find the bytes; they are not fields,
    so no output shows them."""
    leaves = tuple(leaves)
    strings = {leaf.name for leaf in leaves if leaf.scalar is Scalar.CHARS}
    return frozenset(
        leaf.name
        for leaf in leaves
        if leaf.name.endswith(SIZE_SUFFIX)
        and leaf.scalar is Scalar.UINT
        and leaf.name.removesuffix(SIZE_SUFFIX) in strings
    )


def attribute(name: str) -> str:
    """The Python attribute of a struct member: "src.port" -> "src_port"."""
    return name.replace(".", "_")


def _field(leaf: Leaf, meaning: SemanticType, options: dict[str, object]) -> Field:
    base = meaning.look.with_options(name=leaf.name, path=(attribute(leaf.name),))
    return base.with_options(**options) if options else base


@dataclass(frozen=True)
class EventSchema:
    """Everything the pipeline needs to know about one gadget's events."""

    spec: GadgetSpec
    tracer: Tracer | None  # None for a gadget fed by a user-space source
    leaves: tuple[Leaf, ...]
    record_size: int
    fields: tuple[Field, ...]
    event_class: type[Event]
    # The program's GADGET_PARAMs (espia.gadget.params), set by the source that loads it.
    params: tuple[Param, ...] = ()

    def attribute_of(self, typedef: str) -> str | None:
        """The attribute of the first member of semantic type `typedef`, if any."""
        found = self.members(typedef)
        return found[0] if found else None

    def join_key(self) -> tuple[str, str] | None:
        """("mntns" or "netns", attribute) of the member that ties events to containers:
        the one gadget.yaml's `join:` names (checked when the schema was built)."""
        if self.spec.join is None:
            return None
        leaf = next(leaf for leaf in self.leaves if leaf.name == self.spec.join)
        kind = "mntns" if "gadget_mntns_id" in leaf.typedefs else "netns"
        return kind, attribute(leaf.name)

    def int_range(self, field: Field) -> tuple[int, int]:
        """The values an integer field can hold: its C member's range where the field is
        that member as the kernel wrote it, else a 64-bit one (signed or not)."""
        for leaf in self.leaves:
            if field.path != (attribute(leaf.name),) or leaf.size not in (1, 2, 4, 8):
                continue
            if leaf.scalar is Scalar.UINT and semantic.of_leaf(leaf).decode is None:
                return 0, (1 << 8 * leaf.size) - 1
            if leaf.scalar is Scalar.SINT and semantic.of_leaf(leaf).decode is None:
                half = 1 << (8 * leaf.size - 1)
                return -half, half - 1
        return -(1 << 63), (1 << 64) - 1

    def members(self, typedef: str) -> list[str]:
        """The attributes of the members declared with semantic type `typedef`, in order."""
        return [attribute(leaf.name) for leaf in self.leaves if typedef in leaf.typedefs]

    def field(self, name: str) -> Field:
        """The field called `name`, case-insensitively; a UsageError that suggests otherwise."""
        wanted = name.strip().lower()
        for field in self.fields:
            if field.name.lower() == wanted:
                return field
        names = [f.name.lower() for f in self.fields]
        import difflib  # lazily: only a misspelt name needs it

        close = difflib.get_close_matches(wanted, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"{self.spec.title} has no field {name!r}{hint}; "
            f"see `espia {self.spec.title} --help` for its fields"
        )


def _member_fields(leaf: Leaf, meaning: SemanticType, spec: GadgetSpec) -> list[Field]:
    """The fields one member gives: its own (and a companion), or its expansion."""
    options = dict(spec.field_options.get(leaf.name, {}))
    options.pop("type", None)
    field = _field(leaf, meaning, options)
    if meaning.expand:
        return [
            part.with_options(path=field.path + part.path, **spec.field_options.get(part.name, {}))
            for part in meaning.expand
        ]
    if not meaning.companion:
        return [field]
    suffix, render, parse, json_value = meaning.companion
    companion = Field(
        name=f"{leaf.name}{suffix}",
        path=field.path,
        kind=ValueKind.STR,
        description=f"{field.header} by name",
        render=render,
        json_text=True,
        hidden=True,
        width=10,
        parse=parse,
        json_value=json_value,
        untrusted=field.untrusted,
    )
    return [field, companion.with_options(**spec.field_options.get(companion.name, {}))]


def _in_yaml_order(fields: list[Field], listed: list[str]) -> list[Field]:
    """Fields in the order gadget.yaml lists them (it decides the columns' order); a field
    it does not list stays right after the field it follows in the struct."""
    groups: list[tuple[int, list[Field]]] = [(-1, [])]
    for field in fields:
        if field.name in listed:
            groups.append((listed.index(field.name), [field]))
        else:
            groups[-1][1].append(field)
    groups.sort(key=lambda group: group[0])
    return [field for _, group in groups for field in group]


def _schema(
    spec: GadgetSpec,
    tracer: Tracer | None,
    leaves: tuple[Leaf, ...],
    record_size: int,
    extra: Iterable[Field],
    semantics: list[SemanticType],
) -> EventSchema:
    layout = layout_members(leaves)
    own = _in_yaml_order(
        [
            field
            for leaf, meaning in zip(leaves, semantics, strict=True)
            if leaf.name not in layout
            for field in _member_fields(leaf, meaning, spec)
        ],
        list(spec.field_options),
    )
    unknown = set(spec.field_options) - {field.name for field in own}
    if tracer is None:  # a sourced gadget's yaml declares its members, expanded ones too
        unknown -= {leaf.name for leaf in leaves}
    if unknown:
        where = f"struct {tracer.struct_name}" if tracer else "the gadget"
        raise LoadError(
            f"read {spec.folder}/gadget.yaml: fields {', '.join(sorted(unknown))} "
            f"are not fields of {where}"
        )
    _check_join(spec, leaves)
    fields = (*extra, *own)
    event_class = _event_class(spec, leaves, fields)
    return EventSchema(spec, tracer, leaves, record_size, fields, event_class)


_JOIN_TYPES = ("gadget_mntns_id", "gadget_netns_id")


def _check_join(spec: GadgetSpec, leaves: tuple[Leaf, ...]) -> None:
    """gadget.yaml's `join:` must name a member of a namespace type."""
    if spec.join is None:
        return
    leaf = next((leaf for leaf in leaves if leaf.name == spec.join), None)
    if leaf is None or not any(t in leaf.typedefs for t in _JOIN_TYPES):
        raise LoadError(
            f"read {spec.folder}/gadget.yaml: join: {spec.join!r} must name a field of type "
            f"{' or '.join(_JOIN_TYPES)}"
        )


def build_schema(spec: GadgetSpec, btf: Btf, extra: Iterable[Field] = ()) -> EventSchema:
    """Reads the event struct from `btf` and makes the gadget's fields and Event class.

    `extra` are the fields enrichment stages add (container, pod...); they
    come first, as the K8S columns do in every output.
    """
    tracer = find_tracer(btf, spec.shown_object)
    typed = [name for name, options in spec.field_options.items() if "type" in options]
    if typed:
        raise LoadError(
            f"read {spec.folder}/gadget.yaml: field {typed[0]!r} has a type, but the types of "
            f"a gadget with a program come from its struct {tracer.struct_name}"
        )
    leaves = tuple(btf.flatten(tracer.struct_id))
    _check_names(tracer, leaves, spec.shown_object)
    semantics = [semantic.of_leaf(leaf) for leaf in leaves]
    schema = _schema(spec, tracer, leaves, btf.size(tracer.struct_id), extra, semantics)
    _check_kernel_filters(schema)
    return schema


def find_interval(btf: Btf, source: str) -> tuple[Tracer, int]:
    """The GADGET_INTERVAL marker (interval.bpf.h): its counters' map, as a Tracer whose
    struct is the value, and the key struct's id."""
    found = []
    for var in btf.datasec(".rodata"):
        if not var.name.startswith(INTERVAL_PREFIX):
            continue
        name = var.name.removeprefix(INTERVAL_PREFIX)
        pair = btf.skip_qualifiers(btf.target(btf.skip_qualifiers(var.type_id)))
        members = {m: btf.skip_qualifiers(btf.target(t)) for m, t, _ in btf.members(pair)}
        key, value = members.get("key"), members.get("value")
        if key is None or value is None or btf.kind(value) is not Kind.STRUCT:
            raise LoadError(f"read {source}: GADGET_INTERVAL({name}) does not name two structs")
        found.append((Tracer(name, name, btf.name(value), value), key))
    if len(found) != 1:
        raise LoadError(f"read {source}: expected one GADGET_INTERVAL(name, key, value) marker")
    return found[0]


def build_interval_schema(spec: GadgetSpec, btf: Btf, extra: Iterable[Field] = ()) -> EventSchema:
    """The schema of a gadget whose rows are counters read per interval: a row is the
    map's key followed by its value (interval.bpf.h), and its fields are their members."""
    source = str(spec.object_path)
    tracer, key_id = find_interval(btf, source)
    key_size = btf.size(key_id)
    leaves = (*btf.flatten(key_id), *btf.flatten(tracer.struct_id, base=key_size))
    _check_names(tracer, leaves, source)
    semantics = [semantic.of_leaf(leaf) for leaf in leaves]
    size = key_size + btf.size(tracer.struct_id)
    schema = _schema(spec, tracer, leaves, size, extra, semantics)
    _check_kernel_filters(schema)
    return schema


def _check_kernel_filters(schema: EventSchema) -> None:
    """A field whose type promises an in-kernel filter needs a program that applies it.

    `-F pid:N` is pushed into the kernel as ``gadget_filter_pid``; a program
    that never reads it would still be correct (user space checks every
    term again) but would copy everything it was told to drop.  So an object
    whose code reads none of a promised filter's variable is refused.
    """
    read = code_references(schema.spec.object_path)
    shown = schema.spec.shown_object
    for field in schema.fields:
        if field.kernel and f"gadget_filter_{field.kernel}" not in read:
            raise LoadError(
                f"read {shown}: field {field.name!r} promises an in-kernel {field.kernel} filter, "
                f"but no program reads gadget_filter_{field.kernel}: call "
                "gadget_should_discard_current() (or gadget_should_discard_task(); "
                "espia/filter.bpf.h), or gadget_netns_dropped() for netns (espia/net.bpf.h)"
            )


# Attributes every Event has: a member may not take their place.
_RESERVED = frozenset(name for name in dir(Event) if not name.startswith("__"))


def _check_names(tracer: Tracer, leaves: tuple[Leaf, ...], source: str) -> None:
    """Refuses names from BTF that generated code could not hold as they are.

    Member names become attributes in generated source (``e.path = ...``),
    and BTF is whatever the object's author wrote: a name that is not a
    plain identifier could turn that source into other code, in a process
    that runs as root.  So every name is checked here, before any code is
    generated from it.
    """
    if not is_identifier(tracer.struct_name):
        raise LoadError(
            f"read {source}: struct name {tracer.struct_name!r} is not a plain identifier"
        )
    for leaf in leaves:
        if not all(is_identifier(part) for part in leaf.name.split(".")):
            raise LoadError(
                f"read {source}: member {leaf.name!r} of struct {tracer.struct_name} is not "
                "a plain identifier (ASCII letters, digits and _, not a Python keyword)"
            )
        if attribute(leaf.name) in _RESERVED:
            raise LoadError(
                f"read {source}: member {leaf.name!r} of struct {tracer.struct_name} takes "
                "the name of an attribute every event has; rename it"
            )


# The plain types a sourced gadget's gadget.yaml may give a field.
_PLAIN_TYPES = {
    "string": SemanticType(ValueKind.STR, untrusted=True, width=16),
    "int": SemanticType(ValueKind.INT, width=8, right=True),
    "bool": SemanticType(ValueKind.BOOL, width=5),
}


def build_source_schema(spec: GadgetSpec, extra: Iterable[Field] = ()) -> EventSchema:
    """The schema of a gadget fed by a user-space source: its fields are gadget.yaml's.

    Each field's ``type`` plays the part of the C member's typedef, so a
    ``gadget_netns_id`` field ties events to containers here too.
    """
    leaves, semantics = [], []
    for name, options in spec.field_options.items():
        if not is_identifier(name) or name in _RESERVED:
            raise LoadError(
                f"read {spec.folder}/gadget.yaml: field name {name!r} is not a plain identifier"
            )
        kind = str(options.get("type", ""))
        typed = semantic.lookup(kind) or _PLAIN_TYPES.get(kind)
        if typed is None:
            raise UsageError(
                f"read {spec.folder}/gadget.yaml: field {name!r} has type {kind or 'none'}; "
                f"use string, int, bool or a semantic type ({', '.join(semantic.names())})"
            )
        typedefs = (kind,) if semantic.lookup(kind) else ()
        leaves.append(Leaf(name, 0, 0, _SCALARS[typed.kind], typedefs))
        semantics.append(typed)
    return _schema(spec, None, tuple(leaves), 0, extra, semantics)


_SCALARS = {
    ValueKind.STR: Scalar.CHARS,
    ValueKind.INT: Scalar.UINT,
    ValueKind.BOOL: Scalar.BOOL,
    ValueKind.MAP: Scalar.BYTES,
}


_PYTHON_TYPES = {ValueKind.INT: int, ValueKind.STR: str, ValueKind.BOOL: bool, ValueKind.MAP: dict}


def _event_class(
    spec: GadgetSpec, leaves: tuple[Leaf, ...], fields: tuple[Field, ...]
) -> type[Event]:
    """OpenEvent & co: slots for the members, annotated with their Python types."""
    name = "".join(part.capitalize() for part in spec.name.replace("-", "_").split("_")) + "Event"
    layout = layout_members(leaves)
    slots = tuple(attribute(leaf.name) for leaf in leaves if leaf.name not in layout)
    kinds = {f.path[0]: f.kind for f in fields if f.path == (attribute(f.name),)}
    cls = type(
        name,
        (Event,),
        {
            "__slots__": slots,
            "__module__": "espia.gadgets",
            "__annotations__": {s: _PYTHON_TYPES[kinds[s]] for s in slots if s in kinds},
            "gadget": spec.title,
            "fields": fields,
            "_getters": tuple((field, attrgetter(".".join(field.path))) for field in fields),
            **_derived_attributes(fields, slots),
        },
    )
    return cls


def _derived_attributes(fields: tuple[Field, ...], slots: tuple[str, ...]) -> dict[str, property]:
    """An attribute for each field that is not a member of its own: a part of an expanded
    member (a DNS message's `name`, `rcode`, `latency`...) or a companion (`errname`),
    so that a typed event carries every field its gadget shows.  A part is its raw value,
    as members are; a companion, which only renders a member, is what JSON shows (a
    text, or the arguments' list).  Container fields stay under `event.container`."""
    derived: dict[str, property] = {}
    for field in fields:
        name = attribute(field.name)
        if "." in field.name or name in slots or name in _RESERVED or name in derived:
            continue
        read: Callable[[Event], Any] = attrgetter(".".join(field.path))
        companion = field.json_text and field.path in {(s,) for s in slots}
        if companion:
            read = _rendered(read, field.json_value or field.text)
        derived[name] = property(read)
    return derived


def _rendered(read: Callable[[Event], Any], value: Callable[[Any], Any]) -> Callable[[Event], Any]:
    return lambda event: value(read(event))
