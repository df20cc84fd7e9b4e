"""Reading a gadget.yaml, and the parsed twin `make` writes beside a built-in one.

Importing PyYAML costs more of a gadget's start-up than anything else it reads
(some 15-20 ms: its pure-Python scanner, resolver and emitter modules come
with the C loader), while a built-in gadget's description changes only with
espia's tree.  So `make` writes beside each gadget.yaml of the package its
parsed twin, ``gadget.yaml.json``: the YAML text it was parsed from and the
data it gives (`python -m espia.gadget.description FILE...`).  A twin is
used only when the text it holds is the gadget.yaml now on disk, exactly:
an edited description (or a twin from another version) is parsed from the
YAML again, with the same result and the same errors as without a twin.
Data that JSON would not give back as it was (a number as a key) gets no
twin.  A user's gadget has none: its folder is not built by espia's make.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from espia.errors import UsageError

TWIN_SUFFIX = ".json"


def twin_of(path: Path) -> Path:
    """Where the parsed twin of the gadget.yaml at `path` is."""
    return path.with_name(path.name + TWIN_SUFFIX)


def read_description(path: Path) -> Any:
    """The data of the gadget.yaml at `path` (its twin's, when it is the twin of this
    text); its problems are one line each, as UsageError."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"read {path}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise UsageError(f"read {path}: not a YAML file ({type(exc).__name__})") from exc
    twin = _twin_data(twin_of(path), text)
    return twin["data"] if twin is not None else parse_yaml(path, text)


def _twin_data(twin: Path, text: str) -> dict[str, Any] | None:
    """The twin's record if it holds exactly `text`, else None (absent, stale, damaged)."""
    try:
        saved = json.loads(twin.read_text())
    except (OSError, UnicodeError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("yaml") != text or "data" not in saved:
        return None
    return saved


def parse_yaml(path: Path, text: str) -> Any:
    """`text` (read from `path`) parsed as YAML, safe types only."""
    import yaml  # lazily: a built-in gadget's twin spares the import

    # libyaml's loader where PyYAML has it: the pure-Python one costs milliseconds
    # per file at every start.  Both accept the same documents (safe types only).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"read {path}: {_yaml_problem(exc)}") from exc
    except RecursionError as exc:
        raise UsageError(f"read {path}: not a YAML file ({type(exc).__name__})") from exc


def _yaml_problem(exc: Exception) -> str:
    """A YAML error in one line: where, and what (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}".replace("\n", " ")


def write_twin(path: Path) -> bool:
    """Writes the parsed twin of the gadget.yaml at `path`; True if it did.  None is
    written (and a stale one removed) where JSON would not give the data back as is."""
    text = path.read_text()
    data = parse_yaml(path, text)
    twin = twin_of(path)
    # Keys in the YAML's order, not sorted: a gadget's fields are its default columns.
    record = json.dumps({"yaml": text, "data": data}, indent=1) + "\n"
    if json.loads(record)["data"] != data:
        twin.unlink(missing_ok=True)
        return False
    partial = twin.with_name(twin.name + ".tmp")
    partial.write_text(record)
    partial.replace(twin)
    return True


def main(argv: list[str]) -> int:
    """`python -m espia.gadget.description FILE...`: each FILE's twin (for make)."""
    for name in argv:
        try:
            written = write_twin(Path(name))
        except (OSError, UnicodeError, UsageError) as exc:
            sys.stderr.write(f"espia.gadget.description: {exc}\n")
            return 1
        if not written:
            sys.stderr.write(f"espia.gadget.description: {name}: no twin (not JSON's data)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
