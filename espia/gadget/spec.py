"""A gadget on disk: its eBPF program, its built object and its presentation.

A gadget is a folder::

    trace_open/
        program.bpf.c   the kernel side: event struct, maps, programs, markers
        program.bpf.o   what `make` (or `espia run`) compiles it to
        gadget.yaml     presentation only: description, field descriptions,
                        widths, headings, which fields are hidden

Everything else (the event layout, the map that carries events) comes from
the object's BTF, so built-in and user-written gadgets take the same path.

A gadget whose data the kernel cannot stream (a snapshot where BPF
iterators are refused) names instead a ``source:``, a Python file of its
folder (``source.py``, see ``espia.engine.user``), and declares its fields
in gadget.yaml, each with a ``type``: a semantic type of types.h
(``gadget_netns_id``, ``gadget_l4endpoint``...) or ``string``, ``int``,
``bool``.  It has no program.bpf.c, and gets the same enrichment, filters
and outputs.  ``columns:`` may list the default columns, where the usual
ones (the container's name, then the gadget's visible fields) do not fit.

``params:`` describes the parameters the program marks with
``GADGET_PARAM(name)`` (espia.gadget.params): a ``description``, a
``default`` and a one-letter ``short`` flag for each.

``sampler: cpu-clock`` makes the gadget a stack sampler
(espia.engine.sampler): its program runs on a perf event of each CPU, and
its fields, declared as a source's are, describe the samples.  ``view:``
names how the outputs show the events when not one per line (``stacks``:
counted stacks, espia.output.stacks).

``options:`` declares the gadget's own flags, which reach its source as
parameters: each a ``type`` (int, bool, string, path), a ``description``,
and for an int a ``default`` and a ``min``/``max`` range.

``kind: interval`` makes a gadget whose program counts in kernel maps read
once per interval (espia.engine.interval, include/espia/interval.bpf.h)
rather than one that streams events; ``sort:`` lists its rows' default
order (``-rbytes,-wbytes``: a leading ``-`` for descending), ``interval:``
its default interval in seconds (0: one at the end of the run), and
``histogram:`` (``bucket``, ``count``, ``unit``) says the rows are the log2
buckets of histograms (espia.output.histogram).

``examples:`` lists ``command:`` and ``description:`` pairs, shown by
``--help`` and the man page (the tests check that each one parses).

``join:`` names the field that ties events to containers: a
``gadget_mntns_id`` field (the event belongs to a process's container) or a
``gadget_netns_id`` field (it belongs to a network namespace, so to a pod,
as a DNS packet does).  Without it, events are not tied to containers (a
user-space source may still give each row its container, as list-containers
does), and container selectors select nothing else of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from espia.errors import BuildError, UsageError
from espia.gadget.description import read_description

_PACKAGE = Path(__file__).resolve().parent.parent
SOURCE = "program.bpf.c"
OBJECT = "program.bpf.o"
DESCRIPTION = "gadget.yaml"

# Options gadget.yaml may set on a field ("type" only for a gadget with a source).
FIELD_OPTIONS = {"description", "heading", "hidden", "width", "right", "type"}
# Options gadget.yaml may set on a parameter.
PARAM_OPTIONS = {"description", "default", "short"}
# What gadget.yaml may say of one of its `options:`, and their types.
OPTION_KEYS = {"type", "description", "default", "min", "max"}
OPTION_TYPES = {"int", "bool", "string", "path"}
SAMPLERS = {"cpu-clock"}
# How a gadget's program hands its data over: a stream of events, or counters per interval.
KINDS = ("stream", "interval")
# Categories whose JSON output is one list per batch (one per interval, per snapshot).
LIST_CATEGORIES = {"snapshot", "top", "list"}


@dataclass(frozen=True)
class GadgetSpec:
    """What `espia <category> <name>` runs."""

    name: str
    category: str
    description: str
    folder: Path
    field_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The user-space source file of a gadget without a program (yaml `source:`).
    data_source: str | None = None
    # Default columns, when the gadget names them (yaml `columns:`).
    columns: tuple[str, ...] = ()
    # The field that ties events to containers (yaml `join:`), if any.
    join: str | None = None
    # (command, what it shows) pairs (yaml `examples:`), for --help and the man page.
    examples: tuple[tuple[str, str], ...] = ()
    # gadget.yaml's description of the program's parameters, by name.
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The built object, where it is not `folder`/program.bpf.o (`espia run` builds elsewhere).
    built: Path | None = None
    # The perf event a stack sampler runs on (yaml `sampler:`), if the gadget is one.
    sampler: str | None = None
    # How outputs show the events, when not one per line (yaml `view:`; "stacks").
    view: str = ""
    # The gadget's own flags (yaml `options:`): {name: {type, description, default...}}.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "stream" (a ring buffer) or "interval" (counters read per interval), yaml `kind:`.
    kind: str = "stream"
    # The rows' default order (yaml `sort:`), for an interval gadget.
    sort: tuple[str, ...] = ()
    # The rows are the buckets of histograms (yaml `histogram:` bucket, count, unit).
    histogram: dict[str, str] = field(default_factory=dict)
    # The default --interval in seconds (yaml `interval:`; 0: one at the end of the run).
    interval: float = 1.0

    @property
    def title(self) -> str:
        return f"{self.category} {self.name}"

    @property
    def json_lists(self) -> bool:
        """Whether JSON shows each batch as one list (a snapshot, a top interval)."""
        return self.category in LIST_CATEGORIES

    @property
    def shipped(self) -> bool:
        """Whether the gadget is part of espia (built from espia's tree), not from elsewhere."""
        return self.folder.resolve().is_relative_to(_PACKAGE)

    @property
    def object_checked(self) -> bool:
        """Whether its object may be opened without checking its BTF again: built from
        espia's tree, or built (or copied) into this run's private directory and
        checked there as it was (espia.gadget.local.checked)."""
        return self.shipped or self.built is not None

    @property
    def source(self) -> Path:
        return self.folder / SOURCE

    @property
    def object_path(self) -> Path:
        return self.built or self.folder / OBJECT

    @property
    def shown_object(self) -> str:
        """The object as messages name it: a built-in's path; a user gadget's file name
        (it is built in a private directory that no longer exists when the user reads it)."""
        return self.built.name if self.built else str(self.object_path)

    def require_object(self) -> Path:
        """The built object, or a BuildError that says how to build it."""
        obj = self.object_path
        if self.built is not None:
            return obj
        if not obj.exists():
            raise BuildError(f"gadget {self.title} is not built: run `make` in {_tree(self)}")
        if self.source.exists() and self.source.stat().st_mtime > obj.stat().st_mtime:
            raise BuildError(
                f"gadget {self.title} is older than its source: run `make` in {_tree(self)}"
            )
        return obj

    @classmethod
    def from_folder(cls, folder: Path) -> GadgetSpec:
        """Reads `folder`/gadget.yaml (espia.gadget.description); its problems are
        reported as one line each."""
        path = folder / DESCRIPTION
        data = read_description(path)
        if not isinstance(data, dict):
            raise UsageError(f"read {path}: expected a mapping at the top")
        for key, kinds in _TOP_LEVEL.items():
            if data.get(key) is not None and not isinstance(data[key], kinds):
                raise UsageError(f"read {path}: {key} must be {_KIND_NAMES[kinds]}")
        columns = data.get("columns") or ()
        if not all(isinstance(column, str) for column in columns):
            raise UsageError(f"read {path}: columns must be a list of field names")
        options: dict[str, dict[str, Any]] = {}
        for name, values in (data.get("fields") or {}).items():
            options[str(name)] = _field_options(path, name, values)
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise UsageError(f"read {path}: params: expected a mapping of names")
        for name, values in params.items():
            _require_mapping(path, f"param {name!r}", values)
            unknown = set(values or {}) - PARAM_OPTIONS
            if unknown:
                raise UsageError(
                    f"read {path}: param {name!r} has unknown option(s) "
                    f"{', '.join(sorted(unknown))}"
                )
            short = str((values or {}).get("short") or "")
            if short and not (len(short) == 1 and short.isascii() and short.isalpha()):
                raise UsageError(f"read {path}: param {name!r}: short must be one letter")
        kind = str(data.get("kind") or "stream")
        if kind not in KINDS:
            raise UsageError(f"read {path}: kind {kind!r} is not one of {', '.join(KINDS)}")
        sampler = str(data["sampler"]) if data.get("sampler") else None
        if sampler is not None and sampler not in SAMPLERS:
            raise UsageError(f"read {path}: sampler {sampler!r}: expected one of {SAMPLERS}")
        return cls(
            name=str(data.get("name") or folder.name),
            category=str(data.get("category") or "trace"),
            description=str(data.get("description") or ""),
            folder=folder,
            field_options=options,
            data_source=str(data["source"]) if data.get("source") else None,
            columns=tuple(columns),
            join=str(data["join"]) if data.get("join") else None,
            params={str(k): dict(v or {}) for k, v in params.items()},
            sampler=sampler,
            view=str(data.get("view") or ""),
            options=_options(path, data.get("options") or {}),
            examples=_examples(path, data.get("examples") or []),
            kind=kind,
            sort=tuple(str(c) for c in data.get("sort") or ()),
            histogram={str(k): str(v) for k, v in (data.get("histogram") or {}).items()},
            interval=float(data.get("interval", 1.0)),
        )


def _examples(path: Path, listed: Any) -> tuple[tuple[str, str], ...]:
    """gadget.yaml's `examples:`: a list of {command, description}."""
    if not isinstance(listed, list) or not all(
        isinstance(e, dict)
        and set(e) == {"command", "description"}
        and all(isinstance(v, str) for v in e.values())
        for e in listed
    ):
        raise UsageError(f"read {path}: examples: expected a list of command: and description:")
    return tuple((str(e["command"]), str(e["description"])) for e in listed)


def examples_text(examples: tuple[tuple[str, str], ...]) -> str:
    """The examples as --help shows them: the command, then what it shows, indented."""
    if not examples:
        return ""
    lines = ["examples:"]
    for command, description in examples:
        lines += [f"  {command}", f"      {description}"]
    return "\n".join(lines)


# What each top-level key of gadget.yaml may hold, and each option of a field.
_TOP_LEVEL: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "category": str,
    "description": str,
    "source": str,
    "join": str,
    "columns": list,
    "fields": dict,
    "params": dict,
    "sampler": str,
    "view": str,
    "options": dict,
    "examples": list,
}
_OPTION_KINDS: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "heading": str,
    "hidden": bool,
    "width": int,
    "right": bool,
    "type": str,
}
_KIND_NAMES: dict[type | tuple[type, ...], str] = {
    str: "a string",
    bool: "true or false",
    int: "a number",
    list: "a list",
    dict: "a mapping",
}


