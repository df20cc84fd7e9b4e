"""An eBPF object file, opened and loaded by libbpf: its maps, programs and BTF.

The life of an object is: open (ELF parsed, nothing in the kernel yet),
configure (rodata values, map sizes, which programs load), load (maps
created, CO-RE relocated, verifier run), attach (see ``espia.ebpf.link``),
close.  ``close()`` is idempotent and a failed ``load()`` closes nothing
twice, so any path out of a gadget leaves the kernel as it was.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from espia.ebpf import _libbpf
from espia.ebpf.btf import Btf
from espia.ebpf.btf_check import check_btf
from espia.ebpf.core_btf import core_btf_for
from espia.ebpf.elf import section
from espia.ebpf.maps import Map
from espia.errors import LoadError, NotSupportedError, PrivilegeError

# SEC() names that give a program's kind and no hook (libbpf's spelling).
_KIND_ONLY_SECTIONS = {"tracepoint", "tp", "raw_tracepoint", "raw_tp"}

# struct bpf_prog_info (uapi linux/bpf.h) up to its u64 recursion_misses at byte 208
# (Linux 5.12): the kernel fills as many bytes as it is given and no more.
_PROG_INFO_SIZE = 216
_RECURSION_MISSES = struct.Struct("<Q")
_RECURSION_MISSES_AT = 208


class Program:
    """One program of an object (one SEC() function)."""

    def __init__(self, handle: int, owner: BpfObject) -> None:
        self._handle = handle
        self._owner = owner
        lib = _libbpf.lib()
        self.name: str = lib.bpf_program__name(handle).decode()
        self.section: str = (lib.bpf_program__section_name(handle) or b"").decode()

    @property
    def handle(self) -> int:
        return self._handle

    @property
    def autoload(self) -> bool:
        return bool(_libbpf.lib().bpf_program__autoload(self._handle))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        _libbpf.lib().bpf_program__set_autoload(self._handle, value)

    @property
    def hooked(self) -> bool:
        """Whether its SEC() name says where to attach it.  One that names only a
        kind (``SEC("tracepoint")``) is reached by tail calls from the others:
        loaded, never attached."""
        return self.section not in _KIND_ONLY_SECTIONS

    @property
    def type(self) -> int:
        """The BPF_PROG_TYPE_* of the program (from its SEC() name)."""
        return int(_libbpf.lib().bpf_program__type(self._handle))

    @property
    def fd(self) -> int:
        """The loaded program's descriptor (negative before load or if it did not load)."""
        return int(_libbpf.lib().bpf_program__fd(self._handle))

    def misses_reader(self) -> Callable[[], int]:
        """A function that reads the loaded program's recursion_misses: the runs the kernel
        skipped, each an event or an update lost, because a BPF program was already
        running on that CPU.  One bpf(2) call per read, into a buffer made once.

        Linux counts them (bpf_prog_inc_misses_counter) for a tracepoint or kprobe
        program that finds any program of those kinds or a perf_event one running
        (trace_call_bpf's bpf_prog_active), for a raw tracepoint, fentry/fexit or
        kprobe-multi program found running already on that CPU (its prog->active).
        A perf_event program skipped for the same reason (bpf_overflow_handler) and
        a probe the kernel itself missed are counted nowhere: no count can report them.
        """
        lib = _libbpf.lib()
        fd = self.fd
        if fd < 0:
            raise LoadError(f"read the runs of program {self.name}: it is not loaded")
        buffer = ctypes.create_string_buffer(_PROG_INFO_SIZE)
        size = ctypes.c_uint32()
        unpack = _RECURSION_MISSES.unpack_from

        def read() -> int:
            # Zeroed each time: the kernel fills in the lengths of the arrays (instructions,
            # map ids), and lengths given back with no arrays to fill are a bad address.
            ctypes.memset(buffer, 0, _PROG_INFO_SIZE)
            size.value = _PROG_INFO_SIZE
            err = lib.bpf_obj_get_info_by_fd(fd, buffer, ctypes.byref(size))
            if err:
                code = ctypes.get_errno() or abs(err)
                raise LoadError(f"read the runs of program {self.name}: {os.strerror(code)}")
            if size.value < _RECURSION_MISSES_AT + 8:
                return 0  # a kernel older than the count (5.12) has none to report
            return int(unpack(buffer, _RECURSION_MISSES_AT)[0])

        return read


