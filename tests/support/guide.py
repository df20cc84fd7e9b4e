"""The example gadget of docs/writing-a-gadget.md, taken from the page verbatim.

The page marks each file with `<!-- gadget-file: NAME -->` before its code
block; the tests build and run exactly what a reader copies.
"""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-gadget.md"
_BLOCK = re.compile(r"<!-- gadget-file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def guide_files() -> dict[str, str]:
    files = dict(_BLOCK.findall(GUIDE.read_text()))
    assert set(files) == {"program.bpf.c", "gadget.yaml"}
    return files


def write_guide_gadget(folder: Path) -> Path:
    """The guide's folder, as a user would lay it out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in guide_files().items():
        (folder / name).write_text(text)
    return folder
