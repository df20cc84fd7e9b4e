"""Addresses to function names: the kernel's from /proc/kallsyms, user space's from ELF files.

A user address is first placed in its process's memory map
(/proc/PID/maps): the mapping gives the file and the offset in it, the
file's PT_LOAD segments turn that offset into the address its symbol table
uses, so PIE executables and shared libraries (loaded anywhere) resolve
alike.  Files are opened through /proc/PID/map_files (the very file mapped,
inside a container's mount namespace too), else /proc/PID/root/PATH, and
their symbols are read once per (device, inode, mtime): every process of
one libc shares them.  The ELF parsing is pyelftools': ELF files of traced
programs are input espia does not control, and a maintained parser has met
far more malformed ones than a parser of ours would.

Names are returned as found (Python strings; bytes that are not UTF-8 as
surrogate escapes): they are hostile strings, escaped by whoever shows them.
An address no symbol covers is named after its file (``[libc.so.6]``), an
anonymous mapping's name (``[anon:NAME]``), or ``[unknown]`` outside any
named mapping.  The vDSO's functions are named from its image in memory.
"""

from __future__ import annotations

import bisect
import io
import itertools
import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Generic, TypeVar

T = TypeVar("T")
# Which program image of a process a stack belongs to: its start time and its
# count of execs (see include/espia/stack.bpf.h); ordered, a later image is greater.
Image = tuple[int, int]
# "ffffffff81000000 T _stext" or "ffffffffc0a01000 t fn\t[module]": text symbols only.
_KALLSYMS_TEXT = re.compile(rb"^([0-9a-f]+) [tTwW] (\S+)(?:\t\[(\S+)\])?$", re.M)
UNKNOWN = "[unknown]"
VDSO = "[vdso]"
# How long a process's map stays trusted for an address it does not cover
# (a library loaded since, an exec): it is read again past that.
MAPS_REFRESH = 1.0
# Bounds on what a long profile remembers (dropped whole, then read again as needed).
_PROCESSES_KEPT = 10_000
_NAMES_KEPT = 200_000
_STACKS_KEPT = 50_000
# An executable line of /proc/PID/maps: start-end, permissions with x, offset,
# major:minor, inode, and the path (the rest of the line, possibly empty).
_MAPS_EXECUTABLE = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) ..x. ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+) *(.*)$", re.M
)
# STT_FUNC and STT_GNU_IFUNC: the symbol types that name code.
_FUNCTION_TYPES = {2, 10}


class SymbolTable(Generic[T]):
    """Sorted (start, end, name) ranges; `name(address)` finds the one holding it.

    A name is whatever the maker keeps: text (the kernel's), or where to
    find it (an ELF file's: the offset in its string table, decoded only
    for the symbols a profile meets).
    """

    def __init__(self, symbols: Iterable[tuple[int, int, T]]) -> None:
        ordered = sorted(symbols)  # tuples of ints and text: compared in C, no key calls
        columns = tuple(zip(*ordered, strict=True)) or ((), (), ())
        self._starts: Sequence[int] = columns[0]
        self._ends: Sequence[int] = columns[1]
        self._names: Sequence[T] = columns[2]

    def __len__(self) -> int:
        return len(self._names)

    def name(self, address: int) -> T | None:
        index = bisect.bisect_right(self._starts, address) - 1
        if index < 0 or address >= self._ends[index]:
            return None
        return self._names[index]


def kernel_symbols(path: str = "/proc/kallsyms") -> SymbolTable[str]:
    """The kernel's text symbols; each covers up to the next one (kallsyms has no sizes).

    Zero addresses (kallsyms seen without CAP_SYSLOG) give an empty table:
    kernel frames then show as ``[unknown]``, never as a wrong name.  The
    file has hundreds of thousands of lines: one regular expression picks
    the text symbols out of it at C speed.
    """
    with open(path, "rb") as kallsyms:
        text = kallsyms.read()
    entries = sorted(
        (
            int(address, 16),
            f"{os.fsdecode(name)} {os.fsdecode(module)}" if module else os.fsdecode(name),
        )
        for address, name, module in _KALLSYMS_TEXT.findall(text)
        if address.strip(b"0")
    )
    ranges = [
        (address, entries[i + 1][0] if i + 1 < len(entries) else address + 1, name)
        for i, (address, name) in enumerate(entries)
    ]
    return SymbolTable(ranges)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One executable file mapping of a process."""

    start: int
    end: int
    offset: int
    path: str
    key: tuple[int, int] | None  # (device, inode); None for an anonymous mapping


@dataclass(slots=True)
class _ElfSymbols:
    """A file's function symbols and the segments that place file offsets at addresses."""

    # Each symbol's name as its offset in `strings`.
    table: SymbolTable[int]
    strings: bytes
    # (file offset, file size, virtual address) of each PT_LOAD segment.
    segments: list[tuple[int, int, int]]

    def name(self, file_offset: int) -> str | None:
        for offset, size, vaddr in self.segments:
            if offset <= file_offset < offset + size:
                found = self.table.name(file_offset - offset + vaddr)
                return None if found is None else _string_at(self.strings, found)
        return None


