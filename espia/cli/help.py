"""The field list that `espia <category> <gadget> --help` prints."""

from __future__ import annotations

from espia.cli.columns import default_columns
from espia.engine.runtime import Gadget, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError
from espia.gadget.params import Param


def params_help(params: tuple[Param, ...]) -> list[str]:
    """The parameters' lines: flags, type=default, description (none: no lines)."""
    if not params:
        return []
    lines = ["", "parameters (--NAME VALUE or --param NAME=VALUE):"]
    flags = [(f"-{p.short}, " if p.short else "") + p.flag for p in params]
    types = [p.type_name + (f"={p.default}" if p.default else "") for p in params]
    width, type_width = max(map(len, flags)), max(map(len, types))
    for param, flag, typed in zip(params, flags, types, strict=True):
        lines.append(f"  {flag:<{width}}  {typed:<{type_width}}  {param.description}")
    return lines


def gadget_help(gadget: Gadget) -> str:
    """A line per field: its column name, whether it is shown by default, what it means;
    then the gadget's parameters."""
    try:
        run = LocalRuntime().run(gadget, RunOptions())
    except EspiaError as exc:
        return f"\nfields: unavailable ({exc})\n"
    try:
        shown = {c.lower() for c in default_columns(run.schema, pods=False)}
        width = max(len(f.name) for f in run.fields)
        lines = ["", "fields (* shown by default; pick others with -o columns=+NAME):"]
        for field in run.fields:
            mark = "*" if field.name.lower() in shown else " "
            # The name is what flags take; a column headed otherwise says so.
            shown_as = f"; column header {field.heading}" if field.heading else ""
            lines.append(f"  {mark} {field.name.upper():<{width}}  {field.description}{shown_as}")
        return "\n".join(lines + params_help(run.event_schema.params)) + "\n"
    finally:
        run.close()
