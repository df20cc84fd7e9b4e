"""Outputs: the last stage, turning events into text on a stream.

``make_output`` picks the writer for an ``-o`` value; every writer takes
its streams as arguments, so tests read exactly what a user would see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from espia.errors import UsageError
from espia.gadget.fields import Field
from espia.output.base import Output
from espia.output.columns import ColumnsOutput, select_columns
from espia.output.json_writer import JsonOutput
from espia.output.stacks import DEFAULT_MAX_ROWS, StacksOutput
from espia.output.yaml_writer import YamlOutput

MODES = ("columns", "json", "jsonpretty", "yaml")


def make_output(
    mode: str,
    fields: tuple[Field, ...],
    default_columns: list[str],
    out: TextIO,
    err: TextIO,
    lists: bool = False,
    title: str = "",
    header: bool = True,
    view: str = "",
    params: Mapping[str, object] | None = None,
) -> Output:
    """The writer for `-o mode` ("columns=+flags,-pid" included).

    With `lists`, JSON and YAML show each batch as one list (a snapshot, a
    top interval) instead of one object per event.  `title` ("trace open")
    names the generated formatters in tracebacks and profiles.  Without
    `header`, columns leave out their header line.  A gadget's
    `view` ("stacks": a profile) picks writers of its own, which may read the
    gadget's `params` (--svg, --max-rows).
    """
    name, _, columns = mode.partition("=")
    name = name.strip().lower()
    if view == "stacks":
        if columns:
            raise UsageError(f"output {mode!r}: a profile's table has no columns to pick")
        options = params or {}
        return StacksOutput(
            name,
            out,
            err,
            max_rows=int(options.get("max_rows") or DEFAULT_MAX_ROWS),  # type: ignore[call-overload]
            svg=str(options.get("svg") or ""),
            title=title,
        )
    if name == "columns":
        chosen = select_columns(fields, default_columns, columns)
        return ColumnsOutput(chosen, out, err, title, header=header)
    if columns:
        raise UsageError(f"output {mode!r}: only columns takes a list of columns")
    if name == "json":
        return JsonOutput(fields, out, err, lists=lists, title=title)
    if name == "jsonpretty":
        return JsonOutput(fields, out, err, pretty=True, lists=lists)
    if name == "yaml":
        return YamlOutput(fields, out, err, lists=lists)
    raise UsageError(f"output {mode!r}: unknown mode; use one of {', '.join(MODES)}")


__all__ = ["MODES", "Output", "make_output"]