def read_elf_symbols(path: str) -> _ElfSymbols | None:
    """The function symbols of the ELF file at `path` (see `elf_symbols`); None if the
    file cannot be read or is not ELF."""
    try:
        with open(path, "rb") as handle:
            return elf_symbols(handle)
    except OSError:
        return None


def elf_symbols(handle: BinaryIO) -> _ElfSymbols | None:
    """The function symbols (.symtab, else .dynsym) of an ELF file, or of an image copied
    from memory (the vDSO); None if it is not ELF.

    pyelftools reads the headers (sections, segments, their types and
    links); the symbol entries, tens of thousands in a large binary, are
    unpacked here in one pass over the table (fixed-size Elf32_Sym or
    Elf64_Sym records), which is a hundred times faster than an object per
    symbol, and the names are taken as their bytes.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(handle)
        segments = _load_segments(elf)
        order = "<" if elf.little_endian else ">"
        # (name offset, info, value, size) in the order the class lays them out.
        if elf.elfclass == 64:
            entry, fields = struct.Struct(f"{order}IBBHQQ"), (0, 1, 4, 5)
        else:
            entry, fields = struct.Struct(f"{order}IIIBBH"), (0, 3, 1, 2)
        symbols: list[tuple[int, int, int]] = []
        strings = b""
        for kind in ("SHT_SYMTAB", "SHT_DYNSYM"):
            section = _section_of_type(elf, kind)
            if section is None:
                continue
            strings = elf.get_section(section["sh_link"], type=("SHT_STRTAB",)).data()
            table = section.data()
            table = table[: len(table) - len(table) % entry.size]
            name_at, info_at, value_at, size_at = fields
            for record in entry.iter_unpack(table):
                value = record[value_at]
                if value and record[info_at] & 0xF in _FUNCTION_TYPES:
                    symbols.append((value, value + (record[size_at] or 1), record[name_at]))
            if symbols:
                break
    except (OSError, ELFError, ValueError, KeyError, AttributeError, IndexError, struct.error):
        return None
    return _ElfSymbols(SymbolTable(symbols), strings, segments)


def _load_segments(elf: Any) -> list[tuple[int, int, int]]:
    """(file offset, file size, address) of each PT_LOAD segment, from the program headers
    alone (pyelftools' segment objects would parse the dynamic section's hash table)."""
    from elftools.common.utils import struct_parse

    header = elf.header
    found = []
    for index in range(header["e_phnum"]):
        segment = struct_parse(
            elf.structs.Elf_Phdr,
            elf.stream,
            stream_pos=header["e_phoff"] + index * header["e_phentsize"],
        )
        if segment["p_type"] == "PT_LOAD":
            found.append((segment["p_offset"], segment["p_filesz"], segment["p_vaddr"]))
    return found


def _section_of_type(elf: Any, kind: str) -> Any:
    """The first section of type `kind`, or None.  Only its header is read for any
    other: pyelftools parses some sections whole when it makes their objects (the
    hash tables, as long as the symbol tables), which finding one by name would."""
    from elftools.common.exceptions import ELFError

    for index in range(elf.num_sections()):
        try:
            return elf.get_section(index, type=(kind,))
        except ELFError:
            continue
    return None


def _string_at(strings: bytes, offset: int) -> str:
    end = strings.find(b"\0", offset)
    return os.fsdecode(strings[offset : end if end >= 0 else len(strings)])


def parse_maps(text: str) -> list[Mapping]:
    """The executable mappings of a /proc/PID/maps text.

    One regular expression picks them out: a map has dozens to thousands of
    lines, few executable, and a new process's map is read at its first sample.
    """
    mappings = []
    for start, end, offset, major, minor, inode, path in _MAPS_EXECUTABLE.findall(text):
        key = (os.makedev(int(major, 16), int(minor, 16)), int(inode)) if inode != "0" else None
        mappings.append(Mapping(int(start, 16), int(end, 16), int(offset, 16), path, key))
    return mappings


@dataclass(slots=True)
class _Process:
    image: Image
    mappings: list[Mapping]
    starts: list[int]
    read_at: float
    # The names of the addresses met so far, under this map.
    names: dict[int, str] = field(default_factory=dict)
    # The symbols of each file mapping, by its start: found when the map is read
    # (Symbolizer._open_files), not once per address in it.
    files: dict[int, _ElfSymbols | None] = field(default_factory=dict)
    # Each stack met so far, rendered (see Symbolizer.user_stack).
    stacks: dict[tuple[int, ...], str] = field(default_factory=dict)


# Makes a stack's text from its names, leaf first (the sampler's escape and join).
Render = Callable[[list[str]], str]


class Symbolizer:
    """Names the frames of sampled stacks (see the module).  Not thread-safe.

    Names are remembered per process map (and the kernel's per address), so a
    hot stack costs lookups in a dict.  A map is read again, at most once a
    second, when a stack's leaf (the instruction pointer, always real code)
    falls outside it: a library loaded since, or an exec.  The deeper frames
    of code built without frame pointers are often not code addresses at
    all; they do not make the map read again.

    A map belongs to one image of a process (`Image`): a sample of a later
    one (an exec, a reused pid) reads the map afresh, and a sample of an
    earlier one than its map shows (it arrived after its process exec'd, in
    the same batch as the new program's, see `newest_images`) is not named
    with the new program's symbols: a non-PIE program loads at the addresses
    of the one it replaced, so they would be wrong names, not missing ones.

    `unresolved` counts user stacks of processes whose map could not be read
    (they ended or exec'd before espia got to them): their frames are
    ``[unknown]``.
    """

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        self._kernel: SymbolTable[str] | None = None
        self._kernel_names: dict[int, str] = {}
        self._kernel_stacks: dict[tuple[int, ...], str] = {}
        self._processes: dict[int, _Process] = {}
        self._newest: dict[int, Image] = {}
        # The (pid, image) of each map read since `take_read()`.
        self._read: list[tuple[int, Image]] = []
        self._files: dict[tuple[int, int, int], _ElfSymbols | None] = {}
        self.unresolved = 0

    def kernel(self, addresses: Sequence[int]) -> list[str]:
        """The names of a kernel stack's addresses, leaf first (see `call_sites`)."""
        if self._kernel is None:
            try:
                self._kernel = kernel_symbols(f"{self._proc}/kallsyms")
            except OSError:
                self._kernel = SymbolTable(())
        names = self._kernel_names
        if len(names) > _NAMES_KEPT:
            names.clear()
        found = []
        for address in call_sites(addresses):
            name = names.get(address)
            if name is None:
                name = names[address] = self._kernel.name(address) or UNKNOWN
            found.append(name)
        return found

    def newest_images(self, images: Iterable[tuple[int, Image]]) -> None:
        """The (pid, image) of each sample of the batch about to be named: where a pid
        has several, /proc holds the newest one's map, which names none of the others."""
        newest: dict[int, Image] = {}
        for pid, image in images:
            newest[pid] = max(newest.get(pid, image), image)
        self._newest = newest

    def take_read(self) -> list[tuple[int, Image]]:
        """The (pid, image) of each process map read since the last call."""
        read, self._read = self._read, []
        return read

    def user_stack(self, pid: int, image: Image, addresses: tuple[int, ...], render: Render) -> str:
        """`render` of the names of a user stack of `pid`, leaf first (the leaf is its
        instruction pointer), remembered per process map: a stack met again (most
        samples of a steady process) costs a lookup in a dict, not a lookup, an
        escape and a join per frame."""
        if not addresses:
            return render([])
        process = self._process(pid, image, addresses[0])
        if process is None:
            self.unresolved += 1
            return render([UNKNOWN] * len(addresses))
        text = process.stacks.get(addresses)
        if text is None:
            if len(process.stacks) > _STACKS_KEPT:
                process.stacks.clear()
            text = render(self._user_names(pid, process, addresses))
            process.stacks[addresses] = text
        return text

    def kernel_stack(self, addresses: tuple[int, ...], render: Render) -> str:
        """`render` of `kernel(addresses)`, remembered (the kernel's names do not change)."""
        text = self._kernel_stacks.get(addresses)
        if text is None:
            if len(self._kernel_stacks) > _STACKS_KEPT:
                self._kernel_stacks.clear()
            text = self._kernel_stacks[addresses] = render(self.kernel(addresses))
        return text

    def _user_names(self, pid: int, process: _Process, addresses: Sequence[int]) -> list[str]:
        names = process.names
        found = []
        for address in call_sites(addresses):
            name = names.get(address)
            if name is None:
                name = names[address] = self._user_frame(pid, process, address)
            found.append(name)
        return found

    def _process(self, pid: int, image: Image, leaf: int) -> _Process | None:
        process = self._processes.get(pid)
        if process is not None and process.image != image:
            if image < process.image:
                return None  # a late sample of the program this process replaced
            process = None  # an exec, or another process under a reused pid
        if process is None:
            if image < self._newest.get(pid, image):
                return None  # /proc already shows the program an exec put in its place
            if len(self._processes) > _PROCESSES_KEPT:
                self._processes.clear()  # a long run over many processes: start afresh
            # Ended, or not readable: tried again at its next sample.
            process = self._read_maps(pid, image)
            if process is None:
                self._processes.pop(pid, None)
                return None
            self._processes[pid] = process
            self._read.append((pid, image))
            self._open_files(pid, process)
        elif _find(process, leaf) is None and time.monotonic() - process.read_at > MAPS_REFRESH:
            # A library loaded since.  A process that ended keeps the map it had.
            process.read_at = time.monotonic()
            fresh = self._read_maps(pid, image)
            if fresh is not None:
                process = self._processes[pid] = fresh
                self._open_files(pid, fresh)
        return process

    def _user_frame(self, pid: int, process: _Process, address: int) -> str:
        """The name of a user address; where no symbol covers it, its file
        (``[libc.so.6]``): never the name of a symbol before it, and one frame for all
        of a stripped binary's code, so that its samples add up in one stack (a frame
        per address split a shell's busy loop into a stack per instruction)."""
        mapping = _find(process, address)
        if mapping is None:
            return UNKNOWN
        if mapping.key is not None:
            symbols = process.files.get(mapping.start)  # read with the map (_open_files)
        else:
            # The vDSO is an ELF image in memory; other anonymous code (a JIT's) has none.
            symbols = self._vdso(pid, mapping) if mapping.path == VDSO else None
        offset = address - mapping.start + mapping.offset
        name = symbols.name(offset) if symbols else None
        if name:
            return name
        if mapping.key is None:
            return mapping.path or UNKNOWN  # "[vdso]", "[anon:NAME]", "[heap]"
        return f"[{os.path.basename(mapping.path) or UNKNOWN}]"

    def _open_files(self, pid: int, process: _Process) -> None:
        """The symbols of every file `process` maps, read with its map: the process may
        be gone by its next sample's batch (its first sample in the dynamic loader wakes
        espia, the next ones do not), and its files with it (once per file on the
        machine: they are kept by device and inode)."""
        for mapping in process.mappings:
            if mapping.key is not None:
                process.files[mapping.start] = self._file(pid, mapping)

    def _vdso(self, pid: int, mapping: Mapping) -> _ElfSymbols | None:
        """The vDSO's symbols, read from the process's memory once: every process of
        the kernel maps the same image."""
        key = (-1, mapping.end - mapping.start, 0)
        if key not in self._files:
            try:
                with open(f"{self._proc}/{pid}/mem", "rb") as memory:
                    memory.seek(mapping.start)
                    image = memory.read(mapping.end - mapping.start)
            except OSError:
                return None  # ended: read again for the next process
            self._files[key] = elf_symbols(io.BytesIO(image))
        return self._files[key]

    def _read_maps(self, pid: int, image: Image) -> _Process | None:
        try:
            with open(f"{self._proc}/{pid}/maps") as maps:
                mappings = parse_maps(maps.read())
        except OSError:
            return None
        return _Process(image, mappings, [m.start for m in mappings], time.monotonic())

    def _file(self, pid: int, mapping: Mapping) -> _ElfSymbols | None:
        assert mapping.key is not None
        candidates = (
            f"{self._proc}/{pid}/map_files/{mapping.start:x}-{mapping.end:x}",
            f"{self._proc}/{pid}/root{mapping.path}",
        )
        for path in candidates:
            try:
                info = os.stat(path)
            except OSError:
                continue
            # map_files is the very file mapped; a path may name another one since.
            if path == candidates[1] and (info.st_dev, info.st_ino) != mapping.key:
                return None
            key = (info.st_dev, info.st_ino, info.st_mtime_ns)
            if key not in self._files:
                self._files[key] = read_elf_symbols(path)
            return self._files[key]
        return None


def call_sites(addresses: Sequence[int]) -> Iterator[int]:
    """The addresses to name for a stack, leaf first: the leaf is the interrupted
    instruction, every other frame a return address, the instruction after a call.
    That one may be the first of the next function (a call to a function that never
    returns ends its caller), so the byte before it, inside the call, is named."""
    iterator = iter(addresses)
    yield from itertools.islice(iterator, 1)
    for address in iterator:
        yield address - 1


def _find(process: _Process, address: int) -> Mapping | None:
    index = bisect.bisect_right(process.starts, address) - 1
    if index >= 0 and address < process.mappings[index].end:
        return process.mappings[index]
    return None
