"""Addresses to names: the kernel's table, this process's own libc, and what cannot be named."""

from __future__ import annotations

import ctypes
import os
import subprocess

from espia.engine.symbols import UNKNOWN, Symbolizer, kernel_symbols, parse_maps

# Any one image: these tests do not exec.
IMAGE = (1, 0)


def test_kallsyms_text_symbols_with_their_modules(tmp_path):
    (tmp_path / "kallsyms").write_text(
        "ffffffff81000000 T _stext\n"
        "ffffffff81000100 t helper\n"
        "ffffffff81000200 D some_data\n"
        "ffffffff81000300 W weak_fn\n"
        "ffffffffc0001000 t mod_fn\t[mymod]\n"
    )
    table = kernel_symbols(str(tmp_path / "kallsyms"))
    assert [
        table.name(a) for a in (0xFFFFFFFF81000000, 0xFFFFFFFF810001FF, 0xFFFFFFFF81000250)
    ] == [
        "_stext",
        "helper",
        "helper",  # data is not a function: the text symbol before it runs on
    ]
    assert table.name(0xFFFFFFFF81000300) == "weak_fn"
    assert table.name(0xFFFFFFFFC0001000) == "mod_fn mymod"
    assert table.name(0xFFFFFFFF80000000) is None


def test_hidden_kernel_addresses_name_nothing(tmp_path):
    (tmp_path / "kallsyms").write_text("0000000000000000 T _stext\n0000000000000000 t helper\n")
    assert len(kernel_symbols(str(tmp_path / "kallsyms"))) == 0


def test_maps_keep_executable_file_and_anonymous_mappings():
    maps = parse_maps(
        "55d0c0000000-55d0c0001000 r--p 00000000 fe:01 1234  /usr/bin/prog\n"
        "55d0c0001000-55d0c0005000 r-xp 00001000 fe:01 1234  /usr/bin/prog\n"
        "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n"
        "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0  [vdso]\n"
    )
    assert [(m.start, m.offset, m.path, m.key is None) for m in maps] == [
        (0x55D0C0001000, 0x1000, "/usr/bin/prog", False),
        (0x7F0000000000, 0, "", True),
        (0x7FFD00000000, 0, "[vdso]", True),
    ]


def test_this_process_libc_function_is_named_from_its_loaded_address():
    libc = ctypes.CDLL(None)
    getpid = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    assert getpid is not None
    symbols = Symbolizer()
    assert symbols.user_stack(os.getpid(), IMAGE, (getpid + 1, 0x10), list) == ["getpid", UNKNOWN]
    assert symbols.unresolved == 0


def test_a_process_that_ended_is_counted_and_not_guessed():
    done = subprocess.Popen(["true"])
    done.wait()
    symbols = Symbolizer()
    assert symbols.user_stack(done.pid, IMAGE, (0x401000, 0x401010), list) == [UNKNOWN, UNKNOWN]
    assert symbols.unresolved == 1