class GlobalData:
    """The variables of one data section (.rodata, .bss), by name.

    Before load, writes to .rodata set the constants the verifier sees.  After
    load, `counter()` maps .bss, the live memory the program shares with us,
    so reading a counter there needs no syscall.  (libbpf 1.1 maps it only
    for skeletons, so we map it ourselves.)
    """

    def __init__(self, map_: Map, btf: Btf, section: str, owner: BpfObject) -> None:
        self._map = map_
        self._owner = owner
        self._vars = {v.name: v for v in btf.datasec(section)}

    def __contains__(self, name: str) -> bool:
        return name in self._vars

    def names(self) -> list[str]:
        return list(self._vars)

    def size(self, name: str) -> int:
        return self._vars[name].size

    def _view(self, name: str) -> tuple[int, int]:
        var = self._vars[name]
        address, size = self._map.initial_value()
        if var.offset + var.size > size:
            raise LoadError(f"set {name}: outside of its section")
        return address + var.offset, var.size

    def write(self, name: str, value: bytes) -> None:
        address, size = self._view(name)
        if len(value) > size:
            raise LoadError(f"set {name}: {len(value)} bytes for a {size}-byte variable")
        ctypes.memmove(address, value.ljust(size, b"\0"), size)

    def read(self, name: str) -> bytes:
        address, size = self._view(name)
        return ctypes.string_at(address, size)

    def counter(self, name: str) -> Callable[[], int]:
        """A function that reads the live 64-bit variable `name` (after load)."""
        var = self._vars[name]
        if var.size != 8:
            raise LoadError(f"read {name}: a {var.size}-byte variable is not a 64-bit counter")
        memory = self._owner.mmap(self._map)
        unpack = struct.Struct("<Q").unpack_from
        offset = var.offset
        return lambda: unpack(memory, offset)[0]

    def set_live(self, name: str, value: int) -> None:
        """Sets the live 32-bit variable `name` (after load): the programs see it at once."""
        var = self._vars[name]
        if var.size != 4:
            raise LoadError(f"set {name}: a {var.size}-byte variable is not a 32-bit flag")
        struct.pack_into("<I", self._owner.mmap(self._map), var.offset, value)