def _field_options(path: Path, name: object, values: object) -> dict[str, Any]:
    """The options of field `name`, checked: a mapping of known options of the right kinds."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UsageError(f"read {path}: field {name!r} must be a mapping of options")
    unknown = set(values) - FIELD_OPTIONS
    if unknown:
        raise UsageError(
            f"read {path}: field {name!r} has unknown option(s) "
            f"{', '.join(sorted(repr(option) for option in unknown))}"
        )
    for option, value in values.items():
        kinds = _OPTION_KINDS[option]
        # bool is an int in Python, not in gadget.yaml: `width: true` is refused.
        if not isinstance(value, kinds) or (kinds is int and isinstance(value, bool)):
            raise UsageError(f"read {path}: field {name!r}: {option} must be {_KIND_NAMES[kinds]}")
    if "width" in values and not 0 < values["width"] <= 4096:
        raise UsageError(f"read {path}: field {name!r}: width must be between 1 and 4096")
    heading = values.get("heading")
    if heading is not None and not (0 < len(heading) <= 32 and heading.isprintable()):
        raise UsageError(
            f"read {path}: field {name!r}: heading must be 1 to 32 printable characters"
        )
    return dict(values)


def _require_mapping(path: Path, what: str, values: object) -> None:
    if values is not None and not isinstance(values, dict):
        raise UsageError(f"read {path}: {what} must be a mapping of its settings")


def _options(path: Path, options: object) -> dict[str, dict[str, Any]]:
    """gadget.yaml's `options:`, checked: a mistake there is one line naming it."""
    if not isinstance(options, dict):
        raise UsageError(f"read {path}: options: expected a mapping of flag names")
    checked = {}
    for name, values in options.items():
        _require_mapping(path, f"option {name!r}", values)
        values = dict(values or {})
        unknown = set(values) - OPTION_KEYS
        if not str(name).isidentifier() or unknown:
            raise UsageError(f"read {path}: option {name!r}: bad name or keys {sorted(unknown)}")
        if values.get("type") not in OPTION_TYPES:
            raise UsageError(
                f"read {path}: option {name!r}: type must be one of {sorted(OPTION_TYPES)}"
            )
        checked[str(name)] = values
    return checked


def _tree(spec: GadgetSpec) -> Path:
    """The source tree to run `make` in (the folder above the package, for built-ins)."""
    return spec.folder.parent.parent.parent
