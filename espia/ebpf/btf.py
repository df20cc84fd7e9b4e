"""BTF, read through libbpf: the types of a gadget's object.

espia never writes an event layout by hand: it asks the object's BTF for the
struct the program emits and flattens it into leaves (name, offset, size,
scalar kind, the typedef names on the way).  The typedef names carry the
meaning (``gadget_mntns_id``, ``gadget_errno``...) that the gadget layer turns
into rendering and enrichment.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum

from espia.ebpf import _libbpf
from espia.errors import LoadError


class Kind(IntEnum):
    """BTF_KIND_* values from the kernel's uapi btf.h."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


_QUALIFIERS = {Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}
_INT_SIGNED = 1
_INT_BOOL = 4


class Scalar(IntEnum):
    """What a leaf of a struct holds, as far as decoding is concerned."""

    UINT = 0
    SINT = 1
    BOOL = 2
    CHARS = 3  # char[N]: a NUL-terminated string
    BYTES = 4  # any other array, or an opaque blob
    ENUM = 5


@dataclass(frozen=True, slots=True)
class Leaf:
    """One scalar field of a flattened struct.

    ``typedefs`` lists the typedef names met while resolving the field's type,
    outermost first, e.g. ``("gadget_comm",)`` for ``gadget_comm comm[16]``.
    """

    name: str
    offset: int
    size: int
    scalar: Scalar
    typedefs: tuple[str, ...]
    enum_values: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class DatasecVar:
    """A global variable's place in a data section (.rodata, .bss)."""

    name: str
    type_id: int
    offset: int
    size: int


