"""Compiles the per-event functions that stages build from field paths.

A stage that filters on three fields or prints eight columns would pay a
Python call and a lookup per field per event if it walked its field list at
run time; instead it writes one function for the whole job, once, and the
hot path runs that.

Generated code is made safe and debuggable here:

- names that reach the source come from BTF (a struct's member names), so
  from whoever built the object: :func:`identifier` admits only plain ASCII
  identifiers that are not keywords or dunder names, and :func:`access` turns
  a field's path into source only through it;
- every function gets its own file name (``<espia:trace open decode>``)
  whose source is registered in :mod:`linecache`, so a traceback shows the
  generated line and a profile tells the gadgets and stages apart;
- ``ESPIA_DEBUG_CODEGEN=1`` prints each generated source to stderr.
"""

from __future__ import annotations

import keyword
import linecache
import os
import re
import sys
from collections.abc import Callable
from itertools import count
from typing import Any

from espia.errors import LoadError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_serial = count(1)
_used: set[str] = set()

Path = tuple[str, ...]


def is_identifier(name: str) -> bool:
    """Whether `name` may appear as is in generated source: ASCII, no keyword, no dunder."""
    return (
        _IDENTIFIER.fullmatch(name) is not None
        and not keyword.iskeyword(name)
        and not (name.startswith("__") and name.endswith("__"))
    )


def identifier(name: str, where: str) -> str:
    """`name` if it is a plain identifier; else a LoadError naming `where` it came from."""
    if not is_identifier(name):
        raise LoadError(f"read {where}: {name!r} is not a plain identifier (letters, digits, _)")
    return name


def access(path: Path, root: str = "e") -> str:
    """The source reading `path` from `root`: ("container", "k8s", "pod") -> e.container.k8s.pod."""
    return ".".join((root, *(identifier(part, "a field path") for part in path)))


def _filename(label: str) -> str:
    """`<espia:label>`, or `<espia:label #N>` if that name was taken by another function."""
    name = f"<espia:{label}>"
    if name in _used:
        name = f"<espia:{label} #{next(_serial)}>"
    _used.add(name)
    return name


def compile_function(
    name: str, source: str, namespace: dict[str, Any], label: str = ""
) -> Callable[..., Any]:
    """Executes `source` (which defines `name`) in `namespace` and returns `name`.

    `label` says whose function it is ("trace open decode"); it names the
    source in tracebacks and profiles.
    """
    filename = _filename(label or name)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if os.environ.get("ESPIA_DEBUG_CODEGEN") == "1":
        sys.stderr.write(f"# {filename}\n{source}\n")
    scope = dict(namespace)
    exec(compile(source, filename, "exec"), scope)
    function: Callable[..., Any] = scope[name]
    return function