class BpfObject:
    """An object file opened by libbpf.  Use as a context manager or call `close()`."""

    def __init__(self, handle: int, path: Path) -> None:
        self._handle: int | None = handle
        self.path = path
        self.btf = Btf(_libbpf.lib().bpf_object__btf(handle))
        self._maps = {m.name: m for m in self._iter_maps()}
        self.programs = list(self._iter_programs())
        self._mmaps: list[mmap.mmap] = []

    @classmethod
    def open(cls, path: str | os.PathLike[str], trusted: bool = False) -> BpfObject:
        """Parses the ELF object at `path`; nothing reaches the kernel yet.

        Unless `trusted` (built from espia's own tree), its BTF is checked
        first (espia.ebpf.btf_check): some 10-25 ms that espia's own gadgets
        skip at start-up.  A trusted object is relocated against the part of
        the kernel BTF cut for it at build time, if there is one
        (espia.ebpf.core_btf).
        """
        path = Path(path)
        if not trusted:
            _check_btf(path)
        lib = _libbpf.lib()
        _libbpf.log.take()
        # A shipped object's own cut of this kernel's BTF, where make left one.
        core_btf = core_btf_for(path) if trusted else None
        options = _libbpf.OpenOptions(os.fsencode(core_btf) if core_btf else None)
        handle = lib.bpf_object__open_file(os.fsencode(path), ctypes.byref(options))
        if not handle:
            errno = _libbpf.last_errno()
            detail = _libbpf.log.take()
            reason = detail[-1] if detail else _libbpf.strerror(errno)
            raise LoadError(f"open {path}: {reason}")
        return cls(handle, path)

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise LoadError(f"use {self.path.name}: the object is closed")
        return self._handle

    def _iter_maps(self) -> Iterator[Map]:
        lib = _libbpf.lib()
        handle = lib.bpf_object__next_map(self._handle, None)
        while handle:
            yield Map(handle)
            handle = lib.bpf_object__next_map(self._handle, handle)

    def _iter_programs(self) -> Iterator[Program]:
        lib = _libbpf.lib()
        handle = lib.bpf_object__next_program(self._handle, None)
        while handle:
            yield Program(handle, self)
            handle = lib.bpf_object__next_program(self._handle, handle)

    @property
    def maps(self) -> dict[str, Map]:
        return self._maps

    def map(self, name: str) -> Map:
        try:
            return self._maps[name]
        except KeyError:
            raise LoadError(f"find map {name!r} in {self.path.name}: no such map") from None

    def data(self, section: str) -> GlobalData | None:
        """The variables of `section` (".rodata", ".bss"), or None if it has none."""
        for map_ in self._maps.values():
            if map_.name.endswith(section):
                return GlobalData(map_, self.btf, section, self)
        return None

    def load(self) -> None:
        """Creates the maps and loads the programs; the verifier's complaint becomes the error."""
        _libbpf.log.take()
        err = _libbpf.lib().bpf_object__load(self.handle)
        if err:
            raise _load_error(self.path, err, _libbpf.log.take())

    def mmap(self, map_: Map) -> mmap.mmap:
        """Maps `map_` for the life of this object."""
        memory = map_.mmap()
        self._mmaps.append(memory)
        return memory

    def close(self) -> None:
        while self._mmaps:
            self._mmaps.pop().close()
        if self._handle is not None:
            _libbpf.lib().bpf_object__close(self._handle)
            self._handle = None

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _load_error(path: Path, err: int, log: list[str]) -> Exception:
    """Turns a failed bpf_object__load into the error a user can act on."""
    code = abs(err)
    if code == 1:  # EPERM
        return PrivilegeError(
            f"load {path.name}: operation not permitted (run as root, or with CAP_BPF and "
            "CAP_PERFMON)"
        )
    joined = "\n".join(log)
    if "vmlinux BTF" in joined or "failed to find valid kernel BTF" in joined:
        return NotSupportedError(
            "BTF", f"load {path.name}: the kernel has no BTF (needs CONFIG_DEBUG_INFO_BTF=y)"
        )
    refused = _verifier_summary(joined)
    if refused:
        return LoadError(f"load {path.name}: {refused}", log)
    summary = [line for line in log if line.startswith("libbpf:")]
    cause = (summary[-1].removeprefix("libbpf: ") if summary else _libbpf.strerror(code)).strip()
    return LoadError(f"load {path.name}: {cause}", log)


def _check_btf(path: Path) -> None:
    """The object's BTF checked before libbpf reads it (espia.ebpf.btf_check says why)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"open {path}: {exc.strerror}") from exc
    try:
        raw = section(data, ".BTF")
    except LoadError as exc:
        raise LoadError(f"open {path}: {exc}") from exc
    if raw is None:
        raise LoadError(f"open {path}: no BTF (build it with clang -g)")
    check_btf(raw, str(path))


_VERIFIER_LOG = re.compile(
    r"prog '([^']*)': -- BEGIN PROG LOAD LOG --\n(.*?)\n-- END PROG LOAD LOG --", re.S
)
# Lines the verifier ends with that say how far it got, not what went wrong.
_VERIFIER_TALLIES = ("processed ", "verification time", "stack depth", "max_states_per_insn")


def _verifier_summary(log: str) -> str:
    """What matters of the verifier's log of the program it refused: its complaint, the
    source line and the instruction where it stopped (the whole log is in LoadError.log)."""
    found = _VERIFIER_LOG.search(log)
    if found is None:
        return ""
    program, text = found.groups()
    lines = [line for line in text.splitlines() if line.strip()]
    while lines and lines[-1].startswith(_VERIFIER_TALLIES):
        lines.pop()
    if not lines:
        return ""
    complaint, before = lines[-1], lines[:-1]
    where = next((line for line in reversed(before) if line.startswith("; ")), "")
    out = [f"the verifier refused program {program}: {complaint}"]
    if where:
        source, _, place = where.removeprefix("; ").rpartition(" @ ")
        out.append(f"at {place}: {source.strip()}" if place else where)
    if before and not before[-1].startswith("; "):
        out.append(before[-1])
    return "\n".join(out)
