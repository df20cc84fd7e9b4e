"""The field list that `espia <category> <gadget> --help` prints."""

from __future__ import annotations

from espia.engine.local import RunOptions
from espia.engine.session import open_session
from espia.errors import EspiaError
from espia.gadget.registry import builtin


def gadget_help(category: str, name: str) -> str:
    """A line per field: its column name, whether it is shown by default, what it means."""
    try:
        session = open_session(builtin(category, name), RunOptions())
    except EspiaError as exc:
        return f"\nfields: unavailable ({exc})\n"
    try:
        shown = {c.lower() for c in session.default_columns()}
        width = max(len(f.header) for f in session.schema.fields)
        lines = ["", "fields (* shown by default; pick others with -o columns=+NAME):"]
        for field in session.schema.fields:
            mark = "*" if field.name.lower() in shown else " "
            lines.append(f"  {mark} {field.header:<{width}}  {field.description}")
        return "\n".join(lines) + "\n"
    finally:
        session.close()
