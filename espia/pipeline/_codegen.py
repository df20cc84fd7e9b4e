"""Compiles the per-event functions that stages build from field expressions.

A stage that filters on three fields or prints eight columns would pay a
Python call and a lookup per field per event if it walked its field list at
run time; instead it writes one function for the whole job, once, and the
hot path runs that.  The source is kept on the function for debugging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def compile_function(name: str, source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """Executes `source` (which defines `name`) in `namespace` and returns `name`."""
    scope = dict(namespace)
    code = compile(source, f"<espia {name}>", "exec")
    exec(code, scope)
    function: Callable[..., Any] = scope[name]
    function.__espia_source__ = source  # type: ignore[attr-defined]
    return function


def getter(expr: str) -> Callable[[Any], Any]:
    """A function of an event `e` that evaluates the field expression `expr`."""
    return compile_function("get", f"def get(e):\n    return {expr}\n", {})
