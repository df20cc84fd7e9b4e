"""profile cpu's symbolizer: stacks rendered once per process map, and the maps' executable lines.

The sampler renders each sample's stacks through Symbolizer.user_stack and
kernel_stack, which remember a rendered stack: these tests check that a
stack met again is the same text without being rendered again, that a new
map (an exec) renders it afresh, and that what cannot be named stays
counted.
"""

from __future__ import annotations

import ctypes
import io
import os
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile

from espia.engine.symbols import UNKNOWN, Symbolizer, parse_maps

# Any one image: these tests do not exec.
IMAGE = (1, 0)


class Renders:
    """A render that records what it was asked to render."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, frames: list[str]) -> str:
        self.calls.append(list(frames))
        return ";".join(reversed(frames))


def libc_getpid() -> int:
    address = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    assert address is not None
    return address


def test_a_user_stack_met_again_is_not_rendered_again():
    getpid = libc_getpid()
    symbols, render = Symbolizer(), Renders()
    stack = (getpid + 1, 0x10)
    first = symbols.user_stack(os.getpid(), IMAGE, stack, render)
    again = symbols.user_stack(os.getpid(), IMAGE, stack, render)
    assert first == again == f"{UNKNOWN};getpid"
    assert render.calls == [["getpid", UNKNOWN]]
    assert symbols.user_stack(os.getpid(), IMAGE, (getpid + 2,), render) == "getpid"
    assert len(render.calls) == 2
    assert symbols.unresolved == 0


def test_a_new_map_renders_the_stack_afresh():
    getpid = libc_getpid()
    symbols, render = Symbolizer(), Renders()
    symbols.user_stack(os.getpid(), IMAGE, (getpid + 1,), render)
    # The process's map read again (as after an exec): its remembered stacks go with it.
    symbols._processes.clear()
    assert symbols.user_stack(os.getpid(), IMAGE, (getpid + 1,), render) == "getpid"
    assert render.calls == [["getpid"], ["getpid"]]


def test_a_stack_of_an_ended_process_is_counted_each_time():
    done = subprocess.Popen(["true"])
    done.wait()
    symbols, render = Symbolizer(), Renders()
    for _ in range(2):
        text = symbols.user_stack(done.pid, IMAGE, (0x401000, 0x401010), render)
        assert text == f"{UNKNOWN};{UNKNOWN}"
    assert symbols.unresolved == 2
    assert symbols.user_stack(done.pid, IMAGE, (), render) == ""
    assert symbols.unresolved == 2


def test_a_kernel_stack_is_rendered_once(tmp_path):
    (tmp_path / "kallsyms").write_text(
        "ffffffff81000000 T entry_SYSCALL_64\n"
        "ffffffff81000100 t do_syscall_64\n"
        "ffffffff81000200 t next_function\n"
    )
    symbols, render = Symbolizer(str(tmp_path)), Renders()
    stack = (0xFFFFFFFF81000104, 0xFFFFFFFF81000004)
    for _ in range(3):
        assert symbols.kernel_stack(stack, render) == "entry_SYSCALL_64;do_syscall_64"
    assert render.calls == [["do_syscall_64", "entry_SYSCALL_64"]]


def test_maps_executable_lines_as_split_fields_give_them():
    """This process's own map: every executable line, as the fields split by hand say."""
    text = Path("/proc/self/maps").read_text()
    expected = []
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if "x" not in parts[1]:
            continue
        major, minor = (int(n, 16) for n in parts[3].split(":"))
        start, end = (int(n, 16) for n in parts[0].split("-"))
        inode = int(parts[4])
        key = (os.makedev(major, minor), inode) if inode else None
        expected.append((start, end, int(parts[2], 16), parts[5] if len(parts) > 5 else "", key))
    got = [(m.start, m.end, m.offset, m.path, m.key) for m in parse_maps(text)]
    assert got == expected
    assert any(path.endswith(".so.6") or "libc" in path for _, _, _, path, _ in got)


def test_maps_paths_with_spaces_and_deleted_files():
    maps = parse_maps(
        "7f0000000000-7f0000001000 r-xp 00002000 fe:01 99   /opt/my app/lib x.so (deleted)\n"
        "7f0000001000-7f0000002000 rw-p 00003000 fe:01 99   /opt/my app/lib x.so (deleted)\n"
    )
    assert [(m.start, m.offset, m.path, m.key) for m in maps] == [
        (0x7F0000000000, 0x2000, "/opt/my app/lib x.so (deleted)", (os.makedev(0xFE, 1), 99))
    ]


def test_a_sample_of_the_program_an_exec_replaced_is_not_named_from_the_new_map():
    getpid = libc_getpid()
    later = (IMAGE[0], IMAGE[1] + 1)
    symbols, render = Symbolizer(), Renders()
    # In one batch with a sample of the next image: /proc shows that one's map only.
    symbols.newest_images([(os.getpid(), IMAGE), (os.getpid(), later)])
    assert symbols.user_stack(os.getpid(), IMAGE, (getpid + 1,), render) == UNKNOWN
    assert symbols.user_stack(os.getpid(), later, (getpid + 1,), render) == "getpid"
    # Arriving late, after the next image's map was read.
    symbols.newest_images([(os.getpid(), IMAGE)])
    assert symbols.user_stack(os.getpid(), IMAGE, (getpid + 1,), render) == UNKNOWN
    assert symbols.unresolved == 2


def test_the_vdso_functions_are_named_from_its_image_in_memory():
    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    base = getauxval(33)  # AT_SYSINFO_EHDR: where the kernel mapped the vDSO
    with open("/proc/self/mem", "rb") as memory:
        memory.seek(base)
        image = memory.read(2 * 4096)
    elf = ELFFile(io.BytesIO(image))
    (offset,) = [
        s["st_value"]
        for s in elf.get_section_by_name(".dynsym").iter_symbols()
        if s.name == "__vdso_clock_gettime"
    ]
    symbols, render = Symbolizer(), Renders()
    # Before: "[[vdso]]", for every function of it.
    assert symbols.user_stack(os.getpid(), IMAGE, (base + offset + 1,), render) in {
        "clock_gettime",
        "__vdso_clock_gettime",
    }
    # Anonymous code (a JIT's) has no symbols: shown as [unknown], not as a neighbour's name.
    assert symbols.user_stack(os.getpid(), IMAGE, (0x10,), render) == UNKNOWN


def test_a_return_address_is_named_by_its_call_not_by_what_follows(tmp_path):
    (tmp_path / "kallsyms").write_text(
        "ffffffff81000000 T entry_SYSCALL_64\n"
        "ffffffff81000100 t do_syscall_64\n"
        "ffffffff81000200 t next_function\n"
    )
    symbols = Symbolizer(str(tmp_path))
    # The leaf is where the CPU was; the caller's call was its last instruction.
    stack = (0xFFFFFFFF81000200, 0xFFFFFFFF81000200, 0xFFFFFFFF81000100)
    assert symbols.kernel(stack) == ["next_function", "do_syscall_64", "entry_SYSCALL_64"]
