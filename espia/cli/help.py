"""The field list that `espia <category> <gadget> --help` prints."""

from __future__ import annotations

from espia.cli.columns import default_columns
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError


def gadget_help(category: str, name: str) -> str:
    """A line per field: its column name, whether it is shown by default, what it means."""
    try:
        run = LocalRuntime().run(GadgetRef(category, name), RunOptions())
    except EspiaError as exc:
        return f"\nfields: unavailable ({exc})\n"
    try:
        shown = {c.lower() for c in default_columns(run.schema, pods=False)}
        width = max(len(f.header) for f in run.fields)
        lines = ["", "fields (* shown by default; pick others with -o columns=+NAME):"]
        for field in run.fields:
            mark = "*" if field.name.lower() in shown else " "
            lines.append(f"  {mark} {field.header:<{width}}  {field.description}")
        return "\n".join(lines) + "\n"
    finally:
        run.close()
