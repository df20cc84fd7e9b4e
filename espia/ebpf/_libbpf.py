"""ctypes declarations of the part of libbpf espia uses, and its log.

libbpf is the loader of this field: it does CO-RE relocation against the
running kernel's BTF, map creation and program attachment, which nobody
should rewrite.  This module is the only place that knows its C signatures;
everything above it speaks Python objects and espia errors.

libbpf reports errors as negative errno values (or NULL and errno); its
messages (the verifier log among them) go through a print callback that we
collect, so that a failed load can say *why* in the error it raises.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)
from functools import cache

from espia.errors import NotSupportedError

# Opaque handles: libbpf owns the memory behind them.
ObjectPtr = c_void_p
MapPtr = c_void_p
ProgramPtr = c_void_p
LinkPtr = c_void_p
BtfPtr = c_void_p

_PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)


class OpenOptions(ctypes.Structure):
    """struct bpf_object_open_opts of libbpf 1.x, up to the member espia sets.

    libbpf reads only the first `sz` bytes, so a shorter struct than its own is fine.
    """

    _fields_ = [
        ("sz", c_size_t),
        ("object_name", c_char_p),
        ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p),
        ("_removed_attach_prog_fd", c_uint32),
        ("kconfig", c_char_p),
        # The BTF that CO-RE relocations use instead of the kernel's (espia.ebpf.core_btf).
        ("btf_custom_path", c_char_p),
    ]

    def __init__(self, btf_custom_path: bytes | None = None) -> None:
        super().__init__(sz=ctypes.sizeof(self), btf_custom_path=btf_custom_path)


LIBBPF_DEBUG = 2  # enum libbpf_print_level: WARN 0, INFO 1, DEBUG 2


class _Log:
    """The messages libbpf printed in each thread since that thread's last `take()`.

    libbpf's print callback is process-global, but libbpf calls it in the
    thread whose call prints, and loads run in several threads at once (a
    gadget's beside the container tracker's: espia.engine.background).  A
    log shared by them lost a refused load's verifier message whenever the
    other load started (its `take()` emptied the log) between the verifier's
    print and the refused load's own `take()`; so each thread keeps its own.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _mine(self) -> list[str]:
        lines: list[str] | None = getattr(self._local, "lines", None)
        if lines is None:
            lines = self._local.lines = []
        return lines

    def add(self, text: str) -> None:
        lines = self._mine()
        lines.append(text)
        del lines[:-2000]

    def take(self) -> list[str]:
        lines = self._mine()
        self._local.lines = []
        return lines


log = _Log()


