"""Decode: ring-buffer records to Event objects, with a decoder made from BTF.

The decoder is one generated function per gadget: a single
``struct.unpack_from`` for the fixed members, then the conversions their
semantic types ask for (espia.semantic: a comm, a path, a DNS message).  A
trailing char array may be cut short by the program (``gadget_output``
sends only the used length), so it is read from the record's actual length,
not the struct's size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from espia import semantic
from espia._codegen import access, compile_function
from espia.containers.model import NO_CONTAINER
from espia.ebpf.btf import Leaf, Scalar
from espia.errors import EspiaError
from espia.gadget.event import Event
from espia.gadget.fields import Memo
from espia.gadget.schema import EventSchema, attribute, layout_members
from espia.semantic.files import TRUNCATED_MARKER, TRUNCATED_SUFFIX

_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED = {1: "b", 2: "h", 4: "i", 8: "q"}
_STRING_TAILS = {Scalar.CHARS}


def _code(leaf: Leaf) -> str:
    if leaf.scalar in (Scalar.CHARS, Scalar.BYTES):
        return f"{leaf.size}s"
    if leaf.scalar is Scalar.BOOL:
        return "?" if leaf.size == 1 else _UNSIGNED[leaf.size]
    if leaf.scalar is Scalar.SINT:
        return _SIGNED[leaf.size]
    return _UNSIGNED[leaf.size]


def _flag(leaf: Leaf) -> bool:
    """A one-byte member decoded to a bool (a `_truncated` flag): unpacked as one ("?"),
    which saves a call per event."""
    return leaf.size == 1 and semantic.of_leaf(leaf).decode is bool


def _converter(leaf: Leaf, index: int, scope: dict[str, Any]) -> tuple[str, bool]:
    """(the function the raw value of `leaf` goes through, by name; whether it also takes
    the member's truncation flag).  The function goes into `scope`."""
    if _flag(leaf):
        return "", False
    meaning = semantic.of_leaf(leaf)
    if meaning.decode is None:
        meaning = semantic.plain(leaf)  # what its C type is: a string, bytes...
    if meaning.decode is None:
        return "", False
    name = f"_decode{index}"
    if meaning.memo:
        # Values repeat (comms, paths): each is decoded once (a bounded table).
        scope[name] = Memo(meaning.decode)
        return f"{name}[]", False
    scope[name] = meaning.decode
    return name, meaning.truncation


def _call(function: str, args: str) -> str:
    """`function(args)`; a table ("name[]") is subscripted instead: a dict lookup, no call."""
    if function.endswith("[]"):
        return f"{function[:-2]}[{args}]"
    return f"{function}({args})" if function else args


def _packed(leaf: Leaf, at: str, truncation: dict[str, int], scope: dict[str, Any]) -> str:
    """The expression for a packed path of `n` bytes at `at` ("" for none): remembered,
    as paths repeat, unless the kernel cut it (then its decoder marks the cut)."""
    decode = semantic.of_leaf(leaf).decode
    assert decode is not None  # a gadget_path_components member
    scope["_packed_path"], scope["_packed_paths"] = decode, Memo(decode)
    raw = f"buf[{at}:{at} + n]"
    whole = f"_packed_paths[{raw}]"
    if leaf.name in truncation:
        whole = f"(_packed_path({raw}, True) if v[{truncation[leaf.name]}] else {whole})"
    return f'{whole} if n else ""'


def make_decoder(schema: EventSchema) -> Callable[[Any, int, int], Event]:
    """A function (buffer, offset, length) -> Event for `schema`'s records."""
    leaves = list(schema.leaves)
    tail: Leaf | None = None
    if leaves and leaves[-1].scalar in _STRING_TAILS:
        tail = leaves.pop()
    # A path walked in the kernel right before the tail, with a <name>_size member,
    # is packed (types.h): the record holds its used bytes, then the tail.
    names = {leaf.name: i for i, leaf in enumerate(leaves)}
    packed: Leaf | None = None
    last = leaves[-1] if leaves else None
    if tail and last and "gadget_path_components" in last.typedefs and f"{last.name}_size" in names:
        packed = leaves.pop()
    fmt = ["<"]
    position = 0
    for leaf in leaves:
        if leaf.offset < position:
            raise EspiaError(f"decode {schema.spec.title}: overlapping member {leaf.name}")
        fmt.append("x" * (leaf.offset - position))
        fmt.append("?" if _flag(leaf) else _code(leaf))
        position = leaf.offset + leaf.size
    fixed = struct.Struct("".join(fmt))

    # A `<name>_truncated` flag goes to the decoder of `<name>` (espia.semantic.files).
    truncation = {
        leaf.name.removesuffix(TRUNCATED_SUFFIX): i
        for i, leaf in enumerate(leaves)
        if "gadget_truncated" in leaf.typedefs
    }
    scope: dict[str, Any] = {
        "_unpack": fixed.unpack_from,
        "_new": object.__new__,
        "_Event": schema.event_class,
        "_NO_CONTAINER": NO_CONTAINER,
        "_CUT": TRUNCATED_MARKER,
    }
    lines = ["def decode(buf, off, length):"]
    lines.append("    v = _unpack(buf, off)" if leaves else "    v = ()")
    lines.append("    e = _new(_Event)")
    members = [(leaf, f"v[{i}]") for i, leaf in enumerate(leaves)]
    start = f"off + {tail.offset}" if tail is not None else ""
    if packed is not None:
        at = f"off + {packed.offset}"
        lines.append(f"    n = v[{names[packed.name + '_size']}]")
        lines.append(
            f"    {access((attribute(packed.name),))} = {_packed(packed, at, truncation, scope)}"
        )
        start = f"{at} + n"
    if tail is not None:
        members.append((tail, f"buf[{start}:off + length]"))
    layout = layout_members(schema.leaves)
    for i, (leaf, value) in enumerate(members):
        if leaf.name in layout:
            continue  # a length, used above to find the bytes it measures
        convert, takes_truncation = _converter(leaf, i, scope)
        if takes_truncation and leaf.name in truncation:
            value += f", v[{truncation[leaf.name]}]"
        target = access((attribute(leaf.name),))
        lines.append(f"    {target} = {_call(convert, value)}")
        if convert.endswith("[]") and leaf.name in truncation:
            # A remembered value is decoded without the flag: the cut is marked after.
            lines.append(f"    if v[{truncation[leaf.name]}]: {target} += _CUT")
    lines.append("    e.container = _NO_CONTAINER")
    lines.append("    return e")
    source = "\n".join(lines) + "\n"
    return compile_function("decode", source, scope, label=f"{schema.spec.title} decode")
