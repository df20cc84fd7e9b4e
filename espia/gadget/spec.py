"""A gadget on disk: its eBPF program, its built object and its presentation.

A gadget is a folder::

    trace_open/
        program.bpf.c   the kernel side: event struct, maps, programs, markers
        program.bpf.o   what `make` (or `espia run`) compiles it to
        gadget.yaml     presentation only: description, field descriptions,
                        widths, which fields are hidden

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from espia.errors import BuildError, UsageError

SOURCE = "program.bpf.c"
OBJECT = "program.bpf.o"
DESCRIPTION = "gadget.yaml"

# Options gadget.yaml may set on a field ("type" only for a gadget with a source).
FIELD_OPTIONS = {"description", "hidden", "width", "right", "type"}
# Categories whose JSON output is one list per batch (SPEC: per interval, per snapshot).
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

    @property
    def title(self) -> str:
        return f"{self.category} {self.name}"

    @property
    def json_lists(self) -> bool:
        """Whether JSON shows each batch as one list (a snapshot, a top interval)."""
        return self.category in LIST_CATEGORIES

    @property
    def source(self) -> Path:
        return self.folder / SOURCE

    @property
    def object_path(self) -> Path:
        return self.folder / OBJECT

    def require_object(self) -> Path:
        """The built object, or a BuildError that says how to build it."""
        obj = self.object_path
        if not obj.exists():
            raise BuildError(f"gadget {self.title} is not built: run `make` in {_tree(self)}")
        if self.source.exists() and self.source.stat().st_mtime > obj.stat().st_mtime:
            raise BuildError(
                f"gadget {self.title} is older than its source: run `make` in {_tree(self)}"
            )
        return obj

    @classmethod
    def from_folder(cls, folder: Path) -> GadgetSpec:
        """Reads `folder`/gadget.yaml; its problems are reported as one line each."""
        import yaml  # lazily: only gadget loading needs it

        path = folder / DESCRIPTION
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"read {path}: expected a mapping at the top")
        options = data.get("fields") or {}
        for name, values in options.items():
            unknown = set(values or {}) - FIELD_OPTIONS
            if unknown:
                raise UsageError(
                    f"read {path}: field {name!r} has unknown option(s) "
                    f"{', '.join(sorted(unknown))}"
                )
        return cls(
            name=str(data.get("name") or folder.name),
            category=str(data.get("category") or "trace"),
            description=str(data.get("description") or ""),
            folder=folder,
            field_options={str(k): dict(v or {}) for k, v in options.items()},
            data_source=str(data["source"]) if data.get("source") else None,
            columns=tuple(str(c) for c in data.get("columns") or ()),
        )


def _tree(spec: GadgetSpec) -> Path:
    """The source tree to run `make` in (the folder above the package, for built-ins)."""
    return spec.folder.parent.parent.parent