def _bind(lib: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> None:
    func = getattr(lib, name)
    func.restype = restype
    func.argtypes = list(argtypes)


# libbpf 1.x's soname: loaded by name, as the dynamic linker finds it.  Searching for
# it (ctypes.util.find_library) would run `ldconfig -p` in a child process at every start.
SONAME = "libbpf.so.1"


def _open_library() -> ctypes.CDLL:
    try:
        return ctypes.CDLL(SONAME, use_errno=True)
    except OSError:
        pass
    from ctypes.util import find_library  # another soname, in the linker's cache

    path = find_library("bpf")
    if path is None:
        raise NotSupportedError(
            "libbpf", "find libbpf: libbpf.so.1 is not installed (install the libbpf1 package)"
        )
    return ctypes.CDLL(path, use_errno=True)


@cache
def lib() -> ctypes.CDLL:
    """Loads libbpf once, declares its functions and routes its log to `log`."""
    bpf = _open_library()
    sig = {
        "bpf_object__open_file": (ObjectPtr, c_char_p, POINTER(OpenOptions)),
        "bpf_object__load": (c_int, ObjectPtr),
        "bpf_object__close": (None, ObjectPtr),
        "bpf_object__btf": (BtfPtr, ObjectPtr),
        "bpf_object__next_map": (MapPtr, ObjectPtr, MapPtr),
        "bpf_object__next_program": (ProgramPtr, ObjectPtr, ProgramPtr),
        "bpf_object__find_map_by_name": (MapPtr, ObjectPtr, c_char_p),
        "bpf_map__name": (c_char_p, MapPtr),
        "bpf_map__fd": (c_int, MapPtr),
        "bpf_map__max_entries": (c_uint32, MapPtr),
        "bpf_map__set_max_entries": (c_int, MapPtr, c_uint32),
        "bpf_map__value_size": (c_uint32, MapPtr),
        "bpf_map__key_size": (c_uint32, MapPtr),
        "bpf_map__type": (c_int, MapPtr),
        "bpf_map__initial_value": (c_void_p, MapPtr, POINTER(c_size_t)),
        "bpf_program__name": (c_char_p, ProgramPtr),
        "bpf_program__section_name": (c_char_p, ProgramPtr),
        "bpf_program__set_autoload": (c_int, ProgramPtr, c_bool),
        "bpf_program__autoload": (c_bool, ProgramPtr),
        "bpf_program__type": (c_int, ProgramPtr),
        "bpf_program__fd": (c_int, ProgramPtr),
        "bpf_program__attach": (LinkPtr, ProgramPtr),
        "bpf_program__attach_cgroup": (LinkPtr, ProgramPtr, c_int),
        "bpf_program__attach_perf_event": (LinkPtr, ProgramPtr, c_int),
        "bpf_link__destroy": (c_int, LinkPtr),
        "bpf_obj_get_info_by_fd": (c_int, c_int, c_void_p, POINTER(c_uint32)),
        "bpf_map_update_elem": (c_int, c_int, c_void_p, c_void_p, ctypes.c_uint64),
        "bpf_map_delete_elem": (c_int, c_int, c_void_p),
        "bpf_map_get_next_key": (c_int, c_int, c_void_p, c_void_p),
        "bpf_map_lookup_and_delete_batch": (
            c_int,
            c_int,
            c_void_p,
            c_void_p,
            c_void_p,
            c_void_p,
            POINTER(c_uint32),
            c_void_p,
        ),
        "btf__type_by_id": (c_void_p, BtfPtr, c_uint32),
        "btf__name_by_offset": (c_char_p, BtfPtr, c_uint32),
        "btf__find_by_name_kind": (c_int32, BtfPtr, c_char_p, c_uint32),
        "btf__resolve_size": (c_int64, BtfPtr, c_uint32),
        "btf__load_vmlinux_btf": (BtfPtr,),
        "btf__free": (None, BtfPtr),
        "libbpf_probe_bpf_prog_type": (c_int, c_int, c_void_p),
        "libbpf_probe_bpf_helper": (c_int, c_int, c_int, c_void_p),
        "libbpf_set_print": (c_void_p, _PRINT_FN),
    }
    for name, (restype, *argtypes) in sig.items():
        _bind(bpf, name, restype, *argtypes)
    bpf.libbpf_set_print(_print_callback)
    return bpf


_libc = ctypes.CDLL(None)
_VA_LIST_SIZE = 24
_libc.vsnprintf.restype = c_int
_libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]


@_PRINT_FN
def _print(level: int, fmt: bytes, args: int) -> int:
    # Debug lines are most of what libbpf prints (a thousand per load): drop them
    # before formatting, which would cost more than the callback itself.
    if level == LIBBPF_DEBUG:
        return 0
    # x86-64 passes a va_list as a pointer to a 24-byte struct, which vsnprintf takes as
    # it is and consumes: a copy of it formats again a message longer than the buffer
    # (a verifier's log comes as one, and its end says what went wrong).
    saved = ctypes.create_string_buffer(ctypes.string_at(args, _VA_LIST_SIZE), _VA_LIST_SIZE)
    buf = ctypes.create_string_buffer(1024)
    needed = _libc.vsnprintf(buf, len(buf), fmt, args)
    if needed >= len(buf):
        buf = ctypes.create_string_buffer(needed + 1)
        _libc.vsnprintf(buf, len(buf), fmt, ctypes.addressof(saved))
    log.add(buf.value.decode(errors="replace").rstrip("\n"))
    return 0


_print_callback = _print


def last_errno() -> int:
    """The errno libbpf left after a call that returned NULL."""
    return ctypes.get_errno() or 1


def strerror(code: int) -> str:
    """`os.strerror` for a libbpf error (negative or positive errno)."""
    return os.strerror(abs(code))
