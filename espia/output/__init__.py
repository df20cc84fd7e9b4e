"""Outputs: the last stage, turning events into text on a stream.

``make_output`` picks the writer for an ``-o`` value; every writer takes
its streams as arguments, so tests read exactly what a user would see.
"""

from __future__ import annotations

from typing import TextIO

from espia.errors import UsageError
from espia.gadget.fields import Field
from espia.output.base import Output
from espia.output.columns import ColumnsOutput, select_columns
from espia.output.json_writer import JsonOutput
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
) -> Output:
    """The writer for `-o mode` ("columns=+flags,-pid" included).

    With `lists`, JSON and YAML show each batch as one list (a snapshot, a
    top interval) instead of one object per event.  `title` ("trace open")
    names the generated formatters in tracebacks and profiles.
    """
    name, _, columns = mode.partition("=")
    name = name.strip().lower()
    if name == "columns":
        chosen = select_columns(fields, default_columns, columns)
        return ColumnsOutput(chosen, out, err, title)
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