class _BtfType(ctypes.Structure):
    _fields_ = (("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32), ("size", ctypes.c_uint32))


class _U32x3(ctypes.Structure):
    _fields_ = (("a", ctypes.c_uint32), ("b", ctypes.c_uint32), ("c", ctypes.c_uint32))


class _U32x2(ctypes.Structure):
    _fields_ = (("a", ctypes.c_uint32), ("b", ctypes.c_int32))


class Btf:
    """A view of a `struct btf` that libbpf owns (an object's, or the kernel's)."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        self._lib = _libbpf.lib()

    def _raw(self, type_id: int) -> tuple[int, _BtfType]:
        address = self._lib.btf__type_by_id(self._handle, type_id)
        if not address:
            raise LoadError(f"read BTF: no type with id {type_id}")
        return address, _BtfType.from_address(address)

    def kind(self, type_id: int) -> Kind:
        return Kind((self._raw(type_id)[1].info >> 24) & 0x1F)

    def name(self, type_id: int) -> str:
        raw = self._raw(type_id)[1]
        return self._string(raw.name_off)

    def _string(self, offset: int) -> str:
        value = self._lib.btf__name_by_offset(self._handle, offset)
        return value.decode() if value else ""

    def find(self, name: str, kind: Kind) -> int | None:
        """The id of the type called `name` of `kind`, or None."""
        type_id = self._lib.btf__find_by_name_kind(self._handle, name.encode(), int(kind))
        return type_id if type_id > 0 else None

    def size(self, type_id: int) -> int:
        return int(self._lib.btf__resolve_size(self._handle, type_id))

    def target(self, type_id: int) -> int:
        """The type a PTR, TYPEDEF, VAR or qualifier refers to."""
        return int(self._raw(type_id)[1].size)

    def skip_qualifiers(self, type_id: int) -> int:
        while self.kind(type_id) in _QUALIFIERS:
            type_id = self.target(type_id)
        return type_id

    def datasec(self, name: str) -> list[DatasecVar]:
        """The variables of data section `name` (".rodata", ".bss"...) with their offsets."""
        sec_id = self.find(name, Kind.DATASEC)
        if sec_id is None:
            return []
        address, raw = self._raw(sec_id)
        entries = (_U32x3 * (raw.info & 0xFFFF)).from_address(address + ctypes.sizeof(_BtfType))
        return [DatasecVar(self.name(e.a), self.target(e.a), e.b, e.c) for e in entries]

    def members(self, type_id: int) -> list[tuple[str, int, int]]:
        """(name, type id, bit offset) of a STRUCT or UNION's members."""
        address, raw = self._raw(type_id)
        kflag = raw.info >> 31
        entries = (_U32x3 * (raw.info & 0xFFFF)).from_address(address + ctypes.sizeof(_BtfType))
        out = []
        for m in entries:
            if kflag and m.c >> 24:
                raise LoadError(
                    f"read BTF: bitfield {self._string(m.a)!r} in "
                    f"{self.name(type_id)!r} is not supported in events"
                )
            out.append((self._string(m.a), m.b, m.c & 0xFFFFFF if kflag else m.c))
        return out

    def flatten(self, type_id: int, prefix: str = "", base: int = 0) -> list[Leaf]:
        """The scalar leaves of a struct, nested structs' names joined with dots."""
        leaves: list[Leaf] = []
        for name, member_type, bit_offset in self.members(type_id):
            if bit_offset % 8:
                raise LoadError(f"read BTF: member {name!r} is not byte-aligned")
            offset = base + bit_offset // 8
            full = f"{prefix}{name}"
            typedefs, resolved = self._strip(member_type)
            kind = self.kind(resolved)
            if kind is Kind.STRUCT and not typedefs:
                leaves.extend(self.flatten(resolved, f"{full}.", offset))
            else:
                leaves.append(self._leaf(full, offset, member_type, typedefs, resolved))
        return leaves

    def leaf(self, name: str, type_id: int) -> Leaf:
        """What a variable of type `type_id` holds, as a leaf at offset 0 (a parameter)."""
        typedefs, resolved = self._strip(type_id)
        return self._leaf(name, 0, type_id, typedefs, resolved)

    def _strip(self, type_id: int) -> tuple[tuple[str, ...], int]:
        """Follows typedefs and qualifiers, collecting the typedef names."""
        names: list[str] = []
        while True:
            kind = self.kind(type_id)
            if kind is Kind.TYPEDEF:
                names.append(self.name(type_id))
            elif kind not in _QUALIFIERS:
                return tuple(names), type_id
            type_id = self.target(type_id)

    def _leaf(
        self, name: str, offset: int, type_id: int, typedefs: tuple[str, ...], resolved: int
    ) -> Leaf:
        size = self.size(type_id)
        kind = self.kind(resolved)
        if kind is Kind.INT:
            encoding = ctypes.c_uint32.from_address(self._raw(resolved)[0] + 12).value >> 24
            if encoding & _INT_BOOL:
                scalar = Scalar.BOOL
            else:
                scalar = Scalar.SINT if encoding & _INT_SIGNED else Scalar.UINT
            return Leaf(name, offset, size, scalar, typedefs)
        if kind in (Kind.ENUM, Kind.ENUM64):
            return Leaf(name, offset, size, Scalar.ENUM, typedefs, self.enum_values(resolved))
        if kind is Kind.ARRAY:
            address = self._raw(resolved)[0] + ctypes.sizeof(_BtfType)
            element = _U32x3.from_address(address).a
            element_typedefs, element_resolved = self._strip(element)
            if self.kind(element_resolved) is Kind.INT and self.size(element_resolved) == 1:
                return Leaf(name, offset, size, Scalar.CHARS, typedefs + element_typedefs)
            return Leaf(name, offset, size, Scalar.BYTES, typedefs + element_typedefs)
        if kind is Kind.PTR:
            return Leaf(name, offset, size, Scalar.UINT, typedefs)
        return Leaf(name, offset, size, Scalar.BYTES, typedefs)

    def enum_values(self, type_id: int) -> tuple[tuple[str, int], ...]:
        address, raw = self._raw(type_id)
        start = address + ctypes.sizeof(_BtfType)
        count = raw.info & 0xFFFF
        if self.kind(type_id) is Kind.ENUM:
            pairs = (_U32x2 * count).from_address(start)
            return tuple((self._string(p.a), p.b) for p in pairs)
        triples = (_U32x3 * count).from_address(start)
        return tuple((self._string(t.a), t.b | (t.c << 32)) for t in triples)
