"""The built-in gadgets: folders named <category>_<name> under espia/gadgets/.

A name's underscores are dashes on the command line (top_block_io is
`espia top block-io`).

The catalog is read from folder names alone: finding a gadget opens no
object and no other gadget's files.  (The command line's parser still reads
each gadget.yaml, for the one-line description its help shows.)  A built-in
gadget's description is read once per process (`spec_of`): the parser and
the runtime both want it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from espia.errors import UsageError
from espia.gadget.spec import DESCRIPTION, GadgetSpec

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "gadgets"

CATEGORIES = {
    "trace": "Trace events as they happen",
    "top": "Show the busiest processes, files or connections, refreshed periodically",
    "snapshot": "Show the state of the system once",
    "profile": "Sample and summarise",
}


@cache
def catalog() -> dict[str, dict[str, Path]]:
    """{category: {name: folder}} of the built-in gadgets."""
    found: dict[str, dict[str, Path]] = {c: {} for c in CATEGORIES}
    for description in sorted(BUILTIN_DIR.glob(f"*/{DESCRIPTION}")):
        category, _, name = description.parent.name.partition("_")
        if category in found and name:
            found[category][name.replace("_", "-")] = description.parent
    return found


@cache
def spec_of(folder: Path) -> GadgetSpec:
    """The spec of the built-in gadget in `folder`, read once (GadgetSpec is frozen)."""
    return GadgetSpec.from_folder(folder)


def builtin(category: str, name: str) -> GadgetSpec:
    """The spec of `espia <category> <name>`; a UsageError that suggests a near name."""
    gadgets = catalog().get(category)
    if gadgets is None:
        raise UsageError(f"unknown command {category!r}; see `espia --help`")
    folder = gadgets.get(name)
    if folder is None:
        import difflib  # lazily: only a misspelt name needs it

        close = difflib.get_close_matches(name, list(gadgets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        available = ", ".join(sorted(gadgets)) or "none yet"
        raise UsageError(f"unknown gadget {category} {name!r}{hint}; available: {available}")
    return spec_of(folder)
