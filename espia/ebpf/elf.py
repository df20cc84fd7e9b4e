"""What an object's programs refer to, read from its ELF relocations.

libbpf resolves a program's references to global variables (``ld_imm64``
instructions) from the relocation sections of its code; those name the
variables each program really reads, which BTF does not tell (a header's
globals are in every object that includes it, read or not).  espia uses it
to check that a gadget reads the in-kernel filters its fields promise.
"""

from __future__ import annotations

import struct
from pathlib import Path

from espia.errors import LoadError

_SHT_SYMTAB = 2
_SHT_REL = 9
_SHF_EXECINSTR = 0x4
_SECTION = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym
_REL = struct.Struct("<QQ")  # Elf64_Rel


def _string(table: bytes, offset: int) -> str:
    return table[offset : table.index(b"\0", offset)].decode("ascii", "replace")


def section(data: bytes, wanted: str) -> bytes | None:
    """The contents of the section called `wanted` of the ELF object `data`, or None.

    Raises LoadError for data that is not a 64-bit little-endian ELF object.
    """
    if data[:4] != b"\x7fELF" or data[4:5] != b"\2" or data[5:6] != b"\1":
        raise LoadError("not a 64-bit little-endian ELF object")
    try:
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        headers = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx]
        for header in headers:
            offset, size = header[4], header[5]
            if _string(data, names[4] + header[0]) == wanted and offset + size <= len(data):
                return data[offset : offset + size]
    except (struct.error, IndexError, ValueError) as exc:
        raise LoadError(f"malformed ELF object ({exc})") from exc
    return None


def code_references(path: Path) -> set[str]:
    """The names of the symbols the executable sections of the object at `path` refer to."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise LoadError(f"read {path}: not a 64-bit little-endian ELF object")
    try:
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
        names: set[str] = set()
        for _, kind, _, _, offset, size, link, info, _, _ in sections:
            if kind != _SHT_REL or not sections[info][2] & _SHF_EXECINSTR:
                continue
            symtab = sections[link]
            if symtab[1] != _SHT_SYMTAB:
                continue
            strtab = sections[symtab[6]]
            strings = data[strtab[4] : strtab[4] + strtab[5]]
            for entry in range(size // _REL.size):
                _, rinfo = _REL.unpack_from(data, offset + entry * _REL.size)
                symbol = _SYMBOL.unpack_from(data, symtab[4] + (rinfo >> 32) * _SYMBOL.size)
                names.add(_string(strings, symbol[0]))
    except (struct.error, IndexError, ValueError) as exc:
        raise LoadError(f"read {path}: malformed ELF object ({exc})") from exc
    return names
