"""Shipped objects are relocated against the BTF cut for them at build time, when it fits.

The cut BTF must give exactly the program the whole kernel BTF gives: the
programs the kernel holds after each load are compared instruction by
instruction (bpftool's dump of the translated code, map ids left out).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from support.bpf import PACKAGE

from espia.ebpf import core_btf
from espia.ebpf import object as bpf_object
from espia.ebpf.object import BpfObject

SHIPPED = sorted(PACKAGE.rglob("program.bpf.o"))
# Those whose programs take a kernel type id (bpf_rdonly_cast): the cut BTF renumbers them.
TYPE_IDS = [path for path in SHIPPED if core_btf.asks_kernel_type_ids(path.read_bytes())]


def _prog_id(fd: int) -> int:
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("prog_id:"):
            return int(line.split()[1])
    raise AssertionError(f"fd {fd} is not a program")


def _loaded_code(path: Path) -> dict[str, str]:
    """The translated code of each program of `path` once loaded, by program name."""
    with BpfObject.open(path, trusted=True) as obj:
        obj.load()
        code = {}
        for program in obj.programs:
            if program.fd < 0:
                continue
            dump = subprocess.run(
                ["bpftool", "prog", "dump", "xlated", "id", str(_prog_id(program.fd))],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            code[program.name] = re.sub(r"map\[id:\d+\]", "map", dump)
        return code


@pytest.mark.parametrize(
    "path", [p for p in SHIPPED if p not in TYPE_IDS], ids=lambda p: p.parent.name
)
def test_the_cut_btf_relocates_as_the_kernel_btf_does(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = core_btf.core_btf_for(path)
    assert cut is not None, f"make cut no BTF for {path} from this kernel's"
    assert cut.stat().st_size < 64 << 10  # a few types, not the kernel's 5 MB
    with_cut = _loaded_code(path)
    monkeypatch.setattr(bpf_object, "core_btf_for", lambda path: None)
    assert with_cut == _loaded_code(path)
    assert with_cut  # programs were compared


def test_an_object_taking_kernel_type_ids_is_relocated_against_the_kernel_btf() -> None:
    assert [path.parent.name for path in TYPE_IDS] == ["top_file"]
    for path in TYPE_IDS:
        assert core_btf.core_btf_name(path, core_btf.kernel_btf_digest() or "").exists()
        assert core_btf.core_btf_for(path) is None


def test_a_cut_older_than_its_object_is_not_used(tmp_path: Path) -> None:
    obj = tmp_path / "program.bpf.o"
    obj.write_bytes((PACKAGE / "gadgets" / "trace_open" / "program.bpf.o").read_bytes())
    digest = core_btf.kernel_btf_digest()
    assert digest is not None and len(digest) == core_btf.DIGEST_DIGITS
    cut = core_btf.core_btf_name(obj, digest)
    assert cut.name == f"program.bpf.core-{digest}.btf"
    cut.write_bytes(b"")
    assert core_btf.core_btf_for(obj) == cut
    os.utime(cut, ns=(0, obj.stat().st_mtime_ns - 1))  # the object was rebuilt since
    assert core_btf.core_btf_for(obj) is None


def test_a_cut_from_another_kernel_is_not_used(tmp_path: Path) -> None:
    obj = tmp_path / "program.bpf.o"
    obj.write_bytes(b"")
    core_btf.core_btf_name(obj, "0" * core_btf.DIGEST_DIGITS).write_bytes(b"")
    assert core_btf.core_btf_for(obj) is None
