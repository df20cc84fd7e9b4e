"""A check of an object's raw BTF before libbpf parses it.

A gadget may come from elsewhere (a user's object), and its BTF is input
like any other.  The libbpf this runs on (1.1, Debian 12's) trusts the type
ids a struct's members name: one out of range crashes it inside
bpf_object__open_file (the fuzzer found it: tests/fuzz/test_fuzz_btf.py).
espia also walks typedefs, qualifiers, arrays and nested structs itself, so
a cycle among those (not through a pointer, where cycles are normal) would
never end.  So before libbpf sees the object, its .BTF section is checked:
a header within the section, known kinds, records and names within their
sections, every type id it refers to defined, no cycle but through pointers.
"""

from __future__ import annotations

import struct

from espia.errors import LoadError

_HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type_off/len, str_off/len
_TYPE = struct.Struct("<III")  # name_off, info, size or type
_MAGIC = 0xEB9F
_ENTRY = struct.Struct("<III")
_PAIR = struct.Struct("<II")

# Kinds (uapi btf.h) by what follows their 12-byte record, per vlen entry or once.
_PTR, _ARRAY, _STRUCT, _UNION, _ENUM = 2, 3, 4, 5, 6
_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO = 8, 9, 10, 11, 12, 13
_VAR, _DATASEC, _DECL_TAG, _TYPE_TAG, _ENUM64 = 14, 15, 17, 18, 19
_MAX_KIND = 19
# Kinds whose third word is a type id (the others: a size, or nothing).
_REFERS = {_PTR, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR}
_REFERS |= {_DECL_TAG, _TYPE_TAG}
# Edges espia follows without a pointer in between: a cycle through them never ends.
_WALKED = {_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG}


def _extra(kind: int, vlen: int) -> int:
    """Bytes after the record of a type of `kind` with `vlen` entries."""
    if kind in (_STRUCT, _UNION, _DATASEC, _ENUM64):
        return 12 * vlen
    if kind in (_ENUM, _FUNC_PROTO):
        return 8 * vlen
    if kind == _ARRAY:
        return 12
    if kind in (1, _VAR, _DECL_TAG):  # INT's encoding, VAR's linkage, DECL_TAG's index
        return 4
    return 0


def check_btf(section: bytes, source: str) -> None:
    """Raises LoadError, naming `source`, unless the raw .BTF `section` is sound (see module)."""
    try:
        _check(section)
    except (struct.error, ValueError) as exc:
        raise LoadError(f"read {source}: malformed BTF ({exc})") from None


def _check(section: bytes) -> None:
    magic, _, _, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(section)
    if magic != _MAGIC or hdr_len < _HEADER.size:
        raise ValueError("bad header")
    types_at, strings_at = hdr_len + type_off, hdr_len + str_off
    if types_at + type_len > len(section) or strings_at + str_len > len(section):
        raise ValueError("sections beyond the data")
    strings = section[strings_at : strings_at + str_len]
    if not strings or strings[0] != 0 or strings[-1] != 0:
        raise ValueError("string section not NUL-delimited")
    refs: list[list[int]] = [[]]  # type 0 is void
    walked: list[list[int]] = [[]]
    names: list[int] = []
    at, end = types_at, types_at + type_len
    while at < end:
        name_off, info, size_or_type = _TYPE.unpack_from(section, at)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if not 0 < kind <= _MAX_KIND:
            raise ValueError(f"unknown kind {kind} of type {len(refs)}")
        extra = _extra(kind, vlen)
        if at + _TYPE.size + extra > end:
            raise ValueError(f"type {len(refs)} runs past the type section")
        names.append(name_off)
        body = at + _TYPE.size
        mine = [size_or_type] if kind in _REFERS else []
        follow = list(mine) if kind in _WALKED else []
        if kind == _ARRAY:
            element, index, _ = _ENTRY.unpack_from(section, body)
            mine += [element, index]
            follow.append(element)
        elif kind in (_STRUCT, _UNION, _DATASEC):
            for i in range(vlen):
                name, member, _ = _ENTRY.unpack_from(section, body + 12 * i)
                if kind != _DATASEC:
                    names.append(name)
                mine.append(member)
                follow.append(member)
        elif kind == _FUNC_PROTO:
            for i in range(vlen):
                name, param = _PAIR.unpack_from(section, body + 8 * i)
                names.append(name)
                mine.append(param)
        elif kind in (_ENUM, _ENUM64):
            step = 8 if kind == _ENUM else 12
            names.extend(_PAIR.unpack_from(section, body + step * i)[0] for i in range(vlen))
        refs.append(mine)
        walked.append(follow)
        at = body + extra
    count = len(refs)
    for type_id, targets in enumerate(refs):
        for target in targets:
            if target >= count:
                raise ValueError(f"type {type_id} refers to type {target}, of {count - 1}")
    if any(name >= str_len for name in names):
        raise ValueError("a name beyond the string section")
    _acyclic(walked)


def _acyclic(edges: list[list[int]]) -> None:
    """Raises ValueError if the graph of `edges` (by type id) has a cycle."""
    state = [0] * len(edges)  # 0 unseen, 1 on the path, 2 done
    for root in range(len(edges)):
        if state[root]:
            continue
        stack = [(root, iter(edges[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state[child] == 1:
                raise ValueError(f"type {child} contains itself")
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(edges[child])))
