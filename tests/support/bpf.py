"""What eBPF objects the kernel holds: to prove espia leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from espia.ebpf.object import BpfObject

PACKAGE = Path(__file__).resolve().parents[2] / "espia"


def gadget_names() -> tuple[set[str], set[str]]:
    """(program names, map names) of every object espia ships (its gadgets, the container
    tracker), as the kernel shows them."""
    programs: set[str] = set()
    maps: set[str] = set()
    for path in PACKAGE.rglob("program.bpf.o"):
        with BpfObject.open(path) as obj:
            programs |= {p.name[:15] for p in obj.programs}
            maps |= {name[:15] for name in obj.maps}
    return programs, maps


def _bpftool(kind: str) -> list[dict]:
    out = subprocess.run(
        ["bpftool", "-j", kind, "show"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out or "[]")


def loaded_espia_objects(settle: float = 3.0) -> list[str]:
    """Programs and maps in the kernel whose names are espia's, plus every pinned object.

    The kernel frees a program after an RCU grace period once its last file
    descriptor is closed, so an object may linger a moment after espia
    exits: this waits up to `settle` seconds for the list to empty.
    """
    deadline = time.monotonic() + settle
    while True:
        found = _espia_objects()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _espia_objects() -> list[str]:
    programs, maps = gadget_names()
    found = [
        f"prog {p['id']} {p.get('name')}" for p in _bpftool("prog") if p.get("name") in programs
    ]
    found += [f"map {m['id']} {m.get('name')}" for m in _bpftool("map") if m.get("name") in maps]
    pinned = Path("/sys/fs/bpf")
    if pinned.is_dir():
        # maps.debug and progs.debug are bpffs's own listings (kernel iterators), not pins.
        found += [f"pinned {p}" for p in pinned.rglob("*") if p.is_file() and p.suffix != ".debug"]
    return found


def loaded_programs() -> set[str]:
    """The names of every program loaded in the kernel now."""
    return {p["name"] for p in _bpftool("prog") if "name" in p}


def wait_until(condition, timeout: float = 15) -> bool:
    """Whether `condition()` came true within `timeout` seconds (polled)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def map_of(pid: int, name: str) -> dict:
    """bpftool's description of the map called `name` that process `pid` holds open
    (found through its descriptors' fdinfo, so another process's map is never taken)."""
    ids = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:  # a descriptor closed meanwhile
            continue
        ids |= {int(line.split()[1]) for line in text.splitlines() if line.startswith("map_id:")}
    found = [m for m in _bpftool("map") if m["id"] in ids and m.get("name") == name[:15]]
    assert len(found) == 1, (name, found)
    return found[0]


def map_insert(description: dict, key: bytes, value: bytes) -> None:
    """Adds key -> value to a map another process holds (bpftool, by id)."""
    subprocess.run(
        [
            "bpftool", "map", "update", "id", str(description["id"]),
            "key", "hex", *(f"{b:02x}" for b in key),
            "value", "hex", *(f"{b:02x}" for b in value),
            "noexist",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
